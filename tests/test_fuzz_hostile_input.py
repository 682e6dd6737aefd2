"""Hypothesis fuzzing of the cleaning and the node importer on hostile payloads (:mod:`tests.hostile`): every input
either lands in a clean table within the data contract or in quarantine (or the importer's unattributed file) with a
reason; never an exception, never a record lost (records in = clean + quarantined + duplicates + spilled out; items
in = lines written). ``benchmarks/bench_faults.py`` runs the same properties on many more cases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.hostile import (
    HOSTILE_LINES,
    NODE_LINES,
    check_cleaning,
    check_node_import,
    found_by_fuzzing,
)

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow  # property-based: cleans 40 generated hostile tapes and the known cases
@FUZZ
@example(hostile=found_by_fuzzing(), baseline=0)
@example(hostile=found_by_fuzzing(), baseline=4)
@given(hostile=st.lists(HOSTILE_LINES, min_size=1, max_size=30), baseline=st.integers(0, 12))
def test_every_hostile_line_is_clean_within_the_contract_or_quarantined_with_a_reason(
    hostile: list[str], baseline: int
) -> None:
    check_cleaning(hostile, baseline)


@FUZZ
@example(lines=[""])  # polars decoded an all-blank batch to no value at all: the importer raised ShapeError
@given(lines=st.lists(NODE_LINES, min_size=1, max_size=20))
def test_every_hostile_node_line_is_imported_or_set_aside_with_a_reason(lines: list[str]) -> None:
    check_node_import(lines)
