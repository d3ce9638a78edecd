"""Data retention: the policies in ``pf_data_retention_policies`` and what applying them does.

A policy names a *logical* table; this module maps each supported name to a handler written
for that table. Nothing here turns a policy's text into an identifier, so an edited policy
can at worst name a table no handler knows, which is reported and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
    # Seven years, archived not deleted: rows stay leaves of the Merkle tree.
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


@dataclass
class RetentionRun:
    """One policy's run: where, up to which instant, in what batches, for real or not."""

    db: Database
    cutoff: datetime
    batch: int
    dry_run: bool
    archive_dir: Path | None
    now: datetime
    # Filled by a handler with what a count does not say (an archive's seq range).
    details: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[RetentionRun], int]


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


def _count_sessions(ctx: RetentionRun) -> int:
    s = user_sessions.c
    ended_before = sa.or_(
        s.expires_at < ctx.cutoff,
        sa.and_(s.revoked_at.is_not(None), s.revoked_at < ctx.cutoff),
    )
    with ctx.db.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).where(ended_before)).scalar_one()
        conn.rollback()
    return int(count)


def _count_analytics(ctx: RetentionRun) -> int:
    with ctx.db.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(user_analytics.c.created_at < ctx.cutoff)
        ).scalar_one()
        conn.rollback()
    return int(count)


def _archive_audit(ctx: RetentionRun) -> int:
    """Copy sealed audit rows older than the cutoff to archive files; never delete them.

    Audit rows are leaves of the Merkle tree: deleting one is what ``audit verify`` reports.
    See :mod:`pathfinder.audit.archive`.
    """
    from pathfinder.audit.archive import archive_audit_log

    report = archive_audit_log(
        ctx.db, ctx.cutoff, directory=ctx.archive_dir, dry_run=ctx.dry_run, now=ctx.now
    )
    ctx.details.update(report.as_json())
    return report.rows


def _ready_users(db: Database, batch: int) -> Iterator[str]:
    after: str | None = None
    while True:
        with db.transaction() as conn:
            users = registry.list_tenants(conn, states=["ready"], after=after, limit=batch)
        for record in users:
            yield record.username
        if len(users) < batch:
            return
        after = users[-1].username


def _archive_experiences(ctx: RetentionRun) -> int:
    from pathfinder.career.archive import archive_experiences

    return sum(
        archive_experiences(ctx.db, username, ctx.cutoff.date())
        for username in _ready_users(ctx.db, ctx.batch)
    )


def _count_experiences(ctx: RetentionRun) -> int:
    from pathfinder.career.repo import experiences_ended_before

    total = 0
    for username in _ready_users(ctx.db, ctx.batch):
        with ctx.db.tenant_transaction(username) as (conn, tables):
            total += len(experiences_ended_before(conn, tables, ctx.cutoff.date()))
    return total


@dataclass(frozen=True)
class RetentionTarget:
    """What a policy on one logical table can do: apply it, count what it would touch.

    ``actions`` are the policy actions that make sense for the table: the audit log is only
    ever archived (deleting its rows would break ``audit verify``), sessions and events are
    deleted, experiences move to their archive table.
    """

    apply: Handler
    preview: Handler
    actions: tuple[str, ...]


def _delete_sessions(ctx: RetentionRun) -> int:
    return purge_sessions(ctx.db, ctx.cutoff, ctx.batch)


def _delete_analytics_rows(ctx: RetentionRun) -> int:
    return _delete_analytics(ctx.db, ctx.cutoff, ctx.batch)


def _preview_audit(ctx: RetentionRun) -> int:
    return _archive_audit(ctx)


TARGETS: dict[str, RetentionTarget] = {
    "pf_user_sessions": RetentionTarget(_delete_sessions, _count_sessions, ("delete",)),
    "pf_user_analytics": RetentionTarget(_delete_analytics_rows, _count_analytics, ("delete",)),
    "pf_audit_log": RetentionTarget(_archive_audit, _preview_audit, ("archive",)),
    "experiences": RetentionTarget(
        # Archived roles leave the live table: both actions mean that move.
        _archive_experiences,
        _count_experiences,
        ("archive", "archive_then_delete"),
    ),
}


@dataclass
class RetentionReport:
    applied: dict[str, int]
    skipped: dict[str, str]
    dry_run: bool = False
    # Per policy: the cutoff, and what the handler says beyond a count (archive ranges).
    details: dict[str, dict[str, Any]] = field(default_factory=dict)


def apply_retention(
    db: Database,
    now: datetime,
    *,
    batch: int = 500,
    dry_run: bool = False,
    archive_dir: Path | None = None,
    only: str | None = None,
) -> RetentionReport:
    """Apply every active policy once (or ``only`` that one); record ``last_run`` for each.

    ``dry_run`` counts what each policy would delete or archive and changes nothing, not
    even ``last_run``. ``archive_dir`` is where the audit log's archive files go. Call in an
    app context (archiving writes signed audit rows; experiences are re-encrypted).
    """
    query = sa.select(data_retention_policies).order_by(data_retention_policies.c.policy_key)
    if only is not None:
        query = query.where(data_retention_policies.c.policy_key == only)
    else:
        query = query.where(data_retention_policies.c.is_active.is_(True))
    with db.transaction() as conn:
        policies = conn.execute(query).mappings().all()
    report = RetentionReport({}, {}, dry_run=dry_run)
    for policy in policies:
        key = policy["policy_key"]
        target = TARGETS.get(policy["table_pattern"])
        if target is None:
            report.skipped[key] = f"no handler for {policy['table_pattern']!r}"
            continue
        if policy["action"] not in target.actions:
            report.skipped[key] = (
                f"action {policy['action']!r} is not allowed for {policy['table_pattern']}"
            )
            continue
        cutoff = now - timedelta(days=int(policy["retention_days"]))
        ctx = RetentionRun(db, cutoff, batch, dry_run, archive_dir, now)
        handler = target.preview if dry_run else target.apply
        report.applied[key] = handler(ctx)
        report.details[key] = {"cutoff": cutoff.isoformat(), **ctx.details}
        if dry_run:
            continue
        with db.transaction() as conn:
            conn.execute(
                data_retention_policies.update()
                .where(data_retention_policies.c.id == policy["id"])
                .values(last_run=now, updated_at=now)
            )
    return report
