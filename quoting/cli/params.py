"""``smallfish params show|promote|rollback``: each returns the text to print and raises on failure.

``show`` never fails on what it finds: an unreadable pointer or a malformed set is printed as what is wrong with
it. ``promote`` and ``rollback`` repair an unparsable pointer and say what the file held.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from data_lake.param_registry import (
    NoPromotedSet,
    list_sets,
    load_promoted,
    now_ms,
    pointer_problem,
    promote,
    read_pointer,
    rollback,
)
from data_lake.param_schema import InvalidParameterSet, ParamSet
from quoting.runtime.params import window_end_problem

_RECENT_SETS = 10


def _utc(ms: int | None) -> str:
    if ms is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms (not a representable time)"


def _describe(ps: ParamSet) -> list[str]:
    p = ps.parameters
    regimes = ", ".join(f"{s} {p.gamma_per_quote_by_regime[s]:g}" for s in p.hmm["state_names"])
    floors = ", ".join(f"{s} {p.min_spread_bps_by_regime[s]:g}" for s in p.hmm["state_names"])
    adverse = p.adverse_selection_bps_by_regime
    adverse_text = (
        "unknown"
        if adverse is None
        else ", ".join(
            f"{s} {adverse[s].value:.3g} ± {adverse[s].se:.2g} (n {adverse[s].n})" for s in p.hmm["state_names"]
        )
    )
    return [
        f"  training window [{_utc(ps.window_start_ms)}, {_utc(ps.window_end_ms)}), created {_utc(ps.created_at_ms)}, "
        f"code {ps.code_version}",
        f"  gamma (1/quote): {regimes}",
        f"  spread floor (bps): {floors}",
        f"  adverse selection at 5 s (bps): {adverse_text}",
        f"  kappa {p.kappa.value:g} ± {p.kappa.se:g} {p.kappa.unit}; A {p.arrival_rate.value:g} ± "
        f"{p.arrival_rate.se:g} {p.arrival_rate.unit}; sigma {p.sigma.value:g} ± {p.sigma.se:g} {p.sigma.unit}",
        f"  order size {p.order_size_base:g} base, position limit {p.position_limit_base:g} base, daily loss limit "
        f"{p.daily_loss_limit_quote:g} quote, maker fee {p.maker_fee_bps:g} bps, szDecimals {p.sz_decimals}",
    ]


def params_show(lake_root: str | Path, coin: str) -> str:
    """The live set (pointer, validity, parameters) and the most recent decisions of every set."""
    lines = []
    try:
        pointer = read_pointer(lake_root, coin)
    except InvalidParameterSet as exc:
        pointer = None
        lines.append(f"{coin}: UNREADABLE promotion pointer, the quoter will not quote: {exc}")
    else:
        if pointer is None:
            lines.append(f"{coin}: no parameter set promoted")
    if pointer is not None:
        lines.append(
            f"{coin}: promoted {pointer.param_set_id} (pointer version {pointer.version}) at "
            f"{_utc(pointer.promoted_at_ms)}, sha256 {pointer.sha256[:16]}"
        )
        try:
            live = load_promoted(lake_root, coin).param_set
            lines += _describe(live)
            future = window_end_problem(live.window_end_ms, now_ms())
            if future is not None:
                lines.append(f"  INVALID, the quoter will not load it: {future}")
        except (InvalidParameterSet, NoPromotedSet) as exc:
            lines.append(f"  INVALID, the quoter will not load it: {exc}")
    sets = list_sets(lake_root, coin).head(_RECENT_SETS)
    if sets.height:
        lines.append("sets (latest decision first):")
        for row in sets.iter_rows(named=True):
            marker = "*" if row["live"] else " "
            when = _utc(row["decided_at_ms"])
            lines.append(f" {marker} {row['param_set_id']}  {row['status']:<9}  {when}  {row['reason']}")
    return "\n".join(lines)


def params_promote(lake_root: str | Path, coin: str, param_set_id: str, reason: str) -> str:
    """Human override: promote a stored, valid set whatever the gate said; recorded as ``manual: <reason>``."""
    if not reason.strip():
        raise ValueError("a manual promotion needs a reason")
    broken = pointer_problem(lake_root, coin)
    pointer = promote(lake_root, coin, param_set_id, f"manual: {reason.strip()}")
    return _repaired(coin, broken) + f"{coin}: {pointer.param_set_id} is live (pointer version {pointer.version})"


def params_rollback(lake_root: str | Path, coin: str) -> str:
    """Re-promote the set the live one replaced."""
    broken = pointer_problem(lake_root, coin)
    pointer = rollback(lake_root, coin, "manual: rollback")
    return (
        _repaired(coin, broken)
        + f"{coin}: rolled back; {pointer.param_set_id} is live (pointer version {pointer.version})"
    )


def _repaired(coin: str, broken: str | None) -> str:
    if broken is None:
        return ""
    return f"{coin}: the promotion pointer held {broken}, not a pointer; rewritten from the decision log\n"
