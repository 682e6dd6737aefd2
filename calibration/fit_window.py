"""The training window of the nightly fits: the contiguous run of UTC days with data that ends with the fitted day.

A fit reads at most ``window_days`` days; a day without data (a capture gap of a whole day, or days before the
first capture) ends the run, so a window never straddles missing days. The window's bounds [start_ms, end_ms) are
stored with every estimate (:mod:`calibration.fit_rows`). Times are UTC epoch ms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from data_lake.units import DAY_MS, day_bounds_ms


@dataclass(frozen=True)
class FitWindowSettings:
    """How many UTC days a fit reads: the fitted day and up to ``window_days - 1`` days before it."""

    window_days: int = 7


@dataclass(frozen=True)
class FitWindow:
    """The days actually used and their span [start_ms, end_ms)."""

    days: tuple[dt.date, ...]
    start_ms: int
    end_ms: int

    @property
    def bounds(self) -> tuple[int, int]:
        return self.start_ms, self.end_ms

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1e3

    def day_range(self, date: dt.date) -> tuple[dt.date, dt.date]:
        """First and last day to read: the window's days, or ``date`` alone when the window is empty."""
        return (self.days[0], self.days[-1]) if self.days else (date, date)


def contiguous_window(present: Collection[dt.date], date: dt.date, window_days: int) -> FitWindow:
    """The contiguous run of days in ``present`` ending with ``date`` (at most ``window_days``); no days (an empty
    window at ``date``'s end) when ``date`` itself is not present."""
    days: list[dt.date] = []
    day = date
    while day in present and len(days) < window_days:
        days.append(day)
        day -= dt.timedelta(days=1)
    end = day_bounds_ms(date)[1]
    return FitWindow(tuple(reversed(days)), end - len(days) * DAY_MS, end)
