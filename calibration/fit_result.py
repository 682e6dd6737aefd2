"""The common record every estimator returns: estimates with standard errors, sample size, fit quality.

A fit with too few samples is not a number: estimators raise :class:`InsufficientSamples`, and callers that
must store something store :meth:`FitResult.insufficient` (status ``insufficient_samples``, no estimates).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path


class InsufficientSamples(ValueError):
    """Raised when an estimator has fewer samples than it needs to say anything."""

    def __init__(self, model: str, n: int, required: int):
        super().__init__(f"{model}: {n} samples, at least {required} required")
        self.model = model
        self.n = n
        self.required = required


@dataclass(frozen=True)
class FitResult:
    """Estimates, standard errors and goodness of fit of one model on one window of data.

    ``estimates`` and ``std_errors`` share keys (an SE may be NaN when not defined); ``units`` names the unit
    of each estimate; ``goodness_of_fit`` holds statistics such as a KS p-value or a deviance; ``warnings``
    carries data warnings (e.g. a branching ratio outside its usual band) that must reach the report.
    """

    model: str
    n: int
    estimates: dict[str, float] = field(default_factory=dict)
    std_errors: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    goodness_of_fit: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    status: str = "ok"

    @classmethod
    def insufficient(cls, error: InsufficientSamples) -> FitResult:
        return cls(model=error.model, n=error.n, status="insufficient_samples", warnings=(str(error),))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def ci95(self, name: str) -> tuple[float, float]:
        """Wald 95% interval of one estimate."""
        value, se = self.estimates[name], self.std_errors.get(name, math.nan)
        return value - 1.959964 * se, value + 1.959964 * se


@cache
def code_version(packages: tuple[str, ...] = ("calibration", "validation", "quoting")) -> str:
    """Package version plus a short hash of the sources of ``packages`` (top-level project packages, each with its
    subpackages), stored with every fit; Dagster assets carry it as their ``code_version`` with the packages their
    computation runs."""
    try:
        version = metadata.version("smallfish")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:10]}"
