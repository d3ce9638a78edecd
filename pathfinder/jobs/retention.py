"""Data retention: the policies in ``pf_data_retention_policies`` and what applying them does.

A policy names a *logical* table; this module maps each supported name to a handler written
for that table. Nothing here turns a policy's text into an identifier, so an edited policy
can at worst name a table no handler knows, which is reported and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement

from pathfinder.db import Database
from pathfinder.ids import new_id
from pathfinder.provisioning import registry
from pathfinder.schema.shared.analytics import user_analytics
from pathfinder.schema.shared.identity import user_sessions
from pathfinder.schema.shared.reference import data_retention_policies
from pathfinder.schema.shared.security import audit_log


@dataclass(frozen=True)
class DefaultPolicy:
    key: str
    table: str
    age_column: str
    days: int
    action: str
    archive_table: str | None
    active: bool = True


DEFAULT_POLICIES = (
    DefaultPolicy("sessions", "pf_user_sessions", "expires_at", 90, "delete", None),
    DefaultPolicy("analytics_events", "pf_user_analytics", "created_at", 730, "delete", None),
    # Seven years, archived not deleted: rows stay in the hash chain.
    DefaultPolicy("audit_log", "pf_audit_log", "created_at", 2555, "archive", "pf_audit_log"),
    DefaultPolicy("experiences", "experiences", "end_date", 3650, "archive", "experiences_archive"),
)


def seed_retention_policies(conn: Connection) -> int:
    """Insert the default policies that are missing (never overwrite an admin's edit)."""
    existing = set(conn.execute(sa.select(data_retention_policies.c.policy_key)).scalars())
    now = datetime.now(UTC)
    added = 0
    for policy in DEFAULT_POLICIES:
        if policy.key in existing:
            continue
        conn.execute(
            data_retention_policies.insert().values(
                id=new_id(),
                policy_key=policy.key,
                table_pattern=policy.table,
                age_column=policy.age_column,
                retention_days=policy.days,
                action=policy.action,
                archive_table=policy.archive_table,
                is_active=policy.active,
                created_at=now,
                updated_at=now,
            )
        )
        added += 1
    return added


Handler = Callable[[Database, datetime, int], int]


def purge_sessions(db: Database, cutoff: datetime, batch: int) -> int:
    """Delete sessions that expired, or were revoked, before ``cutoff``.

    Ended sessions are kept a while so recent audit rows can point at them; then they go.
    """
    s = user_sessions.c
    ended_before = sa.or_(
        s.expires_at < cutoff, sa.and_(s.revoked_at.is_not(None), s.revoked_at < cutoff)
    )
    total = 0
    while True:
        with db.transaction() as conn:
            ids = conn.execute(sa.select(s.id).where(ended_before).limit(batch)).scalars().all()
            if not ids:
                return total
            # Rows of one family point at each other (replaced_by): clear before deleting.
            conn.execute(
                user_sessions.update().where(s.replaced_by.in_(ids)).values(replaced_by=None)
            )
            total += conn.execute(user_sessions.delete().where(s.id.in_(ids))).rowcount


_user_tab_partitions = sa.table(
    "user_tab_partitions",
    sa.column("table_name"),
    sa.column("partition_name"),
    sa.column("high_value"),
    sa.column("interval"),
)
_HIGH_VALUE = re.compile(r"TIMESTAMP'\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})'")


class DropPartition(ExecutableDDLElement):
    """``ALTER TABLE <table> DROP PARTITION <name> UPDATE GLOBAL INDEXES`` (Oracle).

    ``UPDATE GLOBAL INDEXES`` keeps the global primary-key index usable; without it every
    later insert would fail with ORA-01502.
    """

    def __init__(self, table: sa.Table, partition: str) -> None:
        self.table = table
        self.partition = partition


@compiles(DropPartition, "oracle")
def _compile_drop_partition(element: DropPartition, compiler: Any, **kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    name = compiler.preparer.quote_identifier(element.partition)
    return f"ALTER TABLE {table} DROP PARTITION {name} UPDATE GLOBAL INDEXES"


def partitions_to_drop(rows: list[tuple[str, str, str]], cutoff: datetime) -> list[str]:
    """Interval partitions whose upper bound is at or before ``cutoff`` (whole days only).

    ``rows`` are (partition_name, high_value, interval) from USER_TAB_PARTITIONS; the range
    partition that starts the interval (interval = 'NO') can never be dropped.
    """
    naive_cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)
    names = []
    for name, high_value, interval in rows:
        match = _HIGH_VALUE.search(high_value or "")
        if interval != "YES" or match is None:
            continue
        if datetime.fromisoformat(match.group(1)) <= naive_cutoff:
            names.append(name)
    return names


def _drop_oracle_partitions(db: Database, cutoff: datetime) -> int:
    with db.transaction() as conn:
        rows = [
            (r.partition_name, str(r.high_value), r.interval)
            for r in conn.execute(
                sa.select(_user_tab_partitions).where(
                    _user_tab_partitions.c.table_name == user_analytics.name.upper()
                )
            )
        ]
    dropped = 0
    for name in partitions_to_drop(rows, cutoff):
        with db.transaction() as conn:
            conn.execute(DropPartition(user_analytics, name))
        dropped += 1
    return dropped


def _delete_analytics(db: Database, cutoff: datetime, batch: int) -> int:
    """Remove old usage events: whole daily partitions on Oracle, rows elsewhere.

    On Oracle the table is interval-partitioned by day, so dropping partitions whose upper
    bound is past the cutoff costs no row-by-row delete; rows left in the partition that
    straddles the cutoff are deleted like everywhere else. Returns partitions dropped plus
    rows deleted.
    """
    dropped = _drop_oracle_partitions(db, cutoff) if db.dialect_name == "oracle" else 0
    a = user_analytics.c
    total = 0
    while True:
        with db.transaction() as conn:
            ids = (
                conn.execute(sa.select(a.id).where(a.created_at < cutoff).limit(batch))
                .scalars()
                .all()
            )
            if not ids:
                return total + dropped
            total += conn.execute(user_analytics.delete().where(a.id.in_(ids))).rowcount


def _keep_audit(db: Database, cutoff: datetime, batch: int) -> int:
    """Archive-only: audit rows are never deleted (they are links of the hash chain).

    Returns how many rows are older than the retention, for the run record; exporting them
    to cold storage is an operator's step (docs/operations.md).
    """
    with db.transaction() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(audit_log.c.created_at < cutoff)
            ).scalar_one()
        )


def _archive_experiences(db: Database, cutoff: datetime, batch: int) -> int:
    from pathfinder.career.archive import archive_experiences

    moved = 0
    after: str | None = None
    while True:
        with db.transaction() as conn:
            users = registry.list_tenants(conn, states=["ready"], after=after, limit=batch)
        for record in users:
            moved += archive_experiences(db, record.username, cutoff.date())
        if len(users) < batch:
            return moved
        after = users[-1].username


HANDLERS: dict[str, Handler] = {
    "pf_user_sessions": purge_sessions,
    "pf_user_analytics": _delete_analytics,
    "pf_audit_log": _keep_audit,
    "experiences": _archive_experiences,
}


@dataclass
class RetentionReport:
    applied: dict[str, int]
    skipped: dict[str, str]


def apply_retention(db: Database, now: datetime, *, batch: int = 500) -> RetentionReport:
    """Apply every active policy once; record ``last_run`` for each one applied."""
    with db.transaction() as conn:
        policies = (
            conn.execute(
                sa.select(data_retention_policies).where(
                    data_retention_policies.c.is_active.is_(True)
                )
            )
            .mappings()
            .all()
        )
    report = RetentionReport({}, {})
    for policy in policies:
        handler = HANDLERS.get(policy["table_pattern"])
        if handler is None:
            report.skipped[policy["policy_key"]] = f"no handler for {policy['table_pattern']!r}"
            continue
        cutoff = now - timedelta(days=int(policy["retention_days"]))
        report.applied[policy["policy_key"]] = handler(db, cutoff, batch)
        with db.transaction() as conn:
            conn.execute(
                data_retention_policies.update()
                .where(data_retention_policies.c.id == policy["id"])
                .values(last_run=now, updated_at=now)
            )
    return report
