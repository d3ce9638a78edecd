"""The jobs: a name, what it does, its default schedule. Domains add theirs with
:func:`job`; the scheduler, ``pathfinder jobs run`` and the admin API read this registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask

from pathfinder.db import Database


@dataclass(frozen=True)
class JobContext:
    """What a job gets: the app (config, extensions), its database and the run's clock."""

    app: Flask
    db: Database
    now: datetime


@dataclass
class JobResult:
    """What a run did: rows touched, and details worth keeping in the run record."""

    rows_touched: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    # A job that finds a problem it must report (a broken audit chain) without crashing.
    failed: bool = False


JobFunction = Callable[[JobContext], JobResult]


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    run: JobFunction
    # APScheduler trigger arguments, e.g. {"trigger": "cron", "hour": 3, "minute": 0}.
    schedule: Mapping[str, Any]
    # Longest a run may hold the job's lock before another run may take it over.
    max_runtime_seconds: int = 3600


JOBS: dict[str, Job] = {}


def job(
    name: str, description: str, schedule: Mapping[str, Any], *, max_runtime_seconds: int = 3600
) -> Callable[[JobFunction], JobFunction]:
    """Register a job function under ``name`` with its default schedule."""

    def register(func: JobFunction) -> JobFunction:
        if name in JOBS:
            raise ValueError(f"job {name!r} is registered twice")
        JOBS[name] = Job(name, description, func, dict(schedule), max_runtime_seconds)
        return func

    return register


def schedule_for(app: Flask, job_: Job) -> Mapping[str, Any]:
    """The job's schedule: ``JOB_SCHEDULES[<name>]`` from config when set, else its default."""
    overrides = app.config.get("JOB_SCHEDULES") or {}
    return overrides.get(job_.name, job_.schedule)


def load_jobs() -> dict[str, Job]:
    """Import the modules that register jobs, and return the registry."""
    from pathfinder.jobs import builtin  # noqa: F401 - registers on import

    return JOBS
