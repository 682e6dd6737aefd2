"""The ``+lead_lag`` variant: the baseline quoting around a fair value its leader moves, pulled for a hold time after
the leader's sharp moves (:mod:`quoting.core.lead_lag_shift`). The lead-lag is the significant Hayashi-Yoshida lead
(Hayashi & Yoshida 2005; :func:`calibration.lead_lag.fit_lead_lag`) of the coin's leaders on the last hours of the
train window; :func:`fit_leader_shift` is shared with the candidate. Times UTC epoch ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from calibration.lead_lag import NoLeadLag, fit_lead_lag
from data_lake.units import HOUR_MS
from quoting.core.lead_lag_shift import LeadLagShift, leader_log_returns
from validation.experiments.train_estimates import _base, _mids, _single_regime, _window, ewma_sigma
from validation.experiments.variant_types import LEADER_MIDS, FittedVariant, Market, VariantConfig

LEAD_LAG = "+lead_lag"


@dataclass(frozen=True)
class LeaderFit:
    """The lead-lag a train window supports: the shift to quote with and its figures (``lead_lag_*``)."""

    shift: LeadLagShift
    params: dict[str, float]


def fit_leader_shift(train: Market, config: VariantConfig, end_ms: int) -> LeaderFit:
    """On the last ``lead_lag_fit_hours`` before ``end_ms`` every leader in ``leader_mids`` is fitted
    (:func:`calibration.lead_lag.fit_lead_lag`) and the significant lead with the smallest p-value (then the largest
    |HY correlation|) kept: its lag and beta shift the fair value (:mod:`quoting.core.lead_lag_shift`), and the standard
    deviation of its log return over that lag on the same hours (sampled every lag) sets the sharp move that pulls
    the quotes (``lead_lag_pull_k`` of them, held ``lead_lag_hold_ms``). Raises :class:`NoLeadLag` without leader
    mids or without a significant lead. Shared by the ``+lead_lag`` variant and the candidate."""
    leaders = train.get(LEADER_MIDS)
    if leaders is None or leaders.height == 0:
        raise NoLeadLag("no leader mids in the train window (no leader configured for this coin, or none captured)")
    window = (max(end_ms - round(config.lead_lag_fit_hours * HOUR_MS), _window(train)[0]), end_ms)
    follower = _mids(train).select("time", "mid")
    by_leader = {
        str(name): frame.select("time", "mid").sort("time")
        for (name,), frame in leaders.partition_by("leader", as_dict=True, maintain_order=True).items()
    }
    fits = {name: fit_lead_lag(frame, follower, window, config.lead_lag) for name, frame in by_leader.items()}
    usable = {name: result.fit for name, result in fits.items() if result.ok}
    if not usable:
        raise NoLeadLag(
            "no significant lead on the train window: "
            + "; ".join(f"{name}: {result.reason}" for name, result in sorted(fits.items()))
        )
    leader, fit = min(
        usable.items(), key=lambda item: (item[1].goodness_of_fit["p_value"], -abs(item[1].estimates["hy_corr"]))
    )
    lag_ms = int(fit.estimates["lag_ms"])
    mids = by_leader[leader]
    grid = np.arange(window[0] + lag_ms, window[1], lag_ms, dtype=np.int64)
    returns = leader_log_returns(mids["time"].to_numpy(), mids["mid"].to_numpy(), grid, lag_ms, LeadLagShift.max_age_ms)
    finite = returns[np.isfinite(returns)]
    move_sd = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    shift = LeadLagShift(
        leader=leader,
        lag_ms=lag_ms,
        beta=fit.estimates["beta"],
        move_sd=move_sd,
        pull_k=config.lead_lag_pull_k,
        hold_ms=config.lead_lag_hold_ms,
    )
    return LeaderFit(
        shift,
        {
            "lead_lag_lag_ms": fit.estimates["lag_ms"],
            "lead_lag_lag_se_ms": fit.std_errors["lag_ms"],
            "lead_lag_beta": fit.estimates["beta"],
            "lead_lag_beta_se": fit.std_errors["beta"],
            "lead_lag_hy_corr": fit.estimates["hy_corr"],
            "lead_lag_p_value": fit.goodness_of_fit["p_value"],
            "lead_lag_move_sd": move_sd,
            "lead_lag_pull_threshold": shift.pull_threshold if math.isfinite(shift.pull_threshold) else math.nan,
            "lead_lag_leaders_fitted": float(len(fits)),
        },
    )


def fit_lead_lag_shift(train: Market, config: VariantConfig) -> FittedVariant:
    """Baseline quoting around a fair value its leader moves, pulled on its sharp moves (:func:`fit_leader_shift` on
    the train window). Raises :class:`NoLeadLag` where the component cannot be built."""
    base = _base(train, config, ewma_sigma)
    leader = fit_leader_shift(train, config, base.end_ms)
    plain = _single_regime(LEAD_LAG, base, train, config)
    return replace(plain, policy=replace(plain.policy, lead_lag=leader.shift), params=plain.params | leader.params)
