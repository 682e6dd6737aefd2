"""What the Dagster UI shows about each asset, generated from the table catalogue (``data_lake.tables``).

Every asset writes the lake table of its name, so the catalogue is the one source of its description and column
schema (``dagster/column_schema``, a ``dg.TableSchema``). Owners and ``code_version`` come from the asset's group:
the version hashes the sources of the packages that group's computation runs (``calibration.fit_result``), so the
UI marks an asset's materialisations stale exactly when that code changed. Descriptions are Markdown: docstring
reST double backticks become single Markdown backticks and hard-wrapped lines are joined, so nothing renders literally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import dagster as dg

from calibration.fit_result import code_version
from data_lake.tables import CATALOGUE, Table

DATA_TEAM = "team:data"
QUANT_TEAM = "team:quant"
OWNERS_BY_GROUP = {
    "clean": (DATA_TEAM,),
    "measurement": (QUANT_TEAM, DATA_TEAM),
    "calibration": (QUANT_TEAM,),
    "validation": (QUANT_TEAM,),
    "promotion": (QUANT_TEAM,),
    "niche": (QUANT_TEAM,),
}
"""Who answers for an asset group: the data team for capture and cleaning, the quant team for the models."""

SOURCES_BY_GROUP = {
    "clean": ("data_lake",),
    "measurement": ("data_lake", "calibration", "validation"),
    "calibration": ("data_lake", "calibration"),
    "validation": ("data_lake", "calibration", "validation", "quoting"),
    "promotion": ("data_lake", "calibration", "validation", "quoting"),
    "niche": ("data_lake", "calibration", "validation"),
}
"""Project packages whose sources (subpackages included) each group's computation runs (the ``assets/`` wiring is not
hashed)."""

_RST_LITERAL = re.compile(r"``([^`]+)``")


def unit(column: str) -> str | None:
    """The unit the catalogue's conventions (``data_lake.tables``) give a column by its name, if any."""
    if column == "time" or column.endswith(("_at_ms", "_start_ms", "_end_ms")):
        return "UTC epoch ms"
    if column.endswith("time_ns"):
        return "UTC epoch ns"
    if column.endswith("_bps"):
        return "bps"
    return None


def column_schema(table: Table) -> dg.TableSchema:
    """The Dagster column schema of a lake table: every column with its polars type and unit, the key and
    partition columns marked (non-null), and the primary key as a table constraint."""
    columns = []
    for name, dtype in table.schema.items():
        roles = [role for role, cols in (("partition", table.partition_by), ("key", table.key)) if name in cols]
        notes = [" and ".join(roles) + " column"] if roles else []
        columns.append(
            dg.TableColumn(
                name,
                type=str(dtype),
                description="; ".join([*notes, *filter(None, [unit(name)])]) or None,
                constraints=dg.TableColumnConstraints(nullable=False) if roles else None,
            )
        )
    key = f"primary key ({', '.join(table.key)}); partitioned by ({', '.join(table.partition_by) or 'nothing'})"
    return dg.TableSchema(columns=columns, constraints=dg.TableConstraints(other=[key]))


def markdown(text: str) -> str:
    """A docstring as Markdown: reST double backticks to single ones, wrapped lines joined within paragraphs and list
    items."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines()]
        joined: list[str] = []
        for line in lines:
            if joined and not re.match(r"([-*]|\d+\.)\s", line):
                joined[-1] += " " + line
            else:
                joined.append(line)
        paragraphs.append("\n".join(joined))
    return _RST_LITERAL.sub(r"`\1`", "\n\n".join(paragraphs))


def describe(spec: dg.AssetSpec, table: Table, shared: bool) -> str:
    """The asset's own docstring (left out when ``shared`` by several assets of one op) followed by its table's
    content description."""
    content = f"**Table `{table.name}`** (key {', '.join(table.key)}): {markdown(table.description)}"
    if shared or not spec.description:
        return content
    return f"{markdown(spec.description)}\n\n{content}"


def catalogued_spec(spec: dg.AssetSpec, shared: bool) -> dg.AssetSpec:
    """``spec`` with its table's description and column schema, its group's owners and code version."""
    table = CATALOGUE[spec.key.to_user_string()]
    group = spec.group_name or ""
    return spec.replace_attributes(
        description=describe(spec, table, shared),
        metadata={**spec.metadata, "dagster/column_schema": column_schema(table)},
        owners=list(OWNERS_BY_GROUP.get(group, (QUANT_TEAM,))),
        code_version=code_version(SOURCES_BY_GROUP[group]) if group in SOURCES_BY_GROUP else spec.code_version,
    )


def catalogued(
    assets: Iterable[dg.AssetsDefinition | dg.AssetSpec],
) -> Sequence[dg.AssetsDefinition | dg.AssetSpec]:
    """Every asset with :func:`catalogued_spec` applied (an external ``AssetSpec``, e.g. a table a sensor writes,
    included); an asset whose key is no catalogue table is an error."""
    result: list[dg.AssetsDefinition | dg.AssetSpec] = []
    for definition in assets:
        keys = [definition.key] if isinstance(definition, dg.AssetSpec) else definition.keys
        unknown = [k.to_user_string() for k in keys if k.to_user_string() not in CATALOGUE]
        if unknown:
            raise ValueError(f"assets {unknown} have no table in data_lake.tables: add one, it is their documentation")
        if isinstance(definition, dg.AssetSpec):
            result.append(catalogued_spec(definition, shared=False))
            continue
        result.append(_catalogued_definition(definition))
    return result


def _catalogued_definition(definition: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """``definition`` with :func:`catalogued_spec` applied to each of its specs, ``shared`` for a spec whose
    description another spec of the same definition has too."""
    descriptions = [s.description for s in definition.specs]

    def with_catalogue(spec: dg.AssetSpec) -> dg.AssetSpec:
        return catalogued_spec(spec, shared=descriptions.count(spec.description) > 1)

    return definition.map_asset_specs(with_catalogue)
