"""What the jobs are doing: schedules, next and last runs, the leader; and "run now".

Both the ``GET /admin/jobs`` route and the console read this, so they show the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask

from pathfinder import audit
from pathfinder.auth.principal import Principal
from pathfinder.db import get_database
from pathfinder.jobs import lease
from pathfinder.jobs.registry import load_jobs, schedule_for
from pathfinder.jobs.runner import RunRecord, UnknownJob, last_runs, run_job


def next_run(schedule: dict[str, Any]) -> str | None:
    """When the schedule fires next (computed the way the scheduler computes it)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    args = dict(schedule)
    kind = args.pop("trigger", "interval")
    now = datetime.now(UTC)
    trigger = CronTrigger(timezone="UTC", **args) if kind == "cron" else IntervalTrigger(**args)
    fire = trigger.get_next_fire_time(None, now)
    return fire.isoformat() if fire else None


def _run_json(run: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in run.items()
        if key != "holder"
    }


def job_overview(app: Flask) -> dict[str, Any]:
    """Every job with its schedule, next run and latest runs, and the scheduler's leader."""
    db = get_database(app)
    runs = last_runs(db, limit_per_job=5)
    holder, expires = lease.current_holder(db)
    items = []
    for name, job_ in sorted(load_jobs().items()):
        schedule = dict(schedule_for(app, job_))
        items.append(
            {
                "name": name,
                "description": job_.description,
                "schedule": schedule,
                "next_run_at": next_run(schedule),
                "last_runs": [_run_json(r) for r in runs.get(name, [])],
            }
        )
    leader = {"holder": holder, "lease_expires_at": expires.isoformat() if expires else None}
    return {"items": items, "scheduler": leader}


def run_now(app: Flask, actor: Principal, name: str) -> RunRecord:
    """Run job ``name`` once for an admin (as ``pathfinder jobs run`` does), audited.

    The run takes the job's lock like a scheduled run, so it is skipped (and recorded as
    skipped) while another run of the job is in progress.
    """
    if name not in load_jobs():
        raise UnknownJob(name)
    record = run_job(app, name, trigger="console")
    with get_database(app).transaction() as conn:
        audit.record(
            conn,
            "sys_dba_action",
            actor=actor,
            target_type="job",
            target_id=record.run_id,
            outcome="success" if record.outcome in ("succeeded", "skipped") else "failure",
            details={"command": "jobs run", "job": name, "outcome": record.outcome},
        )
    return record
