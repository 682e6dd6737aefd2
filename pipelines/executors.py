"""The run executor, chosen by configuration: ``SMALLFISH_EXECUTOR`` = ``multiprocess`` (default) or ``celery``.

``celery`` sends every step to dagster-celery workers through the broker in ``SMALLFISH_CELERY_BROKER`` (results
via ``SMALLFISH_CELERY_BACKEND``); start the workers with ``deploy/celery.yaml`` (README, Production profile).
"""

import os

import dagster as dg

EXECUTORS = ("multiprocess", "celery")


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor named by ``SMALLFISH_EXECUTOR``; celery is imported only when chosen (production extra)."""
    kind = os.environ.get("SMALLFISH_EXECUTOR", "multiprocess")
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": 2})
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": {"env": "SMALLFISH_CELERY_BROKER"}, "backend": {"env": "SMALLFISH_CELERY_BACKEND"}}
        )
    raise ValueError(f"SMALLFISH_EXECUTOR must be one of {EXECUTORS}, got {kind!r}")
