"""The quoter's own log frames (``quoterQuote``, ``quoterOrder``, ``quoterFill``, ...): one ``quoter_log`` row each."""

from __future__ import annotations

import polars as pl

from data_lake.parsers.decode import side_sign
from data_lake.parsers.records import Records, candidate


def quoter_frames(frame: pl.DataFrame) -> Records:
    """Decode the common fields (times ms, prices quote currency, predictions) and keep the whole frame as JSON: its
    ``data`` object as written (a decision's quoted sides, tau, ...), not only the decoded fields."""
    data = pl.col("data").struct
    df = frame.select(
        "_file",
        "_line",
        pl.lit(0, pl.Int32).alias("_item"),
        data.field("coin").alias("coin"),
        data.field("time").alias("time"),
        pl.col("text").str.extract(r'"channel"\s*:\s*"([^"]+)"').alias("channel"),
        pl.coalesce(data.field("event"), data.field("status"), data.field("state")).alias("event"),
        data.field("oid").alias("oid"),
        data.field("tid").alias("tid"),
        side_sign(data.field("side")).alias("side"),
        *(data.field(c).alias(c) for c in ("px", "sz", "pred_fill_prob", "pred_adverse_bps")),
        *(data.field(c).alias(c) for c in ("belief_calm", "belief_volatile", "belief_cascade", "param_set_id")),
        pl.coalesce(pl.col("text").str.json_path_match("$.raw.data"), pl.col("data").struct.json_encode()).alias(
            "payload"
        ),
        "recv_time_ns",
        pl.col("text").alias("_raw"),
    )
    return Records(tables={"quoter_log": candidate("quoter_log", df)})
