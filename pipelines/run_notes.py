"""What a run of the nightly job could not do, asset by asset, read back from the Dagster instance's event log.

Three kinds: ``skipped`` (the asset succeeded but computed nothing: its ``skipped`` metadata, ``assets.metadata``),
``FAILED`` (the step raised: the innermost exception's message, the user error Dagster wrapped) and ``not run`` (a
planned asset whose step neither ran nor failed: an upstream step failed). ``python -m pipelines.run`` prints them,
so a failed or degenerate day reads on the terminal without opening the UI.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from assets.metadata import SKIPPED

PLANNED = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
_KINDS = {PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.STEP_FAILURE}


@dataclass(frozen=True)
class AssetNote:
    """One asset (or step, for a failure) of one run that skipped, failed or did not run, and why."""

    name: str
    kind: str
    reason: str

    def line(self) -> str:
        return f"{self.name}: {self.kind}: {self.reason}"


def run_notes(instance: dg.DagsterInstance, run_id: str) -> list[AssetNote]:
    """Every skip and failure of run ``run_id`` in event order, then the planned assets that never ran."""
    planned: dict[str, str | None] = {}
    materialised: set[str] = set()
    failed_steps: set[str | None] = set()
    notes = []
    for entry in instance.all_logs(run_id, of_type=_KINDS):
        event = entry.get_dagster_event()  # filtered on Dagster event types, so every entry carries one
        if event.event_type == PLANNED:
            planned[event.asset_materialization_planned_data.asset_key.to_user_string()] = event.step_key
        elif event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            name = materialization.asset_key.to_user_string()
            materialised.add(name)
            if SKIPPED in materialization.metadata:
                notes.append(AssetNote(name, "skipped", str(materialization.metadata[SKIPPED].value)))
        else:
            failed_steps.add(event.step_key)
            message = _innermost_message(event.step_failure_data.error)
            notes.append(AssetNote(event.step_key or "unknown step", "FAILED", message))
    unrun = [name for name, step in planned.items() if name not in materialised and step not in failed_steps]
    return notes + [AssetNote(name, "not run", "an upstream step failed") for name in unrun]


def _innermost_message(error: SerializableErrorInfo | None) -> str:
    """The message of the deepest cause (the user's exception, under Dagster's step-execution wrapper), one line."""
    if error is None:
        return "no error recorded"
    while error.cause is not None:
        error = error.cause
    return " ".join(error.message.split())
