"""The promotion gate: may a candidate parameter set replace the promoted one? Pure; every decision has reasons.

Evidence is the JSON object a parameter set carries (:func:`build_evidence` writes it)::

    walk_forward   {folds, oos_fills, period_ms, pnl_unit, period_start_ms: [...], pnl: [...], figures: {...}}
                   out-of-sample P&L per period of ``period_ms`` (net of fees, in ``pnl_unit``, e.g. "quote")
    significance   {verdicts: {component: Verdict fields}, spa: MultipleComparison fields or null}
    calibration    {fill_probability: CalibrationMetrics fields, adverse_selection: AdverseSelectionCalibration fields},
                   each null when there was nothing to score (no quotes, fewer than 3 marked fills)
    data_quality   {check name: {passed: bool, detail: str}}
    missing        {section: why it is absent}, optional: the pipeline's reason for a section it could not build

A missing section fails every check that reads it with that reason ("no walk_forward evidence: ..."), never with
a bare ``KeyError``.

The comparison with the promoted set is paired by period, so ``promoted_evidence`` must be the incumbent's
walk-forward on the *candidate's* test periods (re-run the promoted parameters through the same folds); with no
promoted set the baseline is not quoting (zero P&L). Verdicts are kept as a record; the gate reads the rest.

Error rate: the out-of-sample P&L check is a one-sided HAC t-test of a positive mean per period at ``alpha``, so
a candidate without edge (mean P&L <= 0) passes it, and is promoted, with probability at most ``alpha``
(asymptotically; the other checks only reject more).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validation.statistics.calibration_metrics import AdverseSelectionCalibration, CalibrationMetrics
from validation.statistics.significance import MIN_INDEPENDENT_FILLS, MultipleComparison, Verdict, hac_mean_test


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the gate; P&L figures are in the walk-forward's ``pnl_unit`` per period."""

    min_oos_fills: int = MIN_INDEPENDENT_FILLS
    alpha: float = 0.05
    """Level of the one-sided "significantly worse than the promoted set" test."""
    max_degradation_per_period: float = 0.0
    """Allowed shortfall of mean P&L per period against the promoted set before "worse" is tested (>= 0)."""
    min_paired_periods: int = 30
    """Fewest test periods the candidate and the baseline must share for the comparison to count."""
    require_positive_oos_pnl: bool = True
    require_calibrated_fill_probability: bool = True
    require_calibrated_adverse_selection: bool = True
    require_data_quality: bool = True
    spa_alpha: float | None = None
    """If set, Hansen's SPA p-value (consistent) must be below it: the chosen variant beats the walk-forward's
    baseline after data snooping. Off by default: SPA is conservative with small effects."""


@dataclass(frozen=True)
class GateDecision:
    """Promote or not, with one line per check: ``ok: ...``, ``fail: ...`` or ``skip: ...``."""

    promote: bool
    reasons: list[str]


def build_evidence(
    *,
    folds: int,
    oos_fills: int,
    period_ms: int,
    period_start_ms: Sequence[int],
    pnl: Sequence[float],
    fill_calibration: CalibrationMetrics | None,
    adverse_calibration: AdverseSelectionCalibration | None,
    data_quality: Mapping[str, tuple[bool, str]],
    verdicts: Mapping[str, Verdict] | None = None,
    spa: MultipleComparison | None = None,
    figures: Mapping[str, float] | None = None,
    pnl_unit: str = "quote",
) -> dict[str, Any]:
    """The evidence object of a candidate set (see the module docstring); ``data_quality`` maps a check to
    (passed, detail)."""
    if len(period_start_ms) != len(pnl):
        raise ValueError(f"{len(period_start_ms)} period starts for {len(pnl)} P&L values")
    return {
        "walk_forward": {
            "folds": int(folds),
            "oos_fills": int(oos_fills),
            "period_ms": int(period_ms),
            "pnl_unit": pnl_unit,
            "period_start_ms": [int(t) for t in period_start_ms],
            "pnl": [float(x) for x in pnl],
            "figures": dict(figures or {}),
        },
        "significance": {
            "verdicts": {name: dataclasses.asdict(v) for name, v in (verdicts or {}).items()},
            "spa": None if spa is None else dataclasses.asdict(spa),
        },
        "calibration": {
            "fill_probability": None if fill_calibration is None else dataclasses.asdict(fill_calibration),
            "adverse_selection": None if adverse_calibration is None else dataclasses.asdict(adverse_calibration),
        },
        "data_quality": {name: {"passed": bool(ok), "detail": detail} for name, (ok, detail) in data_quality.items()},
    }


def _restore(cls: type, d: Mapping[str, Any]) -> Any:
    """A validation dataclass back from its JSON form (lists to tuples, null to NaN)."""

    def value(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return tuple(value(x) for x in v)
        return math.nan if v is None else v

    return cls(**{f.name: value(d[f.name]) for f in dataclasses.fields(cls)})


def _pnl_series(evidence: Mapping[str, Any]) -> tuple[dict[int, float], int, str]:
    wf = evidence["walk_forward"]
    starts, pnl = wf["period_start_ms"], wf["pnl"]
    if len(starts) != len(pnl) or len(set(starts)) != len(starts):
        raise ValueError("period_start_ms and pnl must have equal length and distinct periods")
    values = np.asarray([math.nan if x is None else x for x in pnl], dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError("pnl holds non-finite values")
    return dict(zip((int(t) for t in starts), values.tolist(), strict=True)), int(wf["period_ms"]), wf["pnl_unit"]


def _data_quality(ev: Mapping[str, Any], cfg: GateConfig, _: Any) -> str:
    if not cfg.require_data_quality:
        return "skip: data-quality checks not required"
    checks = ev["data_quality"]
    if not checks:
        return "fail: no data-quality check results in the evidence"
    failed = [f"{name} ({c.get('detail', '')})" for name, c in checks.items() if c["passed"] is not True]
    if failed:
        return f"fail: data-quality checks failed: {'; '.join(failed)}"
    return f"ok: all {len(checks)} data-quality checks passed"


def _fills(ev: Mapping[str, Any], cfg: GateConfig, _: Any) -> str:
    n = int(ev["walk_forward"]["oos_fills"])
    verdict = "ok" if n >= cfg.min_oos_fills else "fail"
    return f"{verdict}: {n} out-of-sample fills (at least {cfg.min_oos_fills} required)"


def _within(windows: int) -> str:
    return f" within {windows} folds" if windows > 1 else ""


def _calibration(
    what: str, required: bool, found: Mapping[str, Any] | None, missing: str, kind: type, figures: Callable[[Any], str]
) -> str:
    """The verdict of a calibration check of ``what`` (e.g. "fill probability"): skipped when not required, failed
    when the evidence holds none (``missing`` says why there can be none), else the stored metrics' own
    ``is_well_calibrated`` with its ``figures`` (the restored ``kind`` in words)."""
    if not required:
        return f"skip: {what.replace(' ', '-')} calibration not required"
    if found is None:
        return f"fail: no {what.replace(' ', '-')} calibration ({missing})"
    m = _restore(kind, found)
    text = figures(m)
    return (
        f"ok: {what} well calibrated ({text})" if m.is_well_calibrated else f"fail: {what} not well calibrated ({text})"
    )


def _fill_probability(ev: Mapping[str, Any], cfg: GateConfig, _: Any) -> str:
    return _calibration(
        "fill probability",
        cfg.require_calibrated_fill_probability,
        ev["calibration"]["fill_probability"],
        "no out-of-sample quote was scored",
        CalibrationMetrics,
        lambda m: (
            f"n={m.n}, reliability/uncertainty={m.relative_reliability:.3f}, slope{_within(m.windows)} "
            f"{m.slope:.2f} CI [{m.slope_ci[0]:.2f}, {m.slope_ci[1]:.2f}], intercept {m.intercept:.2f} "
            f"CI [{m.intercept_ci[0]:.2f}, {m.intercept_ci[1]:.2f}]"
        ),
    )


def _adverse_selection(ev: Mapping[str, Any], cfg: GateConfig, _: Any) -> str:
    return _calibration(
        "adverse selection",
        cfg.require_calibrated_adverse_selection,
        ev["calibration"]["adverse_selection"],
        "fewer than 3 out-of-sample fills with a markout",
        AdverseSelectionCalibration,
        lambda m: (
            f"n={m.n}, bias {m.bias:+.2f} bps CI [{m.bias_ci[0]:.2f}, {m.bias_ci[1]:.2f}], "
            f"slope{_within(m.windows)} {m.slope:.2f} CI [{m.slope_ci[0]:.2f}, {m.slope_ci[1]:.2f}]"
        ),
    )


def _positive_pnl(ev: Mapping[str, Any], cfg: GateConfig, _: Any) -> str:
    if not cfg.require_positive_oos_pnl:
        return "skip: positive out-of-sample P&L not required"
    series, _, unit = _pnl_series(ev)
    values = np.asarray(list(series.values()), dtype=float)
    if values.size < cfg.min_paired_periods:
        return f"fail: {values.size} out-of-sample periods, at least {cfg.min_paired_periods} needed to test the P&L"
    test = hac_mean_test(values, alternative="greater")
    figures = (
        f"mean {test.estimate:+.4g} {unit} per period over {values.size} periods, one-sided HAC p={test.p_value:.3g}"
    )
    if test.p_value < cfg.alpha:
        return f"ok: out-of-sample P&L significantly positive at alpha={cfg.alpha:g} ({figures})"
    return f"fail: out-of-sample P&L not significantly positive at alpha={cfg.alpha:g} ({figures})"


def _not_worse(ev: Mapping[str, Any], cfg: GateConfig, promoted: Mapping[str, Any] | None) -> str:
    cand, period_ms, unit = _pnl_series(ev)
    if promoted is None:
        name, base = "not quoting (no promoted set)", dict.fromkeys(cand, 0.0)
    else:
        name, (base, base_period_ms, base_unit) = "the promoted set", _pnl_series(promoted)
        if (base_period_ms, base_unit) != (period_ms, unit):
            return (
                f"fail: cannot compare with the promoted set: periods of {period_ms} ms in {unit} vs "
                f"{base_period_ms} ms in {base_unit}"
            )
    common = sorted(cand.keys() & base.keys())
    if len(common) < cfg.min_paired_periods:
        return (
            f"fail: only {len(common)} test periods shared with {name} (at least {cfg.min_paired_periods}); "
            "re-run the promoted set on the candidate's folds"
        )
    diff = np.array([cand[t] - base[t] for t in common])
    test = hac_mean_test(diff + cfg.max_degradation_per_period, alternative="less")
    figures = (
        f"mean difference {diff.mean():+.4g} {unit} per period, allowed shortfall "
        f"{cfg.max_degradation_per_period:g}, one-sided HAC p={test.p_value:.3g}, {len(common)} periods"
    )
    if test.p_value < cfg.alpha:
        return f"fail: significantly worse than {name} at alpha={cfg.alpha:g} ({figures})"
    return f"ok: not significantly worse than {name} at alpha={cfg.alpha:g} ({figures})"


def _spa(ev: Mapping[str, Any], cfg: GateConfig, _: Any) -> str:
    if cfg.spa_alpha is None:
        return "skip: SPA not required"
    spa = ev["significance"]["spa"]
    if spa is None:
        return "fail: SPA required but absent from the evidence"
    p = _restore(MultipleComparison, spa).spa_consistent
    verdict = "ok" if p < cfg.spa_alpha else "fail"
    return f"{verdict}: SPA (consistent) p={p:.3g} against the walk-forward baseline (must be < {cfg.spa_alpha:g})"


_CHECKS: tuple[tuple[str, Callable[[Mapping[str, Any], GateConfig, Any], str]], ...] = (
    ("data quality", _data_quality),
    ("out-of-sample fills", _fills),
    ("fill-probability calibration", _fill_probability),
    ("adverse-selection calibration", _adverse_selection),
    ("out-of-sample P&L", _positive_pnl),
    ("comparison with the baseline", _not_worse),
    ("SPA", _spa),
)


EVIDENCE_SECTIONS = ("walk_forward", "significance", "calibration", "data_quality")
MISSING = "missing"
"""Evidence key: section -> why the pipeline could not build it."""


def _missing_section(exc: KeyError, candidate: Mapping[str, Any], promoted: Mapping[str, Any] | None) -> str:
    """A readable reason for a ``KeyError`` raised while reading the evidence."""
    key = exc.args[0] if exc.args else None
    if key in EVIDENCE_SECTIONS and key not in candidate:
        why = candidate.get(MISSING, {}).get(key)
        return f"no {key} evidence for the candidate" + (f": {why}" if why else " (the evidence has no such section)")
    if key in EVIDENCE_SECTIONS and promoted is not None and key not in promoted:
        return f"the promoted set's evidence has no {key} section, so nothing to compare with"
    return f"evidence incomplete: no {key!r} where the check expects it"


def evaluate_gate(
    candidate_evidence: Mapping[str, Any],
    promoted_evidence: Mapping[str, Any] | None,
    config: GateConfig = GateConfig(),
) -> GateDecision:
    """Run every check; promote only if none fails. Missing or malformed evidence fails its check."""
    reasons = []
    for name, check in _CHECKS:
        try:
            reasons.append(check(candidate_evidence, config, promoted_evidence))
        except KeyError as exc:
            reasons.append(f"fail: {name}: {_missing_section(exc, candidate_evidence, promoted_evidence)}")
        except (TypeError, ValueError, AttributeError) as exc:
            reasons.append(f"fail: {name}: evidence malformed ({type(exc).__name__}: {exc})")
    return GateDecision(promote=not any(r.startswith("fail:") for r in reasons), reasons=reasons)
