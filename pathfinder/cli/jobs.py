"""``pathfinder jobs list|run`` and ``pathfinder scheduler``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from pathfinder.cli.errors import dba_errors
from pathfinder.db import get_database
from pathfinder.jobs.registry import load_jobs, schedule_for
from pathfinder.jobs.runner import UnknownJob, last_runs, run_job

jobs_group = AppGroup("jobs", help="List scheduled jobs and run one once.")


@jobs_group.command("list")
@dba_errors
def list_command() -> None:
    """Every job with its schedule and last run."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    runs = last_runs(get_database(), limit_per_job=1)
    for name, job_ in sorted(load_jobs().items()):
        schedule = ", ".join(f"{k}={v}" for k, v in schedule_for(app, job_).items())
        last = runs.get(name) or []
        if last:
            run = last[0]
            when = run["started_at"].isoformat(timespec="seconds")
            status = f"last: {run['outcome']} at {when} ({run['rows_touched']} rows)"
        else:
            status = "never run"
        click.echo(f"{name:<22} {schedule:<32} {status}")
        click.echo(f"{'':<22} {job_.description}")


@jobs_group.command("run")
@click.argument("name")
@dba_errors
def run_command(name: str) -> None:
    """Run job NAME once now; exit 1 when it fails or another run holds it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        record = run_job(app, name, trigger="cli")
    except UnknownJob as exc:
        known = ", ".join(sorted(load_jobs()))
        raise click.ClickException(f"unknown job {name!r}; jobs are: {known}") from exc
    click.echo(f"{name}: {record.outcome} ({record.rows_touched or 0} rows)")
    if record.outcome != "succeeded":
        raise click.ClickException(record.error or record.outcome)


@click.command("scheduler")
@click.option("--lease-seconds", type=click.FloatRange(0.5, 3600), default=None)
@with_appcontext
def scheduler_command(lease_seconds: float | None) -> None:
    """Run the scheduler: leader while it holds the lease, standby otherwise."""
    from pathfinder.jobs.scheduler import SchedulerProcess

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    SchedulerProcess(app, lease_seconds=lease_seconds).run_forever()
