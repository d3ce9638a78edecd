"""The caller's career metrics, skill assessments and trajectory (``/me/analytics/...``).

Every function works inside one transaction over the caller's own tables
(:meth:`Database.tenant_transaction`), and writes its audit row in that same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection, RowMapping

from pathfinder import audit
from pathfinder.analytics import repo
from pathfinder.analytics.cursor import decode_cursor, encode_cursor
from pathfinder.analytics.metrics import store_career_metrics, trajectory
from pathfinder.analytics.schemas import (
    MetricsQuery,
    MetricUpsert,
    ProgressionCreate,
    ProgressionQuery,
    TrajectoryQuery,
)
from pathfinder.api.errors import NotFound, ServiceUnavailable
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.db import TenantNotProvisioned, get_database
from pathfinder.schema.tenant import TenantTables


@contextmanager
def caller_tables(principal: Principal) -> Iterator[tuple[Connection, TenantTables]]:
    """One transaction over the shared tables and the caller's own tables.

    A user whose tables are missing (provisioning unfinished) gets a 503 they can retry,
    not a 500.
    """
    try:
        with get_database().tenant_transaction(principal.username) as (conn, tables):
            yield conn, tables
    except TenantNotProvisioned:
        raise ServiceUnavailable(
            "Your data area is not ready yet; try again shortly.", slug="tenant-not-ready"
        ) from None


def _keyset(cursor: str | None) -> tuple[date, str] | None:
    if cursor is None:
        return None
    day, row_id = decode_cursor(cursor, 2)
    try:
        return date.fromisoformat(str(day)), str(row_id)
    except ValueError:
        raise ValidationProblem(
            "One or more query parameters are invalid.",
            errors=[{"field": "cursor", "message": "not a cursor returned by this endpoint"}],
        ) from None


def _page(rows: list[RowMapping], limit: int, key: str, serialise: Any) -> dict[str, Any]:
    """A page of ``limit`` rows (one extra was read to know whether more follow)."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1][key].isoformat(), rows[-1]["id"]) if more else None
    return {"items": [serialise(r) for r in rows], "next_cursor": next_cursor, "limit": limit}


def serialise_metric(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "metric_date": row["metric_date"].isoformat(),
        "metric_type": row["metric_type"],
        "metric_value": float(row["metric_value"]),
        "details": row["details"],
        "created_at": row["created_at"].isoformat(),
    }


def serialise_progression(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "skill_name": row["skill_name"],
        "assessed_on": row["assessed_on"].isoformat(),
        "proficiency_level": int(row["proficiency_level"]),
        "assessment_source": row["assessment_source"],
        "notes": row["notes"],
        "created_at": row["created_at"].isoformat(),
    }


def record_metric(principal: Principal, body: MetricUpsert) -> tuple[dict[str, Any], bool]:
    """Insert or replace my metric for (date, type); (metric, created)."""
    now = datetime.now(UTC)
    with caller_tables(principal) as (conn, tables):
        row, created = repo.upsert_metric(
            conn,
            tables,
            metric_date=body.metric_date,
            metric_type=body.metric_type,
            metric_value=Decimal(str(round(body.metric_value, 4))),
            details=body.details,
            now=now,
        )
        audit.record(
            conn,
            "sensitive_create" if created else "sensitive_update",
            actor=principal,
            target_type="career_metric",
            target_id=row["id"],
            details={"metric_type": body.metric_type},
        )
        return serialise_metric(row), created


def list_metrics(principal: Principal, query: MetricsQuery) -> dict[str, Any]:
    """A page of my metrics, newest day first."""
    with caller_tables(principal) as (conn, tables):
        rows = repo.list_metrics(
            conn,
            tables,
            metric_type=query.metric_type,
            date_from=query.date_from,
            date_to=query.date_to,
            limit=query.limit + 1,
            after=_keyset(query.cursor),
        )
    return _page(rows, query.limit, "metric_date", serialise_metric)


def compute_my_metrics(principal: Principal, on_date: date | None = None) -> dict[str, Any]:
    """Compute and store today's computed metrics now, instead of waiting for the job."""
    day = on_date or datetime.now(UTC).date()
    with caller_tables(principal) as (conn, tables):
        metrics = store_career_metrics(conn, tables, day)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="career_metric",
            details={"computed": sorted(metrics), "metric_date": day.isoformat()},
        )
    return {
        "metric_date": day.isoformat(),
        "metrics": {k: {"value": v, "details": d} for k, (v, d) in metrics.items()},
    }


def create_progression(principal: Principal, body: ProgressionCreate) -> dict[str, Any]:
    """Record one assessment of one of my skills."""
    now = datetime.now(UTC)
    with caller_tables(principal) as (conn, tables):
        row_id = repo.insert_progression(
            conn,
            tables,
            {
                "skill_name": body.skill_name,
                "assessed_on": body.assessed_on,
                "proficiency_level": body.proficiency_level,
                "assessment_source": body.assessment_source,
                "notes": body.notes,
                "created_at": now,
            },
        )
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="skills_progression",
            target_id=row_id,
        )
        row = repo.get_progression(conn, tables, row_id)
        if row is None:  # inserted just above, in this very transaction
            raise RuntimeError("skill assessment vanished inside its own transaction")
        return serialise_progression(row)


def list_progression(principal: Principal, query: ProgressionQuery) -> dict[str, Any]:
    """A page of my skill assessments, newest first."""
    with caller_tables(principal) as (conn, tables):
        rows = repo.list_progression(
            conn,
            tables,
            skill=query.skill,
            date_from=query.date_from,
            date_to=query.date_to,
            limit=query.limit + 1,
            after=_keyset(query.cursor),
        )
    return _page(rows, query.limit, "assessed_on", serialise_progression)


def delete_progression(principal: Principal, progression_id: str) -> None:
    """Delete one of my assessments; anything else (someone else's included) is 404."""
    with caller_tables(principal) as (conn, tables):
        if not repo.delete_progression(conn, tables, progression_id):
            raise NotFound("No such skill assessment.")
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="skills_progression",
            target_id=progression_id,
        )


def get_trajectory(principal: Principal, query: TrajectoryQuery) -> dict[str, Any]:
    """My career as chart series (see :func:`pathfinder.analytics.metrics.trajectory`)."""
    metric_types = query.metric_type if isinstance(query.metric_type, list) else None
    with caller_tables(principal) as (conn, tables):
        return trajectory(
            conn,
            tables,
            date_from=query.date_from,
            date_to=query.date_to or datetime.now(UTC).date(),
            metric_types=metric_types,
        )
