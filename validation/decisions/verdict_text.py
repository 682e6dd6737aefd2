"""The ``component_verdict`` table as text: what to do this morning, and the verdicts largest weakness first.

Works on the table's rows (a polars frame, :data:`validation.decisions.component_verdict.COMPONENT_VERDICT_COLUMNS` plus
optionally ``test_start_ms`` / ``test_end_ms``), so the nightly asset and ``smallfish diagnose`` (which reads the
lake) print the same text. Only polars: the command line imports it without the statistics stack.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

ADD, KEEP_SIMPLE, NO_FIX, UNTESTED = "add", "keep simple", "no fix", "untested"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def action(frame: pl.DataFrame) -> str:
    """What the method does next: add the highest-ranked ``add`` (one component at a time), else name the largest
    weakness that has no fix yet."""
    ranked = frame.sort("rank")
    adds = ranked.filter(pl.col("verdict") == ADD)
    if adds.height:
        first = adds.row(0, named=True)
        later = adds["component"].to_list()[1:]
        wait = f"; then re-run before adding {', '.join(later)}" if later else ""
        return f"add {first['component']} (fixes {first['prediction']}, the largest weakness with a fix){wait}"
    failing = ranked.filter(pl.col("verdict").is_in([NO_FIX, UNTESTED]) & (pl.col("simple_p") < pl.col("alpha")))
    if failing.height:
        worst = failing.row(0, named=True)
        need = "build its variant" if worst["verdict"] == UNTESTED else "its addition does not help: try another"
        return f"add nothing; the largest weakness is {worst['prediction']} ({worst['component']}): {need}"
    return "add nothing: no prediction is shown to fail"


def morning_text(
    frame: pl.DataFrame,
    coin: str,
    date: dt.date,
    previous: pl.DataFrame | None = None,
    previous_date: dt.date | None = None,
) -> str:
    """The verdict table as the morning read: the action, one line per row (largest weakness first) with its
    evidence, each row's reason, and what changed since ``previous`` (an earlier day's table of the coin)."""
    if frame.height == 0:
        return f"{coin} {date}: no component verdicts"
    ranked = frame.sort("rank")
    first = ranked.row(0, named=True)
    window = ""
    if "test_start_ms" in ranked.columns and first["test_start_ms"] is not None:
        start, end = (
            dt.datetime.fromtimestamp(first[c] / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
            for c in ("test_start_ms", "test_end_ms")
        )
        window = f", test windows {start} - {end} UTC"
    lines = [
        f"{coin} {date}: component verdicts, largest weakness first (alpha {first['alpha']:g}{window})",
        f"action: {action(ranked)}",
        "",
        f"{'#':>2}  {'prediction':<27} {'component':<14} {'verdict':<12} {'simple p':>8}  {'addition':<15} "
        f"{'effect/period':>13} {'p':>7} {'adj. p':>7}",
    ]
    for r in ranked.iter_rows(named=True):
        lines.append(
            f"{r['rank']:>2}  {r['prediction']:<27} {r['component']:<14} {r['verdict']:<12} {_p(r['simple_p']):>8}  "
            f"{r['addition_variant']:<15} {_num(r['addition_effect']):>13} {_p(r['addition_p']):>7} "
            f"{_p(r['adjusted_p']):>7}"
        )
    lines += ["", "why:"] + [f"{r['rank']:>2}. {r['prediction']}: {r['reason']}" for r in ranked.iter_rows(named=True)]
    adjustment = next((a for a in ranked["adjustment"] if a), "")
    lines += [
        "",
        "simple p: the test of the baseline's prediction (per row); effect/period: variant - baseline P&L, "
        f"quote currency; adj. p: one-sided HAC p-value after {adjustment or 'the multiple-testing adjustment'}",
    ]
    if previous is not None and previous.height:
        before = dict(zip(previous["component"], previous["verdict"], strict=True))
        changed = [
            f"{r['prediction']} {before[r['component']]} -> {r['verdict']}"
            for r in ranked.iter_rows(named=True)
            if r["component"] in before and before[r["component"]] != r["verdict"]
        ]
        since = f" since {previous_date}" if previous_date else ""
        lines.append(f"changed{since}: {'; '.join(changed) if changed else 'nothing'}")
    return "\n".join(lines)
