"""Metrics read from the database when ``/metrics`` is scraped.

Jobs run in the scheduler (another process, maybe another host) and DBA commands in their
own processes, so their counts are read from the records they keep, not from this process's
memory: ``pf_job_runs`` (never purged) for job runs and failures, ``pf_tenant_provisioning``
for tenants by state and template version, and the audit tables for the sealing lag.
Each query is an indexed aggregate; a database that does not answer makes
``pathfinder_database_up`` 0 instead of failing the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pathfinder.db import Database
from pathfinder.schema.shared.jobs import job_runs
from pathfinder.schema.shared.security import audit_leaves, audit_log
from pathfinder.schema.shared.system import tenant_provisioning
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION

log = logging.getLogger(__name__)


def _job_metrics(conn: sa.Connection) -> Iterator[Metric]:
    runs = CounterMetricFamily(
        "pathfinder_job_runs",
        "Job runs recorded in pf_job_runs, by job and outcome.",
        labels=("job", "outcome"),
    )
    failures = CounterMetricFamily(
        "pathfinder_job_failures", "Job runs that failed, by job.", labels=("job",)
    )
    last_success = GaugeMetricFamily(
        "pathfinder_job_last_success_timestamp_seconds",
        "When each job last finished successfully (Unix time).",
        labels=("job",),
    )
    rows = conn.execute(
        sa.select(job_runs.c.job_name, job_runs.c.outcome, sa.func.count()).group_by(
            job_runs.c.job_name, job_runs.c.outcome
        )
    ).all()
    failed: dict[str, int] = {}
    for job, outcome, count in rows:
        runs.add_metric((job, outcome), int(count))
        failed.setdefault(job, 0)
        if outcome == "failed":
            failed[job] += int(count)
    for job, count in sorted(failed.items()):
        failures.add_metric((job,), count)
    succeeded = conn.execute(
        sa.select(job_runs.c.job_name, sa.func.max(job_runs.c.finished_at))
        .where(job_runs.c.outcome == "succeeded")
        .group_by(job_runs.c.job_name)
    ).all()
    for job, finished in succeeded:
        if finished is not None:
            last_success.add_metric((job,), finished.timestamp())
    yield from (runs, failures, last_success)


def _tenant_metrics(conn: sa.Connection) -> Iterator[Metric]:
    t = tenant_provisioning.c
    states = GaugeMetricFamily(
        "pathfinder_tenants", "Users' table sets by provisioning state.", labels=("state",)
    )
    for state, count in conn.execute(sa.select(t.state, sa.func.count()).group_by(t.state)):
        states.add_metric((state,), int(count))
    versions = GaugeMetricFamily(
        "pathfinder_tenants_template_version",
        "Ready users by the template version of their tables.",
        labels=("version",),
    )
    pending = 0
    query = (
        sa.select(t.template_version, sa.func.count())
        .where(t.state == "ready")
        .group_by(t.template_version)
    )
    for version, count in conn.execute(query):
        versions.add_metric((str(version),), int(count))
        if version is not None and version < LATEST_TEMPLATE_VERSION:
            pending += int(count)
    migrations = GaugeMetricFamily(
        "pathfinder_tenant_migrations_pending",
        "Ready users whose tables are behind the code's template version.",
        value=pending,
    )
    yield from (states, versions, migrations)


def _audit_metrics(conn: sa.Connection, now: datetime) -> Iterator[Metric]:
    """Rows after the highest sealed one: how many, and how long the oldest has waited.

    A range scan on the primary key from the last sealed ``seq``; a late commit below it
    (a lower number committed after higher ones were sealed) is not counted, and the sealer
    takes it in its next batch.
    """
    sealed = sa.select(sa.func.coalesce(sa.func.max(audit_leaves.c.seq), 0)).scalar_subquery()
    count, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(audit_log.c.created_at)).where(
            audit_log.c.seq > sealed
        )
    ).one()
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    yield GaugeMetricFamily(
        "pathfinder_audit_unsealed_rows",
        "Audit rows written after the last sealed one.",
        value=int(count),
    )
    yield GaugeMetricFamily(
        "pathfinder_audit_seal_lag_seconds",
        "Age of the oldest audit row not sealed yet (0 when all are sealed).",
        value=max(lag, 0.0),
    )


class DatabaseCollector(Collector):
    """Collects the database-derived metrics of one :class:`Database` at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        metrics: list[Metric] = []
        up = 1
        try:
            with self.db.connect() as conn:
                metrics += _job_metrics(conn)
                metrics += _tenant_metrics(conn)
                metrics += _audit_metrics(conn, datetime.now(UTC))
                conn.rollback()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            metrics, up = [], 0
        yield from metrics
        yield GaugeMetricFamily(
            "pathfinder_database_up", "1 when the database answered this scrape.", value=up
        )
