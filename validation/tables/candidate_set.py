"""The candidate parameter set as the walk-forward stores it and the promotion reads it back: the ``candidate_set``
column of the ``walk_forward`` table (on the candidate's pooled row only).

The document is ``{"training_window": {"start_ms", "end_ms"}, "parameters": {...}}``: what
:func:`validation.experiments.walk_forward_run.final_candidate` builds on the last training window (epoch ms, UTC), as
JSON with non-finite floats as null (:func:`data_lake.param_schema.json_safe`). The promotion gate judges the same
variant's out-of-sample evidence, so the set promoted is the policy validated.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from calibration.fit_result import InsufficientSamples
from data_lake.param_schema import json_safe
from validation.experiments.candidate import CANDIDATE, CandidateFit
from validation.experiments.variant_types import VariantConfig
from validation.experiments.walk_forward_run import POOLED, final_candidate


def candidate_document(fit: CandidateFit) -> str:
    """The ``candidate_set`` JSON of a fitted candidate."""
    document = {"training_window": {"start_ms": fit.window[0], "end_ms": fit.window[1]}, "parameters": fit.parameters}
    return json.dumps(json_safe(document), sort_keys=True)


def candidate_set_json(
    data: Mapping[str, pl.DataFrame], end_ms: int, train_ms: int, config: VariantConfig
) -> tuple[str | None, str]:
    """The candidate fitted on the last training window ``[end_ms - train_ms, end_ms)`` as its ``candidate_set``
    JSON, and a line saying what it is (the regimes it quotes in) or why there is none."""
    try:
        fit = final_candidate(data, end_ms, train_ms, config)
    except (InsufficientSamples, ValueError) as exc:
        return None, f"no candidate on the last training window: {exc}"
    quoted = [e.regime for e in fit.edges if e.quote]
    return candidate_document(fit), f"candidate quotes in {quoted or 'no state'}"


def stored_candidate(walk_forward: pl.DataFrame, date: dt.date) -> tuple[dict[str, Any], tuple[int, int]]:
    """The parameters and training window of the candidate stored in a day's ``walk_forward`` rows; ValueError
    saying why there are none."""
    pooled = walk_forward.filter((pl.col("fold") == POOLED) & (pl.col("variant") == CANDIDATE))
    if not pooled.height:
        raise ValueError(f"the walk-forward of {date} has no complete fold with the {CANDIDATE!r} variant")
    document = pooled["candidate_set"][0]
    if document is None:
        raise ValueError(f"the walk-forward of {date} could not fit the candidate on its last training window")
    found = json.loads(document)
    window = found["training_window"]
    return found["parameters"], (int(window["start_ms"]), int(window["end_ms"]))
