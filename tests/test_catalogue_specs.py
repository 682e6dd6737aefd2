"""What the Dagster UI shows about each asset comes from the table catalogue: its own description, the column
schema of the table it writes, owners and a code version (issue 16)."""

from __future__ import annotations

import warnings

import dagster as dg
import pytest

from assets.catalogue_specs import catalogued, column_schema, markdown
from data_lake.tables import CATALOGUE, MARKOUTS, TRADES

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pipelines.definitions import defs

SPECS = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_column_schema_is_the_tables_columns_with_types_keys_and_units() -> None:
    schema = column_schema(TRADES)
    assert [c.name for c in schema.columns] == list(TRADES.schema)
    by_name = {c.name: c for c in schema.columns}
    assert (by_name["time"].type, by_name["time"].description) == ("Int64", "key column; UTC epoch ms")
    assert by_name["time"].constraints.nullable is False and by_name["px"].constraints.nullable is True
    assert by_name["coin"].description == "partition and key column"
    assert schema.constraints.other == ["primary key (coin, time, tid); partitioned by (coin, date)"]
    assert {c.name: c.description for c in column_schema(MARKOUTS).columns}["markout_5000ms_bps"] == "bps"


def test_every_asset_shows_its_tables_schema_owners_and_code_version() -> None:
    for name, spec in SPECS.items():
        shown = spec.metadata["dagster/column_schema"]
        assert [c.name for c in shown.columns] == list(CATALOGUE[name].schema), name
        assert spec.owners and spec.code_version, name
        assert f"**Table `{name}`**" in spec.description and "``" not in spec.description, name


def test_each_clean_table_has_its_own_description() -> None:
    """They shared the multi-asset's docstring: eight tables (nine with the ingest accounting), one text."""
    clean = [name for name, spec in SPECS.items() if spec.group_name == "clean"]
    assert sorted(clean) == [
        "asset_ctx",
        "book",
        "fills",
        "ingest_accounting",
        "order_updates",
        "quarantine",
        "quoter_log",
        "raw_captures",
        "trades",
    ]
    assert len({SPECS[name].description for name in clean}) == len(clean)
    assert SPECS["trades"].description.startswith("**Table `trades`** (key coin, time, tid): Market trades")


def test_docstrings_become_markdown_that_renders() -> None:
    text = """Bars from ``calibration.bars``: one
    line wrapped here.

    - an item that
      wraps
    - another"""
    assert markdown(text) == "Bars from `calibration.bars`: one line wrapped here.\n\n- an item that wraps\n- another"


def test_an_asset_without_a_table_is_refused() -> None:
    @dg.asset
    def not_a_table() -> None: ...

    with pytest.raises(ValueError, match="no table in data_lake.tables"):
        catalogued([not_a_table])
