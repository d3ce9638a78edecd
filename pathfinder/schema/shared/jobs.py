"""Scheduled work: which scheduler leads, which job is running, and every run's record.

``pf_scheduler_leases`` holds one row per lease (``scheduler``): the holder renews it while
alive and a standby takes it when it expires, so exactly one scheduler runs jobs across
machines. ``pf_job_locks`` keeps a job from running twice at once (a scheduler run and a
DBA's ``pathfinder jobs run`` included). ``pf_job_runs`` records every run.
"""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.types import JsonDocument, UtcDateTime, id_type, json_checks

JOB_OUTCOMES = ("running", "succeeded", "failed", "skipped")

scheduler_leases = sa.Table(
    "pf_scheduler_leases",
    metadata,
    sa.Column("lease_key", sa.String(50), primary_key=True),
    # host:pid:random of the holder; NULL when released.
    sa.Column("holder", sa.String(200)),
    sa.Column("acquired_at", UtcDateTime()),
    sa.Column("expires_at", UtcDateTime()),
)

job_locks = sa.Table(
    "pf_job_locks",
    metadata,
    sa.Column("job_name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.String(200)),
    # A crashed run's lock is taken over once this has passed (the job's time limit).
    sa.Column("locked_until", UtcDateTime()),
)

job_runs = sa.Table(
    "pf_job_runs",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("job_name", sa.String(50), nullable=False),
    # "scheduler" or "cli" (a DBA's pathfinder jobs run).
    sa.Column("triggered_by", sa.String(20), nullable=False),
    sa.Column("holder", sa.String(200)),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("rows_touched", sa.Integer()),
    sa.Column("error", sa.String(1000)),
    sa.Column("details", JsonDocument()),
    sa.CheckConstraint(sa.column("outcome").in_(JOB_OUTCOMES), name="outcome"),
    sa.Index(None, "job_name", "started_at"),
    *json_checks("details"),
)
