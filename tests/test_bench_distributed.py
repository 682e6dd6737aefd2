"""``benchmarks/bench_distributed.py``'s CPU attribution: a step's CPU seconds are the CPU clock its process spent
between the step's start and end, not its wall time and not what the process spent around it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_distributed

BURN_CPU_S = 0.5
CHILD = f"""
import time

idle_start = time.time()
time.sleep(1.0)
start = time.time()
spent = time.process_time()
while time.process_time() - spent < {BURN_CPU_S}:
    pass
end = time.time()
time.sleep(1.0)
print(idle_start, start, end, time.time())
"""
"""A process that idles 1 s, burns a known amount of CPU, idles 1 s again, and says when it did what."""


@pytest.mark.slow  # a child process idles 2 s around its CPU burn
def test_a_span_gets_the_cpu_its_process_spent_in_it_and_idle_spans_get_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_distributed, "SAMPLE_S", 0.05)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    with bench_distributed.CpuSampler({"workers": child.pid}) as sampler:
        out, _ = child.communicate(timeout=120)
    idle_start, start, end, idle_end = (float(x) for x in out.split())
    assert sampler.group[child.pid] == "workers"
    assert sampler.between(child.pid, start, end) == pytest.approx(BURN_CPU_S, abs=0.15)
    assert sampler.between(child.pid, idle_start + 0.1, start - 0.1) < 0.05
    assert sampler.between(child.pid, end + 0.1, idle_end - 0.1) < 0.05
    assert sampler.total("workers") >= BURN_CPU_S - 0.15
    assert sampler.between(child.pid + 10**7, start, end) == 0.0  # a pid never sampled spent nothing here
