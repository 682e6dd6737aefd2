"""The run executor, chosen by configuration: ``SMALLFISH_EXECUTOR`` = ``multiprocess`` (default) or ``celery``.

``multiprocess`` runs each step in its own process, at most :data:`MAX_CONCURRENT_STEPS` at once, or every step in
the run's process with the run config ``execution: {config: {in_process: true}}`` (what ``pipelines.backfill``
submits: its workers are already processes).
``celery`` sends every step to dagster-celery workers through the broker in ``SMALLFISH_CELERY_BROKER`` (results
via ``SMALLFISH_CELERY_BACKEND``); start the workers with ``deploy/celery.yaml`` (README, Production profile).
"""

import dagster as dg

from data_lake import settings

EXECUTORS = ("multiprocess", "celery")
MAX_CONCURRENT_STEPS = 2
IN_PROCESS = {"execution": {"config": {"in_process": True}}}
"""Run config choosing the in-process mode of ``multiprocess``."""


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor named by ``SMALLFISH_EXECUTOR``; celery is imported only when chosen (production extra)."""
    kind = settings.executor_kind()
    if kind == "multiprocess":
        return dg.multi_or_in_process_executor.configured(
            lambda config: (
                {"in_process": {}}
                if config["in_process"]
                else {"multiprocess": {"max_concurrent": MAX_CONCURRENT_STEPS}}
            ),
            config_schema={
                "in_process": dg.Field(bool, default_value=False, description="every step in the run's process")
            },
        )
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": {"env": "SMALLFISH_CELERY_BROKER"}, "backend": {"env": "SMALLFISH_CELERY_BACKEND"}}
        )
    raise ValueError(f"{settings.EXECUTOR_ENV} must be one of {EXECUTORS}, got {kind!r}")
