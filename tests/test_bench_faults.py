"""The short form of ``benchmarks/bench_faults.py`` (2 trials of each fault, no ``pipelines.run`` kill): every figure
but the trials is zero."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # spawn children import it by name too

import bench_faults

pytestmark = pytest.mark.slow


def test_every_fault_costs_nothing() -> None:
    results = bench_faults.run(short=True)
    assert len(results) == len(bench_faults.SHORT)
    assert all(r.trials >= 2 for r in results), bench_faults.table_text(results)
    assert [r.fault for r in results if not r.clean()] == [], bench_faults.table_text(results)
