"""Great Expectations 1.x suites for the clean tables, run on a pandas copy inside Dagster asset checks.

GX has no polars datasource and no Dagster integration for 1.x, so it is imported lazily here and fed
``DataFrame.to_pandas()``; an ephemeral context keeps runs free of shared on-disk state. One context, pandas data
source and whole-dataframe batch definition serve every suite a process runs (:func:`_batch_definition`): a context,
data source, suite and validation definition built per suite cost ~0.1 s each time (the context's stores serialise
each to YAML) for the same validator on the same batch. The sanity bounds (tid range, prices within 10x of the day's
median, sizes within the notional bound) come from :mod:`data_lake.contract`, the same definition the cleaning's
quarantine rules use.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from data_lake import contract
from data_lake.tables import table as catalogue_table
from data_lake.units import day_bounds_ms

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # read by GX when first imported (lazily, below)


@dataclass(frozen=True)
class SuiteResult:
    """Outcome of one suite: overall success, counts, and one row per failed expectation."""

    suite: str
    success: bool
    evaluated: int
    successful: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        rows = "\n".join(
            f"| {f['expectation']} | {f.get('column', '')} "
            f"| {f.get('unexpected_count', '')} | {f.get('observed_value', '')} |"
            for f in self.failures
        )
        table = (
            "| expectation | column | unexpected | observed |\n|---|---|---|---|\n" + rows
            if self.failures
            else "all passed"
        )
        return {"evaluated": self.evaluated, "successful": self.successful, "failures": table}


@dataclass(frozen=True)
class TableSuite:
    """The suite of one table on one day, built once per check (:func:`table_suite`) and passed to both
    :func:`columns_read` and :func:`run_suite`: ``rules``, the table's own expectations; the contract's ranges are
    added by :func:`run_suite`, from the bounds of the partition it validates."""

    table: str
    date: dt.date
    rules: tuple[Any, ...]


def table_suite(table: str, date: dt.date) -> TableSuite:
    """The suite of ``table`` on ``date`` (its expectations as GX objects; a ``KeyError`` for a table without one)."""
    return TableSuite(table, date, tuple(_table_expectations(table, date)))


def _ranges(table: str, bounds: contract.Bounds | None) -> list[Any]:
    """The contract's ranges of ``table`` for a partition's ``bounds`` (:func:`data_lake.contract.expected_ranges`)."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
        for column, (low, high) in contract.expected_ranges(table, bounds).items()
    ]


def _table_expectations(table: str, date: dt.date) -> list[Any]:
    import great_expectations.expectations as gxe

    start, end = day_bounds_ms(date)
    in_day = gxe.ExpectColumnValuesToBeBetween(column="time", min_value=start, max_value=end - 1)
    if table == "trades":
        return [
            *(gxe.ExpectColumnToExist(column=c) for c in ("coin", "time", "tid", "px", "sz", "side")),
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("time", "tid", "px", "sz", "side")),
            gxe.ExpectColumnValuesToBeBetween(column="px", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeBetween(column="sz", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeInSet(column="side", value_set=[-1, 1]),
            gxe.ExpectColumnValuesToBeIncreasing(column="time"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["coin", "time", "tid"]),
            in_day,
        ]
    if table == "book":
        return [
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("time", "bid_px_1", "ask_px_1", "mid")),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="ask_px_1", column_B="bid_px_1"),
            gxe.ExpectColumnValuesToBeBetween(column="spread_bps", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeBetween(column="bid_sz_1", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeBetween(column="ask_sz_1", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeBetween(column="imbalance_1", min_value=-1, max_value=1),
            gxe.ExpectColumnValuesToBeIncreasing(column="time"),
            in_day,
        ]
    if table == "asset_ctx":
        return [
            gxe.ExpectColumnValuesToNotBeNull(column="time"),
            gxe.ExpectColumnValuesToBeBetween(column="mark_px", min_value=0, strict_min=True, mostly=1.0),
            gxe.ExpectColumnValuesToBeBetween(
                column="funding", min_value=-contract.FUNDING_CAP, max_value=contract.FUNDING_CAP
            ),
            gxe.ExpectColumnValuesToBeIncreasing(column="time"),
            in_day,
        ]
    if table == "fills":
        return [
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("time", "oid", "px", "sz", "side")),
            gxe.ExpectColumnValuesToBeBetween(column="px", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeBetween(column="sz", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeInSet(column="side", value_set=[-1, 1]),
            gxe.ExpectColumnValuesToBeIncreasing(column="time"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["coin", "time", "tid", "oid"]),
            in_day,
        ]
    if table == "order_updates":
        return [
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("time", "oid", "side", "status")),
            gxe.ExpectColumnValuesToBeInSet(column="side", value_set=[-1, 1]),
            gxe.ExpectColumnValuesToBeBetween(column="limit_px", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeBetween(column="sz", min_value=0),
            gxe.ExpectColumnValuesToBeIncreasing(column="time"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["coin", "time", "oid", "status"]),
            in_day,
        ]
    if table == "quoter_log":
        return [
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("time", "channel", "payload")),
            gxe.ExpectColumnValuesToBeInSet(column="side", value_set=[-1, 1]),
            *(
                gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1)
                for c in ("pred_fill_prob", "belief_calm", "belief_volatile", "belief_cascade")
            ),
            gxe.ExpectColumnValuesToBeIncreasing(column="time"),
            in_day,
        ]
    if table == "quarantine":
        return [
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("source", "file", "line", "item", "reason")),
            gxe.ExpectColumnValuesToBeBetween(column="line", min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="item", min_value=0),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["source", "file", "line", "item"]),
        ]
    if table == "raw_captures":
        return [
            *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("source", "file", "bytes", "lines")),
            gxe.ExpectColumnValuesToBeBetween(column="bytes", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="lines", min_value=0),
            gxe.ExpectColumnValuesToBeUnique(column="file"),
        ]
    raise KeyError(f"no expectation suite for table {table!r}")


def _columns_checked(expectations: Iterable[Any]) -> set[str]:
    """The columns a suite reads: GX computes metrics over every column it is given (a 42-column book
    partition validates in 2.3 s whole, 0.3 s cut to the 8 columns its expectations name)."""
    names: set[str] = set()
    for expectation in expectations:
        kwargs = expectation.configuration.kwargs
        names.update(kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs)
        names.update(kwargs.get("column_list", ()))
    return names


def columns_read(suite: TableSuite) -> list[str]:
    """The columns of the suite's table (catalogue order) :func:`run_suite` reads: those its expectations name and
    those :func:`data_lake.contract.extremes` takes (a book's every price and size level). Reading only these skips
    the rest of a wide partition (the book's 132 columns, 84 of them read)."""
    schema = catalogue_table(suite.table).schema
    needed = _columns_checked(suite.rules)
    if suite.table in contract.BOUNDED_TABLES:
        needed |= {c for expr in contract.extremes(suite.table, set(schema)).values() for c in expr.meta.root_names()}
    return [c for c in schema if c in needed]


@functools.cache
def _batch_definition() -> BatchDefinition:
    """A whole-dataframe batch definition on a pandas data source of this process's one ephemeral context (built on
    first use, progress bars off)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return (
        context.data_sources.add_pandas("partitions")
        .add_dataframe_asset("partition")
        .add_batch_definition_whole_dataframe("whole")
    )


def run_suite(suite: TableSuite, df: pl.DataFrame) -> SuiteResult:
    """Validate one partition of the suite's table with its expectations and the contract's ranges for the
    partition's bounds (:func:`data_lake.contract.expected_ranges`); an empty partition trivially passes. ``df``
    needs at least the :func:`columns_read` columns."""
    import great_expectations as gx

    table = suite.table
    name = f"{table}_{suite.date.isoformat()}"
    expectations = [*suite.rules, *_ranges(table, contract.day_bounds(table, df))]
    if df.height == 0:
        return SuiteResult(name, True, len(expectations), len(expectations))
    if table in contract.BOUNDED_TABLES:
        df = df.with_columns(**contract.extremes(table, df.columns))
    checked_columns = _columns_checked(expectations)
    checked = df.select(c for c in df.columns if c in checked_columns)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": checked.to_pandas()})
    result = batch.validate(
        gx.ExpectationSuite(name=f"{name}_suite", expectations=expectations), result_format="SUMMARY"
    )
    failures = []
    for r in result.results:
        if r.success:
            continue
        config = r.expectation_config  # None only for a result GX could not tie to an expectation: kept, "unknown"
        kwargs = config.kwargs if config is not None else {}
        failures.append(
            {
                "expectation": config.type if config is not None else "unknown",
                "column": kwargs.get("column", kwargs.get("column_list", "")),
                "unexpected_count": (r.result or {}).get("unexpected_count"),
                "observed_value": (r.result or {}).get("observed_value"),
                "exception": (r.exception_info or {}).get("exception_message")
                if isinstance(r.exception_info, dict)
                else None,
            }
        )
    stats = result.statistics
    return SuiteResult(
        name,
        bool(result.success),
        int(stats["evaluated_expectations"]),
        int(stats["successful_expectations"]),
        failures,
    )
