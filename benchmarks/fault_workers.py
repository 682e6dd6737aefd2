"""The processes ``bench_faults`` starts (spawn): kept apart from it so that each starts by importing only what it
runs (polars and deltalake, or the CLI), not hypothesis and the test helpers."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import polars as pl

from data_lake.lake import Lake
from tests.support import DEMO_COIN, DEMO_DAY

ROWS = 20_000
WRITER_TABLES = ("trades", "book", "asset_ctx")


def partition(rows: int = ROWS) -> pl.DataFrame:
    """A demo partition of ``rows`` distinct keys, valid for every writer table."""
    return pl.DataFrame(
        {"coin": [DEMO_COIN] * rows, "date": [DEMO_DAY] * rows, "time": range(rows), "tid": range(rows)}
    )


def write_forever(root: str) -> None:
    """Replace the demo partition of every writer table, again and again (until killed)."""
    lake, df = Lake(root, storage_options={}), partition()
    while True:
        for name in WRITER_TABLES:
            lake.write_partition(name, df, DEMO_COIN, DEMO_DAY)


def write_once(root: str, barrier: Any, out: Any) -> None:
    """Replace the demo partition of ``trades`` as soon as the other writer is ready; "ok" or the exception's name."""
    lake = Lake(root, storage_options={})
    barrier.wait()
    try:
        lake.write_partition("trades", partition(), DEMO_COIN, DEMO_DAY)
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - the outcome is the finding
        out.put(type(exc).__name__)


def cli_import(path: str, raw: str, barrier: Any, out: Any) -> None:
    """``smallfish import node-trades PATH --raw RAW`` once the other importer is ready; (exit code, traceback seen)."""
    from quoting.cli.main import main

    err = io.StringIO()
    barrier.wait()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["import", "node-trades", path, "--raw", raw])
        out.put((code, "Traceback" in err.getvalue()))
    except BaseException:  # noqa: BLE001 - anything escaping main is a traceback a user would see
        out.put((None, True))
