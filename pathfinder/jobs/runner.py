"""Running one job once: a lock so it never runs twice at once, and a record of the run.

Used by the scheduler and by ``pathfinder jobs run``. The lock is a conditional UPDATE on
``pf_job_locks`` (taken when free or when the previous holder's time limit has passed), so it
works the same on SQLite, PostgreSQL and Oracle, and a crashed run cannot block the job for
longer than its ``max_runtime_seconds``. A failing job is recorded, logged and re-raised to
the caller only when asked: the scheduler goes on with the others.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.jobs.registry import Job, JobContext, JobResult, load_jobs
from pathfinder.schema.shared.jobs import job_locks, job_runs

log = logging.getLogger(__name__)


def holder_id() -> str:
    """Who holds a lock or lease: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job_name: str
    outcome: str
    rows_touched: int | None
    error: str | None


class UnknownJob(KeyError):
    pass


def run_job(app: Flask, name: str, *, trigger: str = "cli", holder: str | None = None) -> RunRecord:
    """Run job ``name`` once if nobody else is running it; return the run's record."""
    jobs = load_jobs()
    if name not in jobs:
        raise UnknownJob(name)
    job = jobs[name]
    holder = holder or holder_id()
    with app.app_context():
        db = get_database(app)
        now = datetime.now(UTC)
        run_id = new_id()
        if not _take_lock(db, job, holder, now):
            with db.transaction() as conn:
                conn.execute(
                    job_runs.insert().values(
                        id=run_id,
                        job_name=name,
                        triggered_by=trigger,
                        holder=holder,
                        started_at=now,
                        finished_at=now,
                        outcome="skipped",
                        error="another run of this job is in progress",
                    )
                )
            return RunRecord(run_id, name, "skipped", None, "another run is in progress")
        with db.transaction() as conn:
            conn.execute(
                job_runs.insert().values(
                    id=run_id,
                    job_name=name,
                    triggered_by=trigger,
                    holder=holder,
                    started_at=now,
                    outcome="running",
                )
            )
        try:
            result = job.run(JobContext(app, db, now))
            outcome, error = ("failed" if result.failed else "succeeded"), None
            if result.failed:
                error = str(result.details.get("error", "the job reported a failure"))[:1000]
                log.error("job %s reported a failure: %s", name, error)
        except Exception as exc:  # noqa: BLE001 - recorded; the scheduler goes on
            log.error("job %s failed:\n%s", name, traceback.format_exc())
            result = JobResult()
            outcome, error = "failed", f"{type(exc).__name__}: {str(exc)[:900]}"
        finally:
            _release_lock(db, job, holder)
        with db.transaction() as conn:
            conn.execute(
                job_runs.update()
                .where(job_runs.c.id == run_id)
                .values(
                    finished_at=datetime.now(UTC),
                    outcome=outcome,
                    rows_touched=result.rows_touched,
                    error=error,
                    details=result.details or None,
                )
            )
        return RunRecord(run_id, name, outcome, result.rows_touched, error)


def _take_lock(db, job: Job, holder: str, now: datetime) -> bool:  # type: ignore[no-untyped-def]
    until = now + timedelta(seconds=job.max_runtime_seconds)
    with db.transaction() as conn:
        exists = conn.execute(
            sa.select(job_locks.c.job_name).where(job_locks.c.job_name == job.name)
        ).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        job_locks.insert().values(
                            job_name=job.name, holder=holder, locked_until=until
                        )
                    )
                return True
            except sa.exc.IntegrityError:
                return False
        taken = conn.execute(
            job_locks.update()
            .where(
                job_locks.c.job_name == job.name,
                sa.or_(job_locks.c.locked_until.is_(None), job_locks.c.locked_until < now),
            )
            .values(holder=holder, locked_until=until)
        )
        return taken.rowcount == 1


def _release_lock(db, job: Job, holder: str) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as conn:
        conn.execute(
            job_locks.update()
            .where(job_locks.c.job_name == job.name, job_locks.c.holder == holder)
            .values(holder=None, locked_until=None)
        )


def last_runs(db, limit_per_job: int = 5) -> dict[str, list[dict[str, object]]]:  # type: ignore[no-untyped-def]
    """The latest runs of every job, newest first."""
    out: dict[str, list[dict[str, object]]] = {}
    with db.transaction() as conn:
        for name in load_jobs():
            rows = (
                conn.execute(
                    sa.select(job_runs)
                    .where(job_runs.c.job_name == name)
                    .order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc())
                    .limit(limit_per_job)
                )
                .mappings()
                .all()
            )
            out[name] = [dict(r) for r in rows]
    return out
