"""Vectorised Hyperliquid wire text: decimal strings and the raw-zone envelope, identical to the scalar helpers."""

from __future__ import annotations

import numpy as np
import polars as pl


def decimal_strings(units: np.ndarray, decimals: int) -> pl.Series:
    """Decimal text of ``units * 10**-decimals`` as Hyperliquid writes it: trailing zeros stripped, at least one
    decimal kept (``25.1``, ``25.0``, ``0.0000125``, ``-0.0002483354``)."""
    values = pl.Series(np.asarray(units, dtype=np.int64))
    scale = 10**decimals
    magnitude = values.abs()
    fraction = (magnitude % scale).cast(pl.String).str.zfill(decimals).str.strip_chars_end("0")
    frame = pl.DataFrame({"negative": values < 0, "whole": (magnitude // scale).cast(pl.String), "fraction": fraction})
    return frame.select(
        pl.concat_str(
            pl.when(pl.col("negative")).then(pl.lit("-")).otherwise(pl.lit("")),
            pl.col("whole"),
            pl.lit("."),
            pl.when(pl.col("fraction") == "").then(pl.lit("0")).otherwise(pl.col("fraction")),
        )
    ).to_series()


def iso_ns_strings(recv_time_ns: np.ndarray) -> pl.Series:
    """Envelope receive times, the same text as :func:`data_lake.raw_zone.iso_ns` (ISO, 9 decimals, no zone)."""
    stamps = pl.Series(np.asarray(recv_time_ns, dtype=np.int64)).cast(pl.Datetime("ns"))
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%S%.9f")


def envelope_lines(recv_time_ns: np.ndarray, frames: pl.Series) -> pl.Series:
    """Raw-zone lines ``{"time":..,"ver_num":1,"raw":<frame>}``, byte-identical to :func:`raw_zone.envelope`."""
    return (
        pl.DataFrame({"iso": iso_ns_strings(recv_time_ns), "frame": frames})
        .select(
            pl.concat_str(
                pl.lit('{"time":"'), pl.col("iso"), pl.lit('","ver_num":1,"raw":'), pl.col("frame"), pl.lit("}")
            )
        )
        .to_series()
    )
