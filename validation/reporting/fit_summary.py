"""What a night's fits say, in words and small tables, for the fit assets' metadata: the estimates by segment with
SE, unit, n and status, the data warnings and which segments raised them, the status counts, and the window's
coverage. Pure text from :class:`calibration.fit_result.FitResult` pairs; the assets attach it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

from calibration.coverage import Coverage
from calibration.window_fits import Segmented


def estimates_markdown(fits: Segmented, prefixes: tuple[str, ...]) -> str:
    """Markdown table of the estimates whose names start with one of ``prefixes``, with SE, unit, n and status; a
    fit without estimates shows its status alone."""
    lines = ["| segment | model | param | value | SE | unit | n | status |", "|---|---|---|---|---|---|---|---|"]
    for segment, fit in fits:
        if not fit.estimates:
            lines.append(f"| {segment} | {fit.model} | | | | | {fit.n} | {fit.status} |")
        for name, value in fit.estimates.items():
            if name.startswith(prefixes):
                se, unit = fit.std_errors.get(name, math.nan), fit.units.get(name, "")
                row = f"| {segment} | {fit.model} | {name} | {value:.6g} | {se:.3g} | {unit} | {fit.n} | {fit.status} |"
                lines.append(row)
    return "\n".join(lines)


def warnings_by_segment(fits: Segmented) -> list[str]:
    """Each distinct ``model: warning`` once, followed by the segments that raised it (``[all, side=buy]``)."""
    segments_by_warning: dict[str, list[str]] = {}
    for segment, fit in fits:
        for w in fit.warnings:
            segments_by_warning.setdefault(f"{fit.model}: {w}", []).append(segment)
    return [f"{w} [{', '.join(segments)}]" for w, segments in segments_by_warning.items()]


def statuses(fits: Segmented) -> dict[str, int]:
    """How many segments ended in each status."""
    return dict(Counter(fit.status for _, fit in fits))


def no_fit_reason(fits: Segmented) -> str | None:
    """Why nothing was estimated (every distinct warning), or None when any fit has estimates (a ``low_coverage``
    fit is a fit)."""
    if any(fit.estimates for _, fit in fits):
        return None
    return "no fit: " + "; ".join(dict.fromkeys(w for _, fit in fits for w in fit.warnings))


def coverage_figures(coverage: Coverage, heartbeat: str) -> dict[str, float | int | str]:
    """A fit window's coverage: covered hours and share, intervals, what the coverage was read from."""
    return {
        "covered_hours": round(coverage.seconds / 3600, 3),
        "covered_fraction": round(coverage.fraction, 4),
        "covered_intervals": len(coverage.intervals),
        "coverage_from": heartbeat,
    }


def window_text(start_ms: int, end_ms: int) -> str:
    """``[start_ms, end_ms)`` as UTC ISO minutes, ``start .. end``."""
    return f"{_iso(start_ms)} .. {_iso(end_ms)}"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="minutes")
