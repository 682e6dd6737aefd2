"""The asset graph as Dagster loads it (asset keys, groups, partitions, dependencies with their partition mappings,
checks, jobs, schedules, sensors) against the reviewed snapshot ``tests/snapshots/asset_graph.json``, so a change
to the graph is a deliberate diff in review rather than a side effect.

After an intended change, regenerate the snapshot and commit it with the change:

    python -m tests.test_graph_snapshot --update
"""

from __future__ import annotations

import argparse
import difflib
import json
import warnings
from pathlib import Path
from typing import Any

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
UPDATE_COMMAND = "python -m tests.test_graph_snapshot --update"


def graph_snapshot(defs: dg.Definitions) -> dict[str, Any]:
    """What a reviewer must see change: every asset's group, partitions, upstream assets with the partition mapping
    Dagster resolves for each, and checks (blocking or not); each job's assets, schedules' crons, sensors."""
    graph = defs.resolve_asset_graph()
    assets: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": " ".join(str(node.partitions_def).split()) if node.partitions_def else None,
            "deps": {
                parent.to_user_string(): repr(graph.get_partition_mapping(key, parent))
                for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string())
            },
            "checks": sorted(
                f"{check.name}{' (blocking)' if graph.get_check_spec(check).blocking else ''}"
                for check in graph.asset_check_keys
                if check.asset_key == key
            ),
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
    repository = defs.get_repository_def()
    schedules = {s.name: f"{s.cron_schedule} {s.execution_timezone} -> {s.job_name}" for s in repository.schedule_defs}
    sensors = sorted(s.name for s in repository.sensor_defs)
    return {"assets": assets, "jobs": jobs, "schedules": dict(sorted(schedules.items())), "sensors": sensors}


def _current() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pipelines.definitions import defs

        return json.dumps(graph_snapshot(defs), indent=2, sort_keys=False) + "\n"


def test_asset_graph_matches_the_reviewed_snapshot() -> None:
    current = _current()
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    if current != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), current.splitlines(True), "snapshot", "current"))
        raise AssertionError(f"the asset graph changed; if intended, run `{UPDATE_COMMAND}` and commit:\n{diff}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.test_graph_snapshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help=f"rewrite {SNAPSHOT.name} from the current definitions")
    args = parser.parse_args()
    current = _current()
    if args.update:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current)
        print(f"wrote {SNAPSHOT}")
    else:
        print(current, end="")


if __name__ == "__main__":
    main()
