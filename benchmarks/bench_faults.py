"""Standing fault figures: each fault tried many times on real processes and files, then what it cost.

One run prints a table with, per fault: trials; records or lines lost; duplicate keys; stuck processes or runs
(alive or unfinished when they should be gone or failed); tracebacks shown to a user; wrong exit codes (a command
that succeeded when it should have failed, or the reverse, or a crash). Every column but trials must be 0.

Faults: kill -9 of a lake writer at a random point of its commits (and, in the full run, of ``python -m
pipelines.run`` mid-backfill), two writers of one partition at once, two ``smallfish import`` into one raw file at
once, the recorder's hourly compression racing an import, a full disk (``RLIMIT_FSIZE``: no tmpfs or loop device
without root, so the write fails with EFBIG where a full disk gives ENOSPC), hostile coin names, tampered parameter
sets, truncated and corrupted lz4 inputs, and hypothesis fuzzing of the cleaning and the importer
(:mod:`tests.hostile`).

    python benchmarks/bench_faults.py            # the full run (minutes)
    python benchmarks/bench_faults.py --short    # a few trials of each (what tests/test_bench_faults.py runs)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import lz4.frame
import polars as pl
from fault_workers import (
    ROWS,
    WRITER_TABLES,
    cli_import,
    partition,
    write_forever,
    write_once,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_lake import raw_zone
from data_lake.importers import import_file
from data_lake.lake import Lake
from data_lake.param_registry import pointer_path, promote, set_path
from data_lake.tables import table
from quoting.capture.raw_capture import HourlyRawWriter, compress_plain
from quoting.cli.main import main as cli
from tests.hostile import HOSTILE_LINES, NODE_LINES, check_cleaning, check_node_import
from tests.support import DEMO_COIN, DEMO_DAY
from tests.test_param_registry import COIN as PARAM_COIN
from tests.test_param_registry import stored

HOSTILE_COINS = (
    "",
    "_x",
    "A" * 300,
    "a|b",
    "../../etc",
    "x/y",
    "BTC\x00",
    "\U0001d518",
    "@107",
    "xyz:NVDA",
    " ",
    "%2F",
)


@dataclass
class Figures:
    """What one fault cost over its trials (every field but ``trials`` must be 0)."""

    fault: str
    trials: int = 0
    lost: int = 0
    duplicates: int = 0
    stuck: int = 0
    tracebacks: int = 0
    bad_exits: int = 0

    def clean(self) -> bool:
        return not (self.lost or self.duplicates or self.stuck or self.tracebacks or self.bad_exits)


@dataclass(frozen=True)
class Said:
    """One in-process CLI command: exit code and what it wrote; ``raised`` when an exception escaped main."""

    code: int | None
    out: str
    err: str
    raised: bool

    def traceback(self) -> bool:
        return self.raised or "Traceback" in self.err

    def one_line_error(self) -> bool:
        return self.code in (1, 2) and len(self.err.strip().splitlines()) == 1


def say(*argv: str) -> Said:
    """``smallfish ARGV`` in this process, as a user would see it."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli(list(argv))
        return Said(code, out.getvalue(), err.getvalue(), False)
    except BaseException:  # noqa: BLE001 - anything escaping main is a traceback a user would see
        return Said(None, out.getvalue(), err.getvalue(), True)


def _duplicate_keys(lake: Lake, name: str) -> int:
    key = list(table(name).key)
    return lake.read(name).group_by(key).len().filter(pl.col("len") > 1).height if lake.exists(name) else 0


def lake_write_kill(trials: int, rng: random.Random, work: Path) -> Figures:
    """kill -9 of a process replacing partitions at a random point; the tables hold their last commit whole, and a
    rewrite completes them. The trials' writers run at once, each killed at its own moment."""
    figures, ctx = Figures("kill -9 of a lake writer", trials), mp.get_context("spawn")
    roots = [str(work / f"kill{trial}") for trial in range(trials)]
    writers = [ctx.Process(target=write_forever, args=(root,)) for root in roots]
    for writer in writers:
        writer.start()
    for root, writer in zip(roots, writers, strict=True):
        lake, deadline = Lake(root, storage_options={}), time.monotonic() + 120
        while not lake.exists(WRITER_TABLES[-1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 1.0))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        for name in WRITER_TABLES:
            rows = lake.read(name).height if lake.exists(name) else 0
            figures.lost += 0 if rows in (0, ROWS) else abs(ROWS - rows)
            figures.duplicates += _duplicate_keys(lake, name)
            lake.write_partition(name, partition(), DEMO_COIN, DEMO_DAY)
            figures.lost += ROWS - lake.read(name).height
    return figures


def _race_in_pairs(target: Callable[..., None], args: list[tuple], figures: Figures) -> list[list[Any]]:
    """Start every trial's pair of processes at once (each pair meets at its own barrier); each pair's outcomes."""
    ctx = mp.get_context("spawn")
    pairs = []
    for pair_args in args:
        barrier, out = ctx.Barrier(2), ctx.Queue()
        processes = [ctx.Process(target=target, args=(*one, barrier, out)) for one in pair_args]
        for p in processes:
            p.start()
        pairs.append((processes, out, barrier))  # the barrier must outlive the children's start
    outcomes = []
    for processes, out, _ in pairs:
        for p in processes:
            p.join(180)
        figures.stuck += sum(p.is_alive() for p in processes)
        outcomes.append([out.get(timeout=5) for _ in processes])
    return outcomes


def concurrent_writes(trials: int, rng: random.Random, work: Path) -> Figures:
    """Two processes replace one partition at once: one commit wins, the other fails on the conflict."""
    figures = Figures("two writers of one partition", trials)
    roots = [str(work / f"concurrent{trial}") for trial in range(trials)]
    for root, outcomes in zip(
        roots, _race_in_pairs(write_once, [((root,), (root,)) for root in roots], figures), strict=True
    ):
        outcomes = sorted(outcomes)
        figures.bad_exits += outcomes not in (["ok", "ok"], ["CommitFailedError", "ok"])
        lake = Lake(root, storage_options={})
        figures.lost += ROWS - lake.read("trades").height if "ok" in outcomes else ROWS
        figures.duplicates += _duplicate_keys(lake, "trades")
    return figures


def _node_trades(folder: Path, first: int, count: int, coin: str = "BTC") -> Path:
    """An hl-node trades file for 2025-06-01 10:00 UTC (``count`` distinct lines)."""
    path = folder / "20250601" / "10"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"coin": coin, "side": "B", "time": f"2025-06-01T10:00:00.{i:09d}", "px": str(i), "sz": "1"})
        for i in range(first, first + count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def concurrent_imports(trials: int, rng: random.Random, work: Path) -> Figures:
    """Two ``smallfish import`` into one raw file at once: both exit 0 and the file holds both's lines."""
    figures, per_import = Figures("two imports into one raw file", trials), 5_000
    raws = [work / f"imports{trial}" / "raw" for trial in range(trials)]
    args = [
        tuple((str(_node_trades(raw.parent / f"in{i}", i * per_import, per_import)), str(raw)) for i in range(2))
        for raw in raws
    ]
    for raw, said in zip(raws, _race_in_pairs(cli_import, args, figures), strict=True):
        figures.bad_exits += sum(code != 0 for code, _ in said)
        figures.tracebacks += sum(tb for _, tb in said)
        lines = [line for f in raw_zone.discover(raw) for line in raw_zone.read_lines(f.path)]
        figures.lost += 2 * per_import - len(set(lines))
        figures.duplicates += len(lines) - len(set(lines))
    return figures


def compression_vs_import(trials: int, rng: random.Random, work: Path) -> Figures:
    """The recorder folds its plain hour into the ``.jsonl.lz4`` an import merges into at the same moment."""
    figures, count = Figures("recorder compression vs import", trials), 3_000
    for trial in range(trials):
        raw = work / f"fold{trial}" / "raw"
        source = _node_trades(work / f"fold{trial}" / "in", 0, count)
        writer = HourlyRawWriter(raw, source="node")
        recorded = [json.dumps({"recorded": i}) for i in range(count)]
        for line in recorded:
            writer.write(1748772000 * 10**9 + 1, "BTC", line)  # 2025-06-01 10:00 UTC
        (plain,) = writer.detach_all()
        folding = threading.Thread(target=compress_plain, args=(plain,))
        time.sleep(rng.uniform(0, 0.01))
        folding.start()
        import_file(source, "node-trades", raw)
        folding.join(60)
        figures.stuck += folding.is_alive()
        lines = raw_zone.read_lines(plain.with_name(plain.name + ".lz4"))
        figures.lost += 2 * count - len(set(lines))
        figures.duplicates += len(lines) - len(set(lines))
    return figures


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """Writes beyond ``limit`` bytes fail with EFBIG in this process while the block runs (SIGXFSZ ignored)."""
    old, handler = resource.getrlimit(resource.RLIMIT_FSIZE), signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, handler)


def full_disk(trials: int, rng: random.Random, work: Path) -> Figures:
    """An import that cannot write its merged file: one-line error, exit 1, the raw file it merged into intact."""
    figures = Figures("full disk (RLIMIT_FSIZE) during import", trials)
    for trial in range(trials):
        raw = work / f"disk{trial}" / "raw"
        say("import", "node-trades", str(_node_trades(work / f"disk{trial}" / "a", 0, 2_000)), "--raw", str(raw))
        (target,) = [f.path for f in raw_zone.discover(raw)]
        before = raw_zone.read_lines(target)
        big = _node_trades(work / f"disk{trial}" / "b", 10_000, 20_000)
        with _file_size_limit(target.stat().st_size + rng.randint(0, 4_096)):
            said = say("import", "node-trades", str(big), "--raw", str(raw))
        figures.tracebacks += said.traceback()
        figures.bad_exits += not (said.code == 1 and said.one_line_error() and "disk" in said.err)
        figures.lost += len(set(before) - set(raw_zone.read_lines(target)))
        figures.stuck += len([p for p in target.parent.iterdir() if p.name.endswith(".tmp")])  # temp files left
    return figures


def hostile_coins(trials: int, rng: random.Random, work: Path) -> Figures:
    """Node trades of coins the raw zone cannot or can hold: each imported or set aside with its reason."""
    figures = Figures("hostile coin names", trials)
    for trial in range(trials):
        coins = rng.sample(HOSTILE_COINS, 4)
        lines = [
            json.dumps({"coin": c, "side": "B", "time": f"2025-06-01T10:00:00.{i:09d}", "px": "1", "sz": "1"})
            for i, c in enumerate(coins * 3)
        ]
        try:
            check_node_import(lines)
        except AssertionError:
            figures.lost += 1
        source = work / f"coins{trial}" / "20250601" / "10"
        source.parent.mkdir(parents=True)
        source.write_text("\n".join(lines) + "\n")
        said = say("import", "node-trades", str(source), "--raw", str(work / f"coins{trial}" / "raw"))
        figures.tracebacks += said.traceback()
        figures.bad_exits += said.code != 0
        escaped = [p for p in work.rglob("*") if "etc" in p.parts and "raw" not in p.parts]
        figures.lost += len(escaped)  # nothing written outside the raw zone
    return figures


def _tamper(lake: Path, coin: str, how: str, other_id: str) -> list[tuple[str, ...]]:
    """Damage the registry one way; the commands a user then runs."""
    pointer = lake / pointer_path(coin)
    if how == "garbage pointer":
        pointer.write_bytes(b"garbage")
    elif how == "pointer is a directory":
        pointer.unlink()
        pointer.mkdir()
    elif how == "document is a directory":
        document = lake / set_path(coin, other_id)
        document.unlink()
        document.mkdir()
    elif how == "document edited":
        document = lake / set_path(coin, other_id)
        doc = json.loads(document.read_text())
        doc["training_window"]["end_ms"] = 10**22
        document.write_text(json.dumps(doc))
    lake_arg = ("--coin", coin, "--lake", str(lake))
    return [
        ("params", "show", *lake_arg),
        ("params", "promote", *lake_arg, "--id", other_id, "--reason", "bench"),
        ("params", "promote", *lake_arg, "--id", "../../x", "--reason", "bench"),
        ("params", "rollback", *lake_arg),
    ]


TAMPERING = ("garbage pointer", "pointer is a directory", "document is a directory", "document edited")


def tampered_params(trials: int, rng: random.Random, work: Path) -> Figures:
    """Every ``params`` command on a damaged registry: a report or a one-line error, never a traceback, and the
    promotion never lands on the tampered or a hostile id."""
    figures = Figures("tampered parameter sets", trials)
    for trial in range(trials):
        lake = work / f"params{trial}"
        lake.mkdir()
        live, other = stored(lake, 0), stored(lake, 1)
        promote(lake, PARAM_COIN, live.param_set_id, "bench")
        how = TAMPERING[trial % len(TAMPERING)]
        for argv in _tamper(lake, PARAM_COIN, how, other.param_set_id):
            said = say(*argv)
            figures.tracebacks += said.traceback()
            figures.bad_exits += not (said.code == 0 or said.one_line_error())
            hostile = "../../x" in argv or (how.startswith("document") and other.param_set_id in argv)
            figures.bad_exits += hostile and argv[1] == "promote" and said.code == 0
    return figures


def damaged_lz4(trials: int, rng: random.Random, work: Path) -> Figures:
    """A truncated or corrupted lz4 input: what decodes is imported whole, the rest named, exit 1."""
    figures = Figures("truncated/undecodable lz4", trials)
    for trial in range(trials):
        plain = _node_trades(work / f"lz4{trial}" / "plain", 0, 20_000)
        data = lz4.frame.compress(plain.read_bytes(), block_size=lz4.frame.BLOCKSIZE_MAX64KB)
        cut = rng.randrange(8, len(data) - 1)
        damaged = data[:cut] if trial % 2 else data[:cut] + bytes([data[cut] ^ 0xFF]) + data[cut + 1 :]
        source = work / f"lz4{trial}" / "in" / "20250601" / "10.lz4"
        source.parent.mkdir(parents=True)
        source.write_bytes(damaged)
        decodable = raw_zone.decode_file(source)
        whole_lines = decodable.data.count(b"\n")
        raw = work / f"lz4{trial}" / "raw"
        said = say("import", "node-trades", str(source), "--raw", str(raw))
        figures.tracebacks += said.traceback()
        figures.bad_exits += said.code != (1 if decodable.problem else 0)
        kept = sum(raw_zone.count_lines(p) for p in raw.rglob("*.jsonl*"))  # in coin files or set aside
        figures.lost += max(0, whole_lines - kept)
    return figures


def _fuzz(name: str, check: Callable[..., None], cases: int, **strategies: Any) -> Figures:
    figures = Figures(name)

    def counted(**kwargs: Any) -> None:
        figures.trials += 1
        try:
            check(**kwargs)
        except AssertionError:
            figures.lost += 1
        except Exception:  # noqa: BLE001 - an exception is a crash a user would see as a traceback
            figures.tracebacks += 1

    settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))(
        given(**strategies)(counted)
    )()
    return figures


def fuzz_cleaning(trials: int, rng: random.Random, work: Path) -> Figures:
    return _fuzz(
        "fuzz: cleaning (hypothesis cases)",
        check_cleaning,
        trials * 10,
        hostile=st.lists(HOSTILE_LINES, min_size=1, max_size=30),
        baseline=st.integers(0, 12),
    )


def fuzz_import(trials: int, rng: random.Random, work: Path) -> Figures:
    return _fuzz(
        "fuzz: node import (hypothesis cases)",
        check_node_import,
        trials * 10,
        lines=st.lists(NODE_LINES, min_size=1, max_size=20),
    )


def backfill_kill(trials: int, rng: random.Random, work: Path) -> Figures:
    """kill -9 of ``pipelines.run ingest --workers 2`` at a random point once runs are in a step: no process of it
    left after 5 s, and the next start marks every run it left unfinished failed."""
    import dagster as dg

    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw
    from tests.test_backfill_kill import (
        _runs_in_a_step,
        _session_members,
        start_two_day_backfill,
    )

    figures = Figures("kill -9 of pipelines.run mid-backfill", trials)
    demo = work / "demo_raw"
    simulate_to_raw(DemoMarketConfig(coin=DEMO_COIN, days=1, seed=11, start=DEMO_DAY), demo)
    for trial in range(trials):
        home = work / f"backfill{trial}" / "home"
        run, env = start_two_day_backfill(
            demo, work / f"backfill{trial}" / "raw", home, work / f"backfill{trial}" / "lake"
        )
        _runs_in_a_step(home, 2, run, timeout_s=300)
        time.sleep(rng.uniform(0, 10))
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        time.sleep(5)
        survivors = _session_members(run.pid)
        figures.stuck += len(survivors)
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        empty = work / f"backfill{trial}" / "raw_1970"
        raw_zone.write_lines(raw_zone.raw_path(empty, "ws", DEMO_DAY.replace(year=1970), 0, DEMO_COIN), ["{}"])
        nxt = subprocess.run(
            [sys.executable, "-m", "pipelines.run", "ingest", "--workers", "1"],
            cwd=ROOT,
            env={**env, "SMALLFISH_RAW": str(empty)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        figures.tracebacks += "Traceback" in nxt.stderr
        figures.bad_exits += nxt.returncode != 0
        with dg.DagsterInstance.from_config(str(home)) as instance:
            unfinished = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]
            figures.stuck += len(instance.get_runs(dg.RunsFilter(statuses=unfinished)))
    return figures


SHORT = (
    lake_write_kill,
    concurrent_writes,
    concurrent_imports,
    compression_vs_import,
    full_disk,
    hostile_coins,
    tampered_params,
    damaged_lz4,
    fuzz_cleaning,
    fuzz_import,
)
FULL = (*SHORT, backfill_kill)


def run(short: bool, seed: int = 17, trials: int | None = None) -> list[Figures]:
    """Every fault (the short run: 2 trials each, no pipelines.run kill); the figures in order."""
    rng, n = random.Random(seed), trials or (2 if short else 10)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_faults_") as tmp:
        for fault in SHORT if short else FULL:
            work = Path(tmp) / fault.__name__
            work.mkdir()
            started = time.perf_counter()
            figures = fault(min(n, 3) if fault is backfill_kill else n, rng, work)
            print(f"  {figures.fault}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
            results.append(figures)
    return results


def table_text(results: list[Figures]) -> str:
    names = [f.name for f in fields(Figures)]
    widths = [max(len(names[0]), *(len(r.fault) for r in results))] + [max(len(n), 6) for n in names[1:]]
    rows = [names] + [[str(getattr(r, n)) for n in names] for r in results]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="2 trials of each fault, no pipelines.run kill")
    parser.add_argument(
        "--trials", type=int, help="trials per fault (default 10, short 2; pipelines.run kill at most 3)"
    )
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    results = run(args.short, args.seed, args.trials)
    print(table_text(results))
    bad = [r.fault for r in results if not r.clean()]
    print("all zero" if not bad else f"NOT ZERO: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
