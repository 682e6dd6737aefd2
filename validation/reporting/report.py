"""One self-contained HTML report per run: sections of key-figure cards, escaped tables and PNG figures.

Nothing is fetched when the file is opened: CSS is inline, figures are base64 ``data:`` URIs, there is no
JavaScript, and a Content-Security-Policy forbids any other source. Every figure caption states its sample
size and confidence level (:func:`figure_html` requires both). Times are UTC epoch ms, equity quote currency.

Section bodies are HTML fragments built by the helpers here (:func:`paragraph`, :func:`table_html`,
:func:`figure_html`, :func:`cards_html`, ...), which escape every string they are given.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from data_lake.raw_zone import coin_file_name
from validation.reporting.measurement_figures import plot_markout_curve, plot_reliability_diagram
from validation.statistics.calibration_metrics import ReliabilityDiagram
from validation.statistics.significance import Verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MARKOUT_CI_LEVEL = 0.95
"""Level of the markout-curve bands of :func:`validation.statistics.baseline_table.markout_curve`."""

REGIME_COLOURS = {
    "calm": "#4daf4a",
    "volatile": "#ff7f00",
    "cascade": "#e41a1c",
    "normal": "#4daf4a",
    "toxic": "#e41a1c",
}
DECISION_CLASSES = {"keep": "keep", "remove": "remove", "insufficient evidence": "insufficient"}
DIAGNOSIS_CLASSES = {"add": "keep", "keep simple": "", "no fix": "remove", "untested": "insufficient"}
"""Row shading of the per-component diagnosis verdicts (:mod:`validation.decisions.component_verdict`)."""

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.2rem; }
.meta { color: #666; font-size: 0.9rem; }
nav ol { columns: 2; font-size: 0.95rem; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 0.9rem; min-width: 10rem; background: #fafafa; }
.card .label { font-size: 0.8rem; color: #555; text-transform: uppercase; letter-spacing: 0.03em; }
.card .value { font-size: 1.5rem; font-weight: 600; }
.card .detail { font-size: 0.8rem; color: #666; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; font-size: 0.8rem; max-width: 100%; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; }
th { background: #f0f0f0; text-align: left; overflow-wrap: anywhere; vertical-align: bottom; }
td { overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.keep td { background: #e8f5e9; } tr.remove td { background: #fdecea; } tr.insufficient td { background: #f2f2f2; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #444; max-width: 900px; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class KeyFigure:
    """One headline number for a card: ``value`` already formatted with its unit, ``detail`` e.g. its CI and n."""

    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class ReportSection:
    """A titled part of the report; ``blocks`` are HTML fragments from this module's helpers, in order."""

    title: str
    blocks: Sequence[str] = ()


def report_file(coin: str, date: dt.date) -> str:
    """The (coin, day)'s walk-forward HTML report, relative to the lake root (a local directory or an ``s3://``
    prefix): ``reports/{coin}/{date}.html``, the coin as in raw-zone file names with ``:`` as ``_``."""
    return f"reports/{coin_file_name(coin).replace(':', '_')}/{date.isoformat()}.html"


def build_report(title: str, sections: Sequence[ReportSection], generated_ms: int | None = None) -> str:
    """The whole report as one HTML document, with a table of contents; ``generated_ms`` stamps it (UTC)."""
    meta = f'<p class="meta">Generated {_utc(generated_ms)}</p>' if generated_ms is not None else ""
    toc = "".join(f'<li><a href="#section-{k}">{_esc(s.title)}</a></li>' for k, s in enumerate(sections, 1))
    body = "".join(
        f'<section id="section-{k}"><h2>{_esc(s.title)}</h2>{"".join(s.blocks)}</section>'
        for k, s in enumerate(sections, 1)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head>"
        f"<body><header><h1>{_esc(title)}</h1>{meta}</header>"
        f"<nav><ol>{toc}</ol></nav><main>{body}</main></body></html>\n"
    )


DECISION_START = "<!-- promotion-decision -->"
DECISION_END = "<!-- /promotion-decision -->"
"""Markers of the report's promotion-decision section: the walk-forward writes it as pending, the gate fills it."""


def decision_section(title: str, facts: Mapping[str, str], reasons: Sequence[str] = ()) -> str:
    """The promotion-decision section: a headline (the decision), facts (param_set_id, runs) and the gate's reasons,
    between :data:`DECISION_START` and :data:`DECISION_END`."""
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in facts.items())
    listed = "<ul>" + "".join(f"<li>{_esc(r)}</li>" for r in reasons) + "</ul>" if reasons else ""
    return (
        f'{DECISION_START}<section id="promotion-decision"><h2>Promotion decision: {_esc(title)}</h2>'
        f"<table>{rows}</table>{listed}</section>{DECISION_END}"
    )


def pending_decision(walk_forward_run: str) -> str:
    """The decision section as the walk-forward writes it, before the promotion gate has judged its candidate."""
    return decision_section(
        "pending",
        {
            "walk-forward run": walk_forward_run,
            "gate": "not run yet: the param_sets asset of this (coin, day) fills this section when it decides",
        },
    )


def with_decision(html_text: str, section: str) -> str:
    """``html_text`` with its promotion-decision section replaced by ``section`` (placed first in ``<main>`` when the
    report has none yet)."""
    start, end = html_text.find(DECISION_START), html_text.find(DECISION_END)
    if start >= 0 and end > start:
        return html_text[:start] + section + html_text[end + len(DECISION_END) :]
    if "<main>" not in html_text:
        raise ValueError("not a report of validation.reporting.report.build_report: no <main> element")
    return html_text.replace("<main>", "<main>" + section, 1)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _utc(time_ms: int) -> str:
    return dt.datetime.fromtimestamp(time_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---------------------------------------------------------------------------------------------------------------
# fragments


def paragraph(text: str) -> str:
    """A paragraph of plain (escaped) text."""
    return f"<p>{_esc(text)}</p>"


def cards_html(figures: Sequence[KeyFigure]) -> str:
    """A row of key-figure cards."""
    cards = "".join(
        f'<div class="card"><div class="label">{_esc(f.label)}</div><div class="value">{_esc(f.value)}</div>'
        + (f'<div class="detail">{_esc(f.detail)}</div>' if f.detail else "")
        + "</div>"
        for f in figures
    )
    return f'<div class="cards">{cards}</div>'


def format_value(value: Any, digits: int = 4) -> str:
    """Cell text: ints with thousands separators, floats to ``digits`` significant figures, nulls as an en dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _format_float(value, digits)
    return str(value)


def _format_float(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("\u221e" if value > 0 else "\u2212\u221e")
    if value == 0.0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if -3 <= magnitude < 6:
        return f"{value:,.{max(digits - 1 - magnitude, 0)}f}"
    return f"{value:.{digits - 1}e}"


def table_html(
    frame: pl.DataFrame, caption: str = "", digits: int = 4, row_classes: Sequence[str] | None = None
) -> str:
    """A polars frame as an HTML table that fits the page (headers and text cells wrap, numbers do not; a table
    still too wide scrolls inside its own box); headers, cells, caption and row classes are all escaped."""
    if row_classes is not None and len(row_classes) != frame.height:
        raise ValueError(f"{len(row_classes)} row classes for {frame.height} rows")
    numeric = [dtype.is_numeric() for dtype in frame.dtypes]
    head = "".join(f"<th>{_esc(name)}</th>" for name in frame.columns)
    rows = []
    for k, row in enumerate(frame.iter_rows()):
        cells = "".join(
            f'<td class="num">{_esc(format_value(v, digits))}</td>'
            if num
            else f"<td>{_esc(format_value(v, digits))}</td>"
            for v, num in zip(row, numeric, strict=True)
        )
        css = f' class="{_esc(row_classes[k])}"' if row_classes is not None else ""
        rows.append(f"<tr{css}>{cells}</tr>")
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    table = f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="table-wrap">{table}</div>'


def figure_caption(caption: str, n: int, ci_level: float | None, n_unit: str = "observations") -> str:
    """``caption`` followed by the sample size and the confidence level of any interval drawn."""
    ci = f"{ci_level:.0%} confidence intervals" if ci_level is not None else "no confidence interval drawn"
    return f"{caption} (n = {n:,} {n_unit}; {ci})"


def figure_html(png: bytes, caption: str, n: int, ci_level: float | None, n_unit: str = "observations") -> str:
    """A PNG embedded as a base64 data URI with its caption, sample size and CI level."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("figure is not PNG bytes")
    text = _esc(figure_caption(caption, n, ci_level, n_unit))
    data = base64.b64encode(png).decode("ascii")
    image = f'<img src="data:image/png;base64,{data}" alt="{_esc(caption)}">'
    return f"<figure>{image}<figcaption>{text}</figcaption></figure>"


def markout_figure(curve: pl.DataFrame, title: str) -> str:
    """:func:`validation.reporting.measurement_figures.plot_markout_curve` of a ``markout_curve`` frame, captioned with
    its fills."""
    n = int(curve.group_by("population", "side").agg(pl.col("n").max())["n"].sum()) if curve.height else 0
    caption = f"{title}: mean markout by horizon, per population and side"
    return figure_html(plot_markout_curve(curve, title), caption, n, MARKOUT_CI_LEVEL, "fills")


def reliability_figure(diagram: ReliabilityDiagram, title: str) -> str:
    """:func:`validation.reporting.measurement_figures.plot_reliability_diagram` with its forecasts and Wilson
    level."""
    caption = f"{title}: observed frequency vs mean forecast per bin"
    return figure_html(
        plot_reliability_diagram(diagram, title), caption, int(diagram.counts.sum()), diagram.confidence, "forecasts"
    )


# ---------------------------------------------------------------------------------------------------------------
# component verdicts


def verdict_frame(verdicts: Mapping[str, Verdict], identical: Mapping[str, str] | None = None) -> pl.DataFrame:
    """One row per component: decision, one-sided p-value, paired periods, effective n, effect and its CI, and the
    earlier variant whose out-of-sample P&L it repeats exactly (``identical``: not a trial of its own)."""
    identical = identical or {}
    return pl.DataFrame(
        {
            "component": list(verdicts),
            "identical_to": [identical.get(name) for name in verdicts],
            "decision": [v.decision for v in verdicts.values()],
            "p_value": [v.p_value for v in verdicts.values()],
            "n": [v.n for v in verdicts.values()],
            "n_effective": [v.n_effective for v in verdicts.values()],
            "effect": [v.effect for v in verdicts.values()],
            "ci_low": [v.ci[0] for v in verdicts.values()],
            "ci_high": [v.ci[1] for v in verdicts.values()],
        },
        schema={
            "component": pl.String,
            "identical_to": pl.String,
            "decision": pl.String,
            "p_value": pl.Float64,
            "n": pl.Int64,
            "n_effective": pl.Float64,
            "effect": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
        },
    )


def verdict_table_html(
    verdicts: Mapping[str, Verdict],
    alpha: float = 0.05,
    effect_unit: str = "quote currency per period",
    identical: Mapping[str, str] | None = None,
) -> str:
    """The component verdict table, rows shaded by decision; the CI is the two-sided ``1 - 2 alpha`` HAC interval;
    ``identical`` flags variants whose P&L repeats an earlier variant's."""
    frame = verdict_frame(verdicts, identical)
    caption = (
        f"Component verdicts: effect = mean(variant \u2212 baseline) P&L, {effect_unit}; "
        f"one-sided HAC t-test at \u03b1 = {alpha:g}; CI = {1 - 2 * alpha:.0%} two-sided HAC interval; "
        "n = paired out-of-sample periods; identical_to = the earlier variant with exactly the same P&L (the same "
        "trades: one trial, not two)"
    )
    return table_html(frame, caption, row_classes=[DECISION_CLASSES[d] for d in frame["decision"]])


def diagnosis_table_html(frame: pl.DataFrame, caption: str) -> str:
    """The per-component diagnosis table (a ``verdict`` column: add / keep simple / no fix / untested), rows
    shaded by verdict, in the frame's order."""
    return table_html(frame, caption, row_classes=[DIAGNOSIS_CLASSES[v] for v in frame["verdict"]])


# ---------------------------------------------------------------------------------------------------------------
# plots


MARGINS_IN = (0.8, 0.2, 0.6, 0.35)
"""Left, right, bottom and top margins of the report's figures, inches: room for the tick labels, axis labels and
title at the fonts used here, set once rather than measured by ``tight_layout`` (which draws the figure once more
to measure its text: ~40% of a figure's cost)."""


def _new_figure(width: float = 8.0, height: float = 4.0) -> Figure:
    """A figure with :data:`MARGINS_IN` margins."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    left, right, bottom, top = MARGINS_IN
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)
    return figure


def _subplot_gaps(figure: Figure, rows: int, columns: int, gap_in: tuple[float, float]) -> None:
    """Space subplots of a ``rows`` x ``columns`` grid ``gap_in`` (horizontal, vertical) inches apart."""
    width, height = figure.get_size_inches()
    pars = figure.subplotpars
    grid_w, grid_h = (pars.right - pars.left) * width, (pars.top - pars.bottom) * height
    cell_w = (grid_w - gap_in[0] * (columns - 1)) / columns
    cell_h = (grid_h - gap_in[1] * (rows - 1)) / rows
    figure.subplots_adjust(wspace=gap_in[0] / cell_w, hspace=gap_in[1] / cell_h)


def _png(figure: Figure) -> bytes:
    """PNG bytes of a figure, without the metadata text chunks (no URLs inside the image either)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _utc_times(time_ms: pl.Series) -> np.ndarray:
    return time_ms.cast(pl.Int64).to_numpy().astype("datetime64[ms]")


def _time_axis(ax: Axes) -> None:
    """Concise UTC date labels on the x axis."""
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def plot_equity_curves(
    curves: Mapping[str, pl.DataFrame],
    title: str = "Out-of-sample equity",
    time_col: str = "time",
    equity_col: str = "equity",
    boundaries_ms: Sequence[int] = (),
) -> bytes:
    """PNG of equity (quote currency) over UTC time, one line per variant; dotted lines at ``boundaries_ms``
    (e.g. the walk-forward test starts)."""
    if not curves:
        raise ValueError("no equity curves to plot")
    figure = _new_figure()
    ax = figure.add_subplot()
    for name, frame in curves.items():
        frame = frame.sort(time_col)
        ax.plot(_utc_times(frame[time_col]), frame[equity_col].cast(pl.Float64).to_numpy(), label=name, lw=1.2)
    for boundary in boundaries_ms:
        ax.axvline(date2num(np.datetime64(int(boundary), "ms")), color="grey", ls=":", lw=0.8)
    ax.axhline(0.0, color="black", lw=0.6)
    _time_axis(ax)
    ax.set_ylabel("equity (quote currency)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(figure)


DIFFERENCE_GAPS_IN = (0.7, 0.75)
"""Room between the variant-difference panels, inches: the left one's tick labels, and the upper one's date labels
above the lower one's title."""


def plot_variant_differences(
    time_ms: pl.Series,
    differences: Mapping[str, np.ndarray],
    intervals: Mapping[str, tuple[float, float] | None],
    notes: Mapping[str, str] | None = None,
) -> bytes:
    """PNG of each variant minus the baseline: one panel per variant with the cumulative per-period P&L difference
    (quote currency) over UTC time and, shaded, its mean effect's interval times the periods elapsed
    (``intervals``: per-period ``(low, high)``, e.g. the verdict's HAC interval; None draws no band). The band
    clears zero exactly when the interval does; the line shows when the difference was made. ``notes`` are added
    to a panel's title (e.g. "identical to baseline")."""
    if not differences:
        raise ValueError("no variant to compare with the baseline")
    notes = notes or {}
    times = _utc_times(time_ms)
    periods = np.arange(1, len(times) + 1, dtype=float)
    columns = 2 if len(differences) > 1 else 1
    rows = math.ceil(len(differences) / columns)
    figure = _new_figure(8.0, 2.4 * rows + 0.4)
    _subplot_gaps(figure, rows, columns, DIFFERENCE_GAPS_IN)
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True)
    for ax, (name, difference) in zip(axes.flat, differences.items(), strict=False):
        ax.axhline(0.0, color="black", lw=0.6)
        interval = intervals.get(name)
        if interval is not None and all(math.isfinite(x) for x in interval):
            ax.fill_between(times, periods * interval[0], periods * interval[1], color="C0", alpha=0.2, lw=0)
        ax.plot(times, np.cumsum(np.asarray(difference, dtype=float)), color="C0", lw=1.1)
        ax.set_title(f"{name} \u2212 baseline" + (f" ({notes[name]})" if name in notes else ""), fontsize=9)
        ax.tick_params(labelsize=7, labelbottom=True)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    for ax in list(axes.flat)[len(differences) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("cum. \u0394 P&L (quote)", fontsize=8)
    return _png(figure)


def plot_regime_timeline(
    beliefs: pl.DataFrame, title: str = "Filtered regime beliefs", time_col: str = "time"
) -> bytes:
    """PNG of the filtered belief of each ``belief_<state>`` column over UTC time as a stacked area; each row
    holds from its ``time`` (when it became known) to the next, missing states count as 0."""
    states = [c for c in beliefs.columns if c.startswith("belief_")]
    if not states:
        raise ValueError(f"no belief_<state> columns in {beliefs.columns}")
    frame = beliefs.sort(time_col)
    times = _utc_times(frame[time_col])
    values = frame.select(pl.col(states).cast(pl.Float64).fill_null(0.0).fill_nan(0.0)).to_numpy().T
    names = [c.removeprefix("belief_") for c in states]
    figure = _new_figure(8.0, 3.0)
    ax = figure.add_subplot()
    colours = [REGIME_COLOURS.get(name, f"C{k}") for k, name in enumerate(names)]
    ax.stackplot(times, values, labels=names, colors=colours, step="post", alpha=0.85)
    ax.set_ylim(0.0, 1.0)
    _time_axis(ax)
    ax.set_ylabel("P(state | past data)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncols=len(names))
    return _png(figure)
