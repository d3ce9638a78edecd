"""Reading the audit log for admins: the search behind ``GET /admin/audit`` and the console.

One query builder, so the JSON route and the console page filter, order and page the same
way, and show the same columns (never the row hashes or the pseudonymisation key material).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pathfinder.db import get_database
from pathfinder.schema.shared.jobs import job_runs
from pathfinder.schema.shared.security import audit_checkpoints, audit_log

PUBLIC_COLUMNS = (
    "seq",
    "event_type",
    "outcome",
    "actor_id",
    "actor_role",
    "target_type",
    "target_id",
    "http_method",
    "request_path",
    "status_code",
    "ip_address",
    "user_agent",
    "details",
    "created_at",
)


@dataclass(frozen=True)
class AuditFilter:
    """What an admin searches by; every field optional."""

    user_id: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _json(row: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def columns() -> list[sa.Column[Any]]:
    return [audit_log.c[name] for name in PUBLIC_COLUMNS]


def page(query: sa.Select[Any], cursor: int | None, limit: int) -> dict[str, Any]:
    """Newest first by ``seq``; ``next_cursor`` continues below the last row returned."""
    if cursor is not None:
        query = query.where(audit_log.c.seq < cursor)
    query = query.order_by(audit_log.c.seq.desc()).limit(limit + 1)
    with get_database().transaction() as conn:
        rows = conn.execute(query).mappings().all()
    items = [_json(row) for row in rows[:limit]]
    next_cursor = items[-1]["seq"] if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor, "limit": limit}


def search(where: AuditFilter, *, cursor: int | None, limit: int) -> dict[str, Any]:
    """Audit rows matching ``where``, a page at a time."""
    query = sa.select(*columns())
    if where.user_id:
        query = query.where(
            sa.or_(audit_log.c.actor_id == where.user_id, audit_log.c.target_id == where.user_id)
        )
    if where.event_type:
        query = query.where(audit_log.c.event_type == where.event_type)
    if where.since:
        query = query.where(audit_log.c.created_at >= where.since)
    if where.until:
        query = query.where(audit_log.c.created_at < where.until)
    return page(query, cursor, limit)


def one_row(seq: int) -> dict[str, Any] | None:
    """One audit row by its sequence number, with the same columns as the search."""
    with get_database().transaction() as conn:
        row = conn.execute(sa.select(*columns()).where(audit_log.c.seq == seq)).mappings().first()
    return _json(row) if row else None


def integrity_status() -> dict[str, Any]:
    """The latest signed checkpoint and the latest run of the verification job."""
    with get_database().transaction() as conn:
        checkpoint = (
            conn.execute(
                sa.select(
                    audit_checkpoints.c.tree_size,
                    audit_checkpoints.c.root_hash,
                    audit_checkpoints.c.key_id,
                    audit_checkpoints.c.sealed_at,
                )
                .order_by(audit_checkpoints.c.tree_size.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        verification = (
            conn.execute(
                sa.select(
                    job_runs.c.started_at,
                    job_runs.c.finished_at,
                    job_runs.c.outcome,
                    job_runs.c.error,
                    job_runs.c.details,
                )
                .where(job_runs.c.job_name == "audit_verify")
                .order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return {
        "checkpoint": _json(checkpoint) if checkpoint else None,
        "verification": _json(verification) if verification else None,
    }
