"""One fold part's frames, and the values every variant derives from them computed once per part.

The variants of one walk-forward fold are fitted on one train slice and simulated on one test slice; what they all
derive from those frames (mids, taker orders, reach events, the backtest's tape arrays) is computed once per part
and kept by that part's :class:`FoldData`, so it is released with the part: no module-level cache, no dependence
on call order, nothing kept alive after the fold. A plain mapping of frames (a test's hand-built market) is
accepted everywhere a :class:`FoldData` is; its derived values are simply recomputed at each use.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, TypeVar

import polars as pl

T = TypeVar("T")


class FoldData(Mapping[str, pl.DataFrame]):
    """Read-only frames of one fold part (``trades``, ``book``, ``features``, ...) with their derived values."""

    def __init__(self, frames: Mapping[str, pl.DataFrame]) -> None:
        self._frames = dict(frames)
        self._derived: dict[tuple[str, Hashable], Any] = {}

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def derived(self, name: str, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``(name, key)`` is asked of this part, the stored value afterwards."""
        slot = (name, key)
        if slot not in self._derived:
            self._derived[slot] = compute()
        return self._derived[slot]


def derived(data: Mapping[str, pl.DataFrame], name: str, key: Hashable, compute: Callable[[], T]) -> T:
    """The value ``compute()`` derives from ``data``'s frames: once per :class:`FoldData` (``name`` and ``key``
    identify it; ``key`` holds every parameter besides the frames), every time for any other mapping."""
    if isinstance(data, FoldData):
        return data.derived(name, key, compute)
    return compute()
