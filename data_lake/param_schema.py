"""The parameter-set document: its schema, range checks, content-hash id and JSON form.

A parameter set holds everything the quoter needs for one coin plus the evidence that let it through the
promotion gate. Document (JSON object, schema version :data:`SCHEMA_VERSION`)::

    schema_version   int, = SCHEMA_VERSION
    param_set_id     str, first 16 hex digits of the SHA-256 of the canonical content (every key but this
                     one and created_at_ms), so the same fit on the same window gets the same id
    coin             str, Hyperliquid coin name
    created_at_ms    int, UTC epoch ms
    training_window  {"start_ms": int, "end_ms": int}, the half-open window [start, end) the fits used (times,
                     like created_at_ms, before 2100-01-01: an absurd end would let a set escape staleness)
    code_version     str
    parameters       see :class:`Parameters` (every key required but the optional ones, :data:`OPTIONAL_KEYS`;
                     no others)
    evidence         JSON object written by the pipeline (validation.decisions.promotion_gate.build_evidence)

Units: kappa per price unit, A (``arrival_rate``) fills per second per side at zero depth, sigma price units
per sqrt(second), gamma per unit of quote currency, sizes in base units, the loss limit in quote currency,
spreads and fees in bps of mid. Non-finite numbers in the evidence are stored as null.

Adverse selection is ``calibration.markouts``' ``adverse_selection_bps = max(-markout_5000ms_bps, 0)`` of a maker
fill (markouts are positive when favourable to the filled party, so a positive value is a cost: the mid moved
against the maker within 5 s), the same figure the nightly calibration scores the quoter's ``pred_adverse_bps``
against. Sets written before the field existed omit it and load with ``None`` ("unknown": the quoter then logs a
null prediction); their content hash is unchanged. A present field must be complete and in range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

SCHEMA_VERSION = 1
KAPPA_UNIT = "1/px"
ARRIVAL_RATE_UNIT = "1/s per side"
SIGMA_UNIT = "px/sqrt(s)"
HMM_KEYS = (
    "state_names",
    "feature_names",
    "feature_mean",
    "feature_scale",
    "startprob",
    "transmat",
    "means",
    "variances",
)
"""Keys of ``calibration.regimes.RegimeParams.to_dict``, the form the quoter's causal filter reads."""
MAX_ABS_ADVERSE_BPS = 500.0
"""Largest |expected adverse selection| a set may carry, bps: beyond it the markouts are broken, not the market."""
MAX_SZ_DECIMALS = {False: 6, True: 8}
"""Largest szDecimals of a perp / spot asset (quoting.core.exchange_rules)."""
OPTIONAL_KEYS = (
    "adverse_selection_bps_by_regime",
    "quote_by_regime",
    "fill_probability",
    "adverse_cost_bps_by_regime",
    "sigma_by_regime",
    "lead_lag",
    "requote_interval_ms",
    "hawkes_intensity",
)
"""Keys added after the first sets were written: absent in those, which keep their content hash."""
MAX_ABS_LOG_REACH_INTENSITY = 50.0
"""Largest |log cumulated reach intensity| a set may carry at a knot."""
MAX_ABS_LEAD_LAG_BETA = 10.0
"""Largest |lead-lag response| a set may carry: beyond it the fit is broken, not the market."""
_TOP_KEYS = (
    "schema_version",
    "param_set_id",
    "coin",
    "created_at_ms",
    "training_window",
    "code_version",
    "parameters",
    "evidence",
)
_ID_HEX = 16
PARAM_SET_ID_PATTERN = re.compile(rf"[0-9a-f]{{{_ID_HEX}}}")
"""A set id is the content hash's first 16 lowercase hex digits: nothing else (no path separators, no ``..``)
may name a stored file."""
MAX_TIME_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z: a time at or past it is not a real training window or creation time, whatever it claims."""
_T = TypeVar("_T")


class InvalidParameterSet(ValueError):
    """A parameter set that must not be used: bad schema, a value out of range, or content that fails its hash."""


def _fail(where: str, problem: str) -> InvalidParameterSet:
    return InvalidParameterSet(f"{where}: {problem}")


def check_param_set_id(param_set_id: str) -> str:
    """``param_set_id`` if it has the form of a set id (:data:`PARAM_SET_ID_PATTERN`), else InvalidParameterSet."""
    if not isinstance(param_set_id, str) or not PARAM_SET_ID_PATTERN.fullmatch(param_set_id):
        raise InvalidParameterSet(f"{param_set_id!r} is not a parameter set id ({_ID_HEX} lowercase hex digits)")
    return param_set_id


def _real(x: Any, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise _fail(where, f"expected a number, got {type(x).__name__}")
    if not math.isfinite(x):
        raise _fail(where, f"must be finite, got {x!r}")
    return float(x)


def _positive(x: Any, where: str) -> float:
    value = _real(x, where)
    if not value > 0:
        raise _fail(where, f"must be > 0, got {value!r}")
    return value


def _non_negative(x: Any, where: str) -> float:
    value = _real(x, where)
    if value < 0:
        raise _fail(where, f"must be >= 0, got {value!r}")
    return value


def _integer(x: Any, where: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise _fail(where, f"expected an integer, got {type(x).__name__}")
    return int(x)


def _time_ms(x: Any, where: str) -> int:
    """A UTC epoch-ms time before :data:`MAX_TIME_MS` (an absurd time would let a set opt out of staleness)."""
    t = _integer(x, where)
    if not t < MAX_TIME_MS:
        raise _fail(where, f"{t} ms is at or after 2100-01-01, not a real time")
    return t


def _text(x: Any, where: str) -> str:
    if not isinstance(x, str) or not x:
        raise _fail(where, f"expected a non-empty string, got {x!r}")
    return x


def _keys(d: Any, expected: tuple[str, ...], where: str, optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise _fail(where, f"expected an object, got {type(d).__name__}")
    missing = [k for k in expected if k not in d and k not in optional]
    if missing:
        raise _fail(f"{where}.{missing[0]}", "missing")
    unknown = sorted(set(d) - set(expected))
    if unknown:
        raise _fail(where, f"unknown keys {unknown}")
    return d


def _array(x: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(where, "expected numbers") from None
    if arr.shape != shape:
        raise _fail(where, f"expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise _fail(where, "must be finite")
    return arr


def _hmm(d: Any, where: str) -> dict[str, Any]:
    """Check a RegimeParams.to_dict() form: K states, d features, stochastic start and transition matrix."""
    d = _keys(d, HMM_KEYS, where)
    names = d["state_names"]
    feats = d["feature_names"]
    for key, seq in (("state_names", names), ("feature_names", feats)):
        if not isinstance(seq, list) or not seq or len(set(seq)) != len(seq):
            raise _fail(f"{where}.{key}", "expected a non-empty list of distinct names")
        for i, name in enumerate(seq):
            _text(name, f"{where}.{key}[{i}]")
    k, n_feat = len(names), len(feats)
    arrays = {
        "feature_mean": _array(d["feature_mean"], (n_feat,), f"{where}.feature_mean"),
        "feature_scale": _array(d["feature_scale"], (n_feat,), f"{where}.feature_scale"),
        "startprob": _array(d["startprob"], (k,), f"{where}.startprob"),
        "transmat": _array(d["transmat"], (k, k), f"{where}.transmat"),
        "means": _array(d["means"], (k, n_feat), f"{where}.means"),
        "variances": _array(d["variances"], (k, n_feat), f"{where}.variances"),
    }
    for key in ("feature_scale", "variances"):
        if np.any(arrays[key] <= 0):
            raise _fail(f"{where}.{key}", "must be > 0")
    for key in ("startprob", "transmat"):
        probs = arrays[key]
        if np.any(probs < 0) or not np.allclose(probs.sum(axis=-1), 1.0, atol=1e-6):
            raise _fail(f"{where}.{key}", "must be probabilities summing to 1 (per row)")
    return {"state_names": list(names), "feature_names": list(feats), **{k_: a.tolist() for k_, a in arrays.items()}}


@dataclass(frozen=True)
class Estimate:
    """A fitted value with its standard error and unit."""

    value: float
    se: float
    unit: str


def _estimate(x: Any, unit: str, where: str) -> Estimate:
    d = _keys(x, ("value", "se", "unit"), where)
    if d["unit"] != unit:
        raise _fail(f"{where}.unit", f"expected {unit!r}, got {d['unit']!r}")
    return Estimate(_positive(d["value"], f"{where}.value"), _non_negative(d["se"], f"{where}.se"), unit)


@dataclass(frozen=True)
class SampleMean:
    """A mean of ``n`` observations with its (autocorrelation-robust) standard error, in the field's unit."""

    value: float
    se: float
    n: int


def _adverse(x: Any, where: str) -> SampleMean:
    d = _keys(x, ("value", "se", "n"), where)
    value = _real(d["value"], f"{where}.value")
    if not abs(value) < MAX_ABS_ADVERSE_BPS:
        raise _fail(f"{where}.value", f"|{value!r}| bps is not below {MAX_ABS_ADVERSE_BPS:g}")
    n = _integer(d["n"], f"{where}.n")
    if n < 0:
        raise _fail(f"{where}.n", f"must be >= 0, got {n}")
    return SampleMean(value, _non_negative(d["se"], f"{where}.se"), n)


@dataclass(frozen=True)
class FillProbabilityParams:
    """Per-regime reach curves of quotes at a fixed price (:mod:`quoting.core.fill_prediction`): ``P(reached) = 1 -
    exp(-exp(g(d)))``, g interpolating each regime's ``log_intensity`` at ``depth_knots_bps``, for prints within
    ``horizon_ms`` after the order is live, ``latency_ms`` after the decision."""

    horizon_ms: int
    latency_ms: int
    depth_knots_bps: list[float]
    log_intensity_by_regime: dict[str, list[float]]


def _log_intensities(x: Any, n_knots: int, where: str) -> list[float]:
    values = _array(x, (n_knots,), where)
    if np.any(np.abs(values) > MAX_ABS_LOG_REACH_INTENSITY):
        raise _fail(where, f"|value| above {MAX_ABS_LOG_REACH_INTENSITY:g}")
    return values.tolist()


def _fill_probability(x: Any, regimes: list[str], where: str) -> FillProbabilityParams:
    d = _keys(x, ("horizon_ms", "latency_ms", "depth_knots_bps", "log_intensity_by_regime"), where)
    horizon, latency = (
        _integer(d["horizon_ms"], f"{where}.horizon_ms"),
        _integer(d["latency_ms"], f"{where}.latency_ms"),
    )
    if horizon <= 0 or latency < 0:
        raise _fail(where, f"need horizon_ms > 0 and latency_ms >= 0, got {horizon} and {latency}")
    knots = d["depth_knots_bps"]
    n = len(knots) if isinstance(knots, list) else 0
    knot_values = _array(knots, (max(n, 2),), f"{where}.depth_knots_bps")
    if not np.all(np.diff(knot_values) > 0):
        raise _fail(f"{where}.depth_knots_bps", "need at least two increasing depths")
    values = _per_regime(
        d["log_intensity_by_regime"],
        regimes,
        lambda v, w: _log_intensities(v, n, w),
        f"{where}.log_intensity_by_regime",
    )
    return FillProbabilityParams(horizon, latency, knot_values.tolist(), values)


@dataclass(frozen=True)
class LeadLagParams:
    """The leader whose recent move shifts the quote's fair value (:mod:`quoting.core.lead_lag_shift`): the follower
    shows a leader log move ``lag_ms`` later, times ``beta`` (``beta_se`` its standard error)."""

    leader: str
    lag_ms: int
    beta: float
    beta_se: float
    move_sd: float | None = None
    """Standard deviation of the leader's log return over ``lag_ms`` on the training window; with ``pull_k`` and
    ``hold_ms`` the protective pull on sharp leader moves. None (keys absent, older sets): no such pull."""
    pull_k: float | None = None
    hold_ms: int | None = None


LEAD_LAG_PULL_KEYS = ("move_sd", "pull_k", "hold_ms")
"""Keys of the lead-lag's protective pull: all present or all absent."""


def _lead_lag(x: Any, coin: Any, where: str) -> LeadLagParams:
    d = _keys(x, ("leader", "lag_ms", "beta", "beta_se", *LEAD_LAG_PULL_KEYS), where, optional=LEAD_LAG_PULL_KEYS)
    leader = _text(d["leader"], f"{where}.leader")
    if leader == coin:
        raise _fail(f"{where}.leader", f"{leader!r} cannot lead itself")
    lag = _integer(d["lag_ms"], f"{where}.lag_ms")
    if lag <= 0:
        raise _fail(f"{where}.lag_ms", f"must be > 0 (the leader moves first), got {lag}")
    beta = _real(d["beta"], f"{where}.beta")
    if not abs(beta) <= MAX_ABS_LEAD_LAG_BETA:
        raise _fail(f"{where}.beta", f"|{beta!r}| is above {MAX_ABS_LEAD_LAG_BETA:g}")
    beta_se = _non_negative(d["beta_se"], f"{where}.beta_se")
    present = [k for k in LEAD_LAG_PULL_KEYS if k in d]
    if not present:
        return LeadLagParams(leader, lag, beta, beta_se)
    if len(present) != len(LEAD_LAG_PULL_KEYS):
        missing = next(k for k in LEAD_LAG_PULL_KEYS if k not in d)
        raise _fail(f"{where}.{missing}", f"missing (the pull needs all of {list(LEAD_LAG_PULL_KEYS)})")
    hold = _integer(d["hold_ms"], f"{where}.hold_ms")
    if hold < 0:
        raise _fail(f"{where}.hold_ms", f"must be >= 0, got {hold}")
    return LeadLagParams(
        leader,
        lag,
        beta,
        beta_se,
        _non_negative(d["move_sd"], f"{where}.move_sd"),
        _positive(d["pull_k"], f"{where}.pull_k"),
        hold,
    )


@dataclass(frozen=True)
class HawkesIntensityParams:
    """The taker-order Hawkes process whose intensity scales A (:mod:`quoting.core.hawkes_intensity`), per second."""

    mu: float
    alpha: float
    beta: float


def _hawkes_intensity(x: Any, where: str) -> HawkesIntensityParams:
    d = _keys(x, ("mu", "alpha", "beta"), where)
    mu, alpha, beta = (
        _positive(d["mu"], f"{where}.mu"),
        _non_negative(d["alpha"], f"{where}.alpha"),
        _positive(d["beta"], f"{where}.beta"),
    )
    if not alpha < beta:
        raise _fail(f"{where}.alpha", f"{alpha} is not below beta {beta} (a non-stationary process)")
    return HawkesIntensityParams(mu, alpha, beta)


MAX_REQUOTE_INTERVAL_MS = 3_600_000
"""Longest requote interval a set may carry: an hour between decisions is not market making."""


def _requote_interval(x: Any, where: str) -> int:
    interval = _integer(x, where)
    if not 0 <= interval <= MAX_REQUOTE_INTERVAL_MS:
        raise _fail(where, f"must be in [0, {MAX_REQUOTE_INTERVAL_MS}] ms, got {interval}")
    return interval


def _flag(x: Any, where: str) -> bool:
    if not isinstance(x, bool):
        raise _fail(where, f"expected true or false, got {x!r}")
    return x


def _per_regime(x: Any, regimes: list[str], check: Callable[[Any, str], _T], where: str) -> dict[str, _T]:
    if not isinstance(x, Mapping) or sorted(x) != sorted(regimes):
        raise _fail(where, f"expected one value per HMM state {regimes}, got {x!r}")
    return {r: check(x[r], f"{where}.{r}") for r in regimes}


@dataclass(frozen=True, eq=False)
class Parameters:
    """Everything the quoter reads: GLFT inputs, the regime HMM, floors, fee, size, limits and exchange rules.

    Construct with :meth:`from_dict`, which checks every key and range (field names are the JSON keys).
    """

    gamma_per_quote_by_regime: dict[str, float]
    """CARA risk aversion per HMM state, per unit of quote currency (> 0)."""
    min_spread_bps_by_regime: dict[str, float]
    """Floor on the full GLFT spread per HMM state, bps of mid (>= 0)."""
    kappa: Estimate
    """Fill-intensity decay, per price unit (> 0)."""
    arrival_rate: Estimate
    """A, fills per second per side at zero depth (> 0)."""
    sigma: Estimate
    """Mid volatility, price units per sqrt(second) (> 0)."""
    hmm: dict[str, Any]
    """RegimeParams.to_dict() of the regime HMM the quoter filters with."""
    maker_fee_bps: float
    """Maker fee per side, bps of notional (negative = rebate)."""
    order_size_base: float
    position_limit_base: float
    """Largest |inventory|, base units (>= order size)."""
    daily_loss_limit_quote: float
    sz_decimals: int
    is_spot: bool
    cascade_threshold: float
    """Pull both sides when P(cascade) exceeds this, in (0, 1]."""
    kappa_se_mult: float
    """k in gamma * (1 + k * se(kappa) / kappa), >= 0."""
    adverse_selection_bps_by_regime: dict[str, SampleMean] | None = None
    """Per HMM state, the mean ``max(-markout_5s, 0)`` of maker fills, bps (> 0 = cost, |value| < 500); None
    (key absent) for sets written before the field existed."""
    quote_by_regime: dict[str, bool] | None = None
    """Per HMM state, whether the policy quotes there (the training window's net edge said so); None (key absent,
    older sets): every state but one named ``cascade``."""
    fill_probability: FillProbabilityParams | None = None
    """Reach curves the quoter predicts its fill probability with; None (key absent, older sets): no prediction."""
    sigma_by_regime: dict[str, Estimate] | None = None
    """Per HMM state, the mid volatility quoted with (blended by the belief), price units per sqrt(second); None
    (key absent, older sets): ``sigma`` in every state."""
    adverse_cost_bps_by_regime: dict[str, SampleMean] | None = None
    """Per HMM state, the expected move of the mid against a maker fill within 5 s (mean ``-markout_5s``, bps,
    >= 0), priced into the quote as a per-fill cost beside the fee; None (key absent, older sets): not priced."""
    lead_lag: LeadLagParams | None = None
    """The leader, lag and response that shift the fair value; None (key absent): quote around the mid."""
    requote_interval_ms: int | None = None
    """Least time between two quoting decisions the set was validated with, ms (the backtest's ``requote_ms``);
    None (key absent, older sets): the quoter's default (:data:`quoting.core.policy_inputs.REQUOTE_INTERVAL_MS`)."""
    hawkes_intensity: HawkesIntensityParams | None = None
    """The taker-order Hawkes process whose intensity scales A; None (key absent): A as fitted."""

    @classmethod
    def from_dict(cls, d: Any, coin: str | None = None) -> Parameters:
        """Check and type the ``parameters`` object of a set of ``coin`` (which its leader, if any, must differ
        from)."""
        where = "parameters"
        keys = tuple(f.name for f in dataclasses.fields(cls))
        d = _keys(d, keys, where, optional=OPTIONAL_KEYS)
        hmm = _hmm(d["hmm"], f"{where}.hmm")
        regimes = hmm["state_names"]
        order_size = _positive(d["order_size_base"], f"{where}.order_size_base")
        position_limit = _positive(d["position_limit_base"], f"{where}.position_limit_base")
        if position_limit < order_size:
            raise _fail(f"{where}.position_limit_base", f"{position_limit} is below the order size {order_size}")
        if not isinstance(d["is_spot"], bool):
            raise _fail(f"{where}.is_spot", f"expected true or false, got {d['is_spot']!r}")
        sz_decimals = _integer(d["sz_decimals"], f"{where}.sz_decimals")
        if not 0 <= sz_decimals <= MAX_SZ_DECIMALS[d["is_spot"]]:
            raise _fail(f"{where}.sz_decimals", f"{sz_decimals} outside [0, {MAX_SZ_DECIMALS[d['is_spot']]}]")
        threshold = _positive(d["cascade_threshold"], f"{where}.cascade_threshold")
        if threshold > 1:
            raise _fail(f"{where}.cascade_threshold", f"must be a probability in (0, 1], got {threshold}")
        return cls(
            gamma_per_quote_by_regime=_per_regime(
                d["gamma_per_quote_by_regime"], regimes, _positive, f"{where}.gamma_per_quote_by_regime"
            ),
            min_spread_bps_by_regime=_per_regime(
                d["min_spread_bps_by_regime"], regimes, _non_negative, f"{where}.min_spread_bps_by_regime"
            ),
            kappa=_estimate(d["kappa"], KAPPA_UNIT, f"{where}.kappa"),
            arrival_rate=_estimate(d["arrival_rate"], ARRIVAL_RATE_UNIT, f"{where}.arrival_rate"),
            sigma=_estimate(d["sigma"], SIGMA_UNIT, f"{where}.sigma"),
            hmm=hmm,
            maker_fee_bps=_real(d["maker_fee_bps"], f"{where}.maker_fee_bps"),
            order_size_base=order_size,
            position_limit_base=position_limit,
            daily_loss_limit_quote=_positive(d["daily_loss_limit_quote"], f"{where}.daily_loss_limit_quote"),
            sz_decimals=sz_decimals,
            is_spot=d["is_spot"],
            cascade_threshold=threshold,
            kappa_se_mult=_non_negative(d["kappa_se_mult"], f"{where}.kappa_se_mult"),
            adverse_selection_bps_by_regime=None
            if "adverse_selection_bps_by_regime" not in d
            else _per_regime(
                d["adverse_selection_bps_by_regime"], regimes, _adverse, f"{where}.adverse_selection_bps_by_regime"
            ),
            quote_by_regime=None
            if "quote_by_regime" not in d
            else _per_regime(d["quote_by_regime"], regimes, _flag, f"{where}.quote_by_regime"),
            fill_probability=None
            if "fill_probability" not in d
            else _fill_probability(d["fill_probability"], regimes, f"{where}.fill_probability"),
            sigma_by_regime=None
            if "sigma_by_regime" not in d
            else _per_regime(
                d["sigma_by_regime"], regimes, lambda x, w: _estimate(x, SIGMA_UNIT, w), f"{where}.sigma_by_regime"
            ),
            adverse_cost_bps_by_regime=None
            if "adverse_cost_bps_by_regime" not in d
            else _per_regime(d["adverse_cost_bps_by_regime"], regimes, _adverse, f"{where}.adverse_cost_bps_by_regime"),
            lead_lag=None if "lead_lag" not in d else _lead_lag(d["lead_lag"], coin, f"{where}.lead_lag"),
            requote_interval_ms=None
            if "requote_interval_ms" not in d
            else _requote_interval(d["requote_interval_ms"], f"{where}.requote_interval_ms"),
            hawkes_intensity=None
            if "hawkes_intensity" not in d
            else _hawkes_intensity(d["hawkes_intensity"], f"{where}.hawkes_intensity"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; absent optional fields are left out, so older sets keep their content hash."""
        out = {
            f.name: dataclasses.asdict(v)
            if dataclasses.is_dataclass(v := getattr(self, f.name)) and not isinstance(v, type)
            else v
            for f in dataclasses.fields(self)
        }
        for key in OPTIONAL_KEYS:
            if out[key] is None:
                del out[key]
        if self.lead_lag is not None and self.lead_lag.move_sd is None:
            out["lead_lag"] = {k: v for k, v in out["lead_lag"].items() if k not in LEAD_LAG_PULL_KEYS}
        for key in ("adverse_selection_bps_by_regime", "adverse_cost_bps_by_regime", "sigma_by_regime"):
            if (means := getattr(self, key)) is not None:
                out[key] = {r: dataclasses.asdict(m) for r, m in means.items()}
        return out


def json_safe(x: Any) -> Any:
    """``x`` as plain JSON values: tuples to lists, numpy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(x, Mapping):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def _canonical(d: Mapping[str, Any]) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def content_id(doc: Mapping[str, Any]) -> str:
    """The content-hash id of a document: every key but ``param_set_id`` and ``created_at_ms``."""
    content = {k: v for k, v in doc.items() if k not in ("param_set_id", "created_at_ms")}
    return hashlib.sha256(_canonical(content)).hexdigest()[:_ID_HEX]


@dataclass(frozen=True, eq=False)
class ParamSet:
    """A validated parameter set; build with :meth:`create` (pipeline) or :meth:`from_json` (readers)."""

    param_set_id: str
    coin: str
    created_at_ms: int
    window_start_ms: int
    window_end_ms: int
    code_version: str
    parameters: Parameters
    evidence: dict[str, Any]

    @classmethod
    def create(
        cls,
        *,
        coin: str,
        window_start_ms: int,
        window_end_ms: int,
        code_version: str,
        parameters: Parameters | Mapping[str, Any],
        evidence: Mapping[str, Any],
        created_at_ms: int,
    ) -> ParamSet:
        """A new set with its content-hash id; raises :class:`InvalidParameterSet` like a reader would."""
        params = parameters.to_dict() if isinstance(parameters, Parameters) else parameters
        doc = {
            "schema_version": SCHEMA_VERSION,
            "param_set_id": "",
            "coin": coin,
            "created_at_ms": created_at_ms,
            "training_window": {"start_ms": window_start_ms, "end_ms": window_end_ms},
            "code_version": code_version,
            "parameters": params,
            "evidence": json_safe(evidence),
        }
        draft = cls._build(doc)
        return dataclasses.replace(draft, param_set_id=content_id(draft.to_dict()))

    @classmethod
    def from_dict(cls, doc: Any) -> ParamSet:
        """Validate a document (schema, ranges, id = hash of the normalised content) and return the typed set."""
        ps = cls._build(doc)
        try:
            expected = content_id(ps.to_dict())
        except ValueError as exc:
            raise _fail("evidence", f"not JSON-serialisable: {exc}") from None
        if ps.param_set_id != expected:
            raise _fail("param_set_id", f"{ps.param_set_id} does not match the content hash {expected}: altered")
        return ps

    @classmethod
    def _build(cls, doc: Any) -> ParamSet:
        d = _keys(doc, _TOP_KEYS, "param set")
        version = _integer(d["schema_version"], "schema_version")
        if version != SCHEMA_VERSION:
            raise _fail("schema_version", f"this code reads version {SCHEMA_VERSION}, got {version}")
        window = _keys(d["training_window"], ("start_ms", "end_ms"), "training_window")
        start = _time_ms(window["start_ms"], "training_window.start_ms")
        end = _time_ms(window["end_ms"], "training_window.end_ms")
        if not start < end:
            raise _fail("training_window", f"start {start} is not before end {end}")
        if not isinstance(d["evidence"], Mapping):
            raise _fail("evidence", f"expected an object, got {type(d['evidence']).__name__}")
        if not isinstance(d["param_set_id"], str):
            raise _fail("param_set_id", f"expected a string, got {type(d['param_set_id']).__name__}")
        return cls(
            param_set_id=d["param_set_id"],
            coin=_text(d["coin"], "coin"),
            created_at_ms=_time_ms(d["created_at_ms"], "created_at_ms"),
            window_start_ms=start,
            window_end_ms=end,
            code_version=_text(d["code_version"], "code_version"),
            parameters=Parameters.from_dict(d["parameters"], coin=d["coin"]),
            evidence=dict(d["evidence"]),
        )

    @classmethod
    def from_json(cls, data: bytes) -> ParamSet:
        try:
            doc = json.loads(data, parse_constant=_reject_constant)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _fail("param set", f"not valid JSON: {exc}") from None
        return cls.from_dict(doc)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "param_set_id": self.param_set_id,
            "coin": self.coin,
            "created_at_ms": self.created_at_ms,
            "training_window": {"start_ms": self.window_start_ms, "end_ms": self.window_end_ms},
            "code_version": self.code_version,
            "parameters": self.parameters.to_dict(),
            "evidence": self.evidence,
        }

    def to_json(self) -> bytes:
        """The stored form: indented JSON with a trailing newline (the bytes the pointer's sha256 covers)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False).encode() + b"\n"


def _reject_constant(name: str) -> Any:
    raise _fail("param set", f"non-standard JSON constant {name}")
