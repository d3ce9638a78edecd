"""``pathfinder jobs list|run`` and ``pathfinder scheduler``.

``jobs run`` writes one ``sys_dba_action`` audit row after the run, with the operator as
actor; runs the scheduler starts are recorded in ``pf_job_runs`` only.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from pathfinder.cli.errors import dba_errors
from pathfinder.cli.operator import dba_action
from pathfinder.db import get_database
from pathfinder.jobs.registry import load_jobs, schedule_for
from pathfinder.jobs.runner import last_runs, run_job

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
    jobs = load_jobs()
    if name not in jobs:
        # A typo runs nothing, so it is answered here and leaves no audit row.
        raise click.ClickException(f"unknown job {name!r}; jobs are: {', '.join(sorted(jobs))}")
    with dba_action("sys_dba_action", "jobs run", target_type="job", target_display=name) as row:
        record = run_job(app, name, trigger="cli")
        # The run's error text stays in pf_job_runs (found by run_id): it may quote data.
        row.details = {
            "job": name,
            "run_id": record.run_id,
            "run_outcome": record.outcome,
            "rows_touched": record.rows_touched,
        }
        row.outcome = "success" if record.outcome == "succeeded" else "failure"
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
