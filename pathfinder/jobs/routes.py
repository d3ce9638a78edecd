"""``GET /api/v1/admin/jobs``: every job, its schedule, next run and latest runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.auth.policy import requires
from pathfinder.db import get_database
from pathfinder.jobs import lease
from pathfinder.jobs.registry import load_jobs, schedule_for
from pathfinder.jobs.responses import JobList
from pathfinder.jobs.runner import last_runs

bp = Blueprint("jobs", __name__)


def _next_run(schedule: dict[str, Any]) -> str | None:
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


@bp.get("/admin/jobs")
@requires("admin")
@contract(responses={200: JobList}, tags=("jobs",))
def list_jobs() -> ResponseReturnValue:
    """Jobs with their last runs, next run time and the scheduler's current leader."""
    db = get_database()
    runs = last_runs(db, limit_per_job=5)
    holder, expires = lease.current_holder(db)
    items = []
    for name, job_ in sorted(load_jobs().items()):
        schedule = dict(schedule_for(current_app, job_))
        items.append(
            {
                "name": name,
                "description": job_.description,
                "schedule": schedule,
                "next_run_at": _next_run(schedule),
                "last_runs": [_run_json(r) for r in runs.get(name, [])],
            }
        )
    leader = {"holder": holder, "lease_expires_at": expires.isoformat() if expires else None}
    return jsonify({"items": items, "scheduler": leader}), 200
