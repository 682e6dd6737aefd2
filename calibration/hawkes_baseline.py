"""Where Hawkes events were observed, and the hour-of-day baseline profile: covered segments, exposures, bins.

Coverage. Events are observed on covered intervals inside the window (:mod:`calibration.coverage`); the
likelihood is the product over covered segments, each starting empty: the intensity at the start of a segment
carries no excitation from before it, because the events of the gap before it were not observed (carrying the
excitation of the last observed events across the gap would leave out that of the unobserved ones). This is the
same conditional likelihood as at the window start; its edge effect is one kernel lifetime 1/β per segment.

Baseline. μ(t) is piecewise constant over the hour of day (UTC), the same profile every day of the window:
λ(t) = μ_{b(h(t))} + excitation, where bin b groups consecutive hours. Intraday seasonality read by a constant
baseline inflates the branching ratio towards 1 (Filimonov & Sornette 2015, Quant. Finance 15:1293-1314; the
periodic piecewise-constant baseline is tick's ``HawkesSumExpKern(n_baselines, period_length)``). Hours are
grouped in order of the day so that each bin holds at least ``MIN_EVENTS_PER_BIN`` events: every bin's μ is then
identified, and hours never covered carry no parameter. Times are seconds since the Unix epoch (UTC), so the hour
of day of a time t is floor((t mod 86400) / 3600); synthetic times counted from 0 read 0 as midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Self, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from data_lake.units import DAY_S, HOUR_S

HOURS = 24
MIN_EVENTS_PER_BIN = 20


@dataclass(frozen=True, eq=False)
class Observed:
    """Events on the covered part of a window, times in seconds from the window start.

    ``t`` sorted event times; ``segment[i]`` the covered interval holding event i; ``starts``/``ends`` the covered
    intervals; ``phase`` the window start's second of the UTC day; ``window_s`` the window length; ``outside`` the
    number of events dropped because no covered interval holds them.
    """

    t: NDArray[np.float64]
    segment: NDArray[np.int64]
    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    phase: float
    window_s: float
    outside: int

    @property
    def covered_s(self) -> float:
        return float(np.sum(self.ends - self.starts))

    @property
    def hours(self) -> NDArray[np.int64]:
        """Hour of the UTC day of each event."""
        return hour_of_day(self.t, self.phase)

    def hour_exposure(self) -> NDArray[np.float64]:
        """Covered seconds in each hour of the UTC day (24 values summing to the covered time)."""
        return hour_exposure(self.starts, self.ends, self.phase)

    def operational_times(self) -> NDArray[np.float64]:
        """Event times on the covered clock (:func:`covered_clock`), for the count moments."""
        return covered_clock(self.t, self.segment, self.starts, self.ends)

    def tied_events(self) -> int:
        """Events sharing their timestamp with the previous event of the same segment."""
        return int(np.count_nonzero((np.diff(self.t) == 0) & (np.diff(self.segment) == 0)))


ObservedT = TypeVar("ObservedT", bound=Observed)


@dataclass(frozen=True, eq=False)
class BinnedEvents(Generic[ObservedT]):
    """Observed events with their baseline bins, what a likelihood reads: ``bins[i]`` the bin of event i,
    ``exposure[k]`` the covered seconds of bin k, ``hour_bin[h]`` the bin of hour of day h. The univariate and
    bivariate models' designs extend it with their own likelihood passes."""

    observed: ObservedT
    bins: NDArray[np.int64]
    exposure: NDArray[np.float64]
    hour_bin: NDArray[np.int64]

    @property
    def n_bins(self) -> int:
        return int(self.exposure.size)

    @classmethod
    def binned(cls, observed: ObservedT, hour_bin: NDArray[np.int64]) -> Self:
        """Bins of the events and covered seconds per bin; one bin: the exposure is the covered time itself."""
        n_bins = int(hour_bin.max()) + 1
        if n_bins == 1:
            exposure = np.array([observed.covered_s])
            bins: NDArray[np.int64] = np.zeros(observed.t.size, np.int64)
        else:
            exposure = np.bincount(hour_bin, weights=observed.hour_exposure(), minlength=n_bins)
            bins = np.ascontiguousarray(hour_bin[observed.hours], dtype=np.int64)
        return cls(observed, bins, exposure, np.ascontiguousarray(hour_bin, dtype=np.int64))


def observe(t: NDArray[np.float64], window_s: float, start_time: float, covered: ArrayLike | None) -> Observed:
    """:class:`Observed` from validated event times ``t`` relative to ``start_time`` in a window of ``window_s``.

    ``covered``: (k, 2) intervals in the units of the absolute times, sorted and disjoint (None: the whole window);
    clipped to the window. An event belongs to the interval [start, end] holding it; events in no interval are
    counted in ``outside`` and left out.
    """
    starts, ends = covered_window(window_s, start_time, covered)
    segment = segment_of(t, starts, ends)
    inside = segment >= 0
    everything = bool(inside.all())
    return Observed(
        t=t if everything else np.ascontiguousarray(t[inside]),
        segment=segment if everything else np.ascontiguousarray(segment[inside]),
        starts=starts,
        ends=ends,
        phase=float(start_time % DAY_S),
        window_s=float(window_s),
        outside=int(np.count_nonzero(~inside)),
    )


def covered_window(
    window_s: float, start_time: float, covered: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Starts and ends of the covered intervals relative to ``start_time``, clipped to [0, ``window_s``]."""
    if covered is None:
        return np.array([0.0]), np.array([float(window_s)])
    intervals = np.clip(np.asarray(covered, dtype=np.float64).reshape(-1, 2) - start_time, 0.0, window_s)
    intervals = intervals[intervals[:, 1] > intervals[:, 0]]
    if np.any(intervals[1:, 0] < intervals[:-1, 1]):
        raise ValueError("covered intervals must be sorted and disjoint")
    return np.ascontiguousarray(intervals[:, 0]), np.ascontiguousarray(intervals[:, 1])


def segment_of(t: NDArray[np.float64], starts: NDArray[np.float64], ends: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index of the covered interval [start, end] holding each time, -1 outside all of them."""
    if starts.size == 1:  # the common whole-window case, without a search
        return np.where((t >= starts[0]) & (t <= ends[0]), 0, -1).astype(np.int64)
    segment = np.searchsorted(starts, t, side="right") - 1
    inside = segment >= 0
    inside[inside] = t[inside] <= ends[segment[inside]]
    return np.where(inside, segment, -1).astype(np.int64)


def covered_clock(
    t: NDArray[np.float64], segment: NDArray[np.int64], starts: NDArray[np.float64], ends: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Times on the covered clock: covered intervals laid end to end, gaps cut out (from 0 to the covered time)."""
    before = np.concatenate([[0.0], np.cumsum(ends - starts)[:-1]])
    return np.ascontiguousarray(t - starts[segment] + before[segment])


def hour_of_day(t: NDArray[np.float64], phase: float) -> NDArray[np.int64]:
    """Hour of the UTC day of times ``t`` counted from a window start at second ``phase`` of its day."""
    return (np.mod(t + phase, DAY_S) // HOUR_S).astype(np.int64)


def hour_exposure(starts: NDArray[np.float64], ends: NDArray[np.float64], phase: float) -> NDArray[np.float64]:
    """Covered seconds in each hour of the UTC day of the intervals [starts, ends) (24 values)."""
    return _time_in_hour(ends + phase) - _time_in_hour(starts + phase)


def _time_in_hour(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Seconds spent in each hour of the day between day 0's midnight and each x, summed over the x (24 values)."""
    days, second = np.divmod(np.asarray(x, dtype=np.float64), DAY_S)
    hour_start = HOUR_S * np.arange(HOURS)
    inside_today = np.clip(second[:, None] - hour_start[None, :], 0.0, HOUR_S)
    return np.sum(days[:, None] * HOUR_S + inside_today, axis=0)


def hour_bins(counts: ArrayLike, min_events: int = MIN_EVENTS_PER_BIN) -> NDArray[np.int64]:
    """Bin of each hour of the day (24 values): consecutive hours grouped until each bin has ``min_events`` events.

    ``counts``: events per hour of the day, 24 values, or one row of 24 per component (then every component needs
    ``min_events`` in every bin). Walking hours 0 to 23, an hour joins the current bin, which closes once it holds
    ``min_events``; a last bin short of that joins the one before it. Hours without events join whichever bin is
    open (they add no parameter). All hours in bin 0 means the profile is constant.
    """
    per_hour = np.atleast_2d(np.asarray(counts))
    bins = np.empty(HOURS, np.int64)
    current, held = 0, np.zeros(per_hour.shape[0])
    for hour in range(HOURS):
        bins[hour] = current
        held += per_hour[:, hour]
        if np.all(held >= min_events):
            current, held = current + 1, held * 0
    if np.any(held < min_events) and current > 0:  # the open bin at midnight is short: merge it backwards
        bins[bins == current] = current - 1
    return bins


def bin_names(bins: NDArray[np.int64]) -> list[str]:
    """``mu_hHH`` (one hour) or ``mu_hHH_HH`` (first and last hour of the bin) for each bin of :func:`hour_bins`."""
    names = []
    for b in range(int(bins.max()) + 1):
        hours = np.flatnonzero(bins == b)
        first, last = int(hours[0]), int(hours[-1])
        names.append(f"mu_h{first:02d}" if first == last else f"mu_h{first:02d}_{last:02d}")
    return names


def cumulative_hour_rates(hour_rate: NDArray[np.float64]) -> NDArray[np.float64]:
    """∫ of the hour-of-day baseline from midnight to the start of each hour (25 values, the last = one day)."""
    return np.concatenate([[0.0], np.cumsum(HOUR_S * np.asarray(hour_rate, dtype=np.float64))])
