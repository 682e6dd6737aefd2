"""``smallfish screen``: the ranked market screen of one day, read from the lake's ``market_screen`` table."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import polars as pl

from data_lake.lake import Lake

_MARK = {True: "+", False: "-", None: "?"}
_VOLUME_SOURCE = {"trades": "~", "trades_unscaled": ">"}


def _money(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"${x / scale:.3g}{suffix}"
    return f"${x:.3g}"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)


def _criteria(thresholds: str) -> str:
    t = json.loads(thresholds)
    return (
        f"volume {_money(t['min_volume_quote'])}-{_money(t['max_volume_quote'])}, "
        f"median spread > {t['min_spread_bps']:g} bps, effective makers <= {t['max_effective_makers']:g}, "
        f"edge > {t['min_edge_bps']:g} bps after a {t['maker_fee_bps']:g} bps maker fee"
    )


def _row(r: dict) -> list[str]:
    edge = f"{_num(r['edge_bps'], '+.2f')} [{_num(r['edge_ci_low'], '+.2f')}, {_num(r['edge_ci_high'], '+.2f')}]"
    counterparties = r["n_passive_counterparties"]
    makers = f"{_num(r['effective_makers'], '.1f')}/{counterparties if counterparties is not None else '-'}"
    funding = f"{_num(r['funding_mean_bps_per_hour'], '+.3f')}±{_num(r['funding_sd_bps_per_hour'], '.3f')}"
    return [
        str(r["rank"]),
        r["coin"] + ("" if r["in_universe"] is not False else " *"),
        f"{r['score']}/4",
        f"{_VOLUME_SOURCE.get(r['volume_source'], '')}{_money(r['volume_quote'])} {_MARK[r['pass_volume']]}",
        _num(r["coverage_hours"], ".1f"),
        f"{_num(r['spread_median_bps'])} {_MARK[r['pass_spread']]}",
        f"{makers} {_MARK[r['pass_makers']]}",
        _num(None if r["top3_maker_share"] is None else 100 * r["top3_maker_share"], ".0f") + "%",
        f"{edge} {_MARK[r['pass_edge']]}",
        _num(r["maker_markout_5s_bps"], "+.2f"),
        _money(r["open_interest_quote"]),
        funding,
        _num(r["volatility_bps_per_sqrt_s"]),
    ]


HEADER = [
    "rank",
    "coin",
    "score",
    "volume/day",
    "hours",
    "spread bps",
    "makers eff/n",
    "top3",
    "edge bps [95% CI]",
    "markout 5s",
    "OI",
    "funding bps/h",
    "vol bps/rt(s)",
]


def screen_main(lake_root: str | Path, date: dt.date | None = None, top: int | None = None) -> str:
    """The ranked screen of ``date`` (default: the latest screened day), best first, ``top`` rows at most."""
    lake = Lake(lake_root)
    screens = lake.read("market_screen", start=date, end=date)
    if screens.height == 0:
        where = f"for {date}" if date else "at all"
        return f"no market screen {where} in {lake.root}: materialise the market_screen asset first"
    day = date or screens["date"].max()
    if not isinstance(day, dt.date):
        raise TypeError(f"market_screen's date column holds {day!r}, not dates")
    ranked = screens.filter(pl.col("date") == day).sort("rank")
    shown = ranked.head(top) if top else ranked
    rows = [HEADER, *(_row(r) for r in shown.iter_rows(named=True))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        f"market screen {day}: {ranked.height} coins; criteria: {_criteria(ranked['thresholds'][0])}",
        (
            "+ pass, - fail, ? figure missing; volume/day = the exchange's 24 h volume, ~ captured trades scaled by "
            "24 / hours covered, > captured trades, coverage unknown (at least this much); hours = hours the capture "
            "covered (book states); makers eff/n = effective (1/HHI of known makers' volume) / distinct passive "
            "counterparties; * = not in the stored universe"
        ),
        "",
    ]
    lines += [
        "  ".join(
            cell.rjust(w) if i != 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)
