"""Admin aggregates over product events: active users and events by type per day.

Active users come from ``pf_mv_user_stats`` (a materialized view on PostgreSQL and Oracle,
a table on SQLite), refreshed by :func:`rollup_daily_events` or an admin's explicit
refresh, never on every read: the refresh recomputes every user. The figures are relative
to the snapshot's ``refreshed_at``, so DAU/WAU/MAU of a day-old snapshot describe that day:

* DAU: users whose last event is within 24 hours before the snapshot;
* WAU / MAU: users with at least one event in the 7 / 30 days before it.

Events by type per day are counted from ``pf_user_analytics`` for the requested window
(at most 90 days; on Oracle the range predicate prunes to those days' partitions). No
per-event data, page or user ever leaves this module: only counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from pathfinder import audit
from pathfinder.auth.principal import Principal
from pathfinder.db.database import Database
from pathfinder.schema.shared.analytics import refresh_user_stats, user_analytics, user_stats


class UtcDay(sa.sql.expression.ColumnElement[Any]):
    """The calendar day of a naive-UTC timestamp column, as a DATE on every back-end."""

    inherit_cache = True
    type = sa.Date()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.ColumnElement[Any]) -> None:
        self.column = column


@compiles(UtcDay)
def _compile_utc_day(element: UtcDay, compiler: SQLCompiler, **kw: Any) -> str:
    name = compiler.dialect.name
    if name == "sqlite":
        expr: sa.ColumnElement[Any] = sa.func.date(element.column)
    elif name == "oracle":
        expr = sa.func.trunc(element.column)  # CAST(... AS DATE) keeps the time on Oracle
    else:
        expr = sa.cast(element.column, sa.Date())
    return compiler.process(expr, **kw)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):  # Oracle's TRUNC gives a DATE, read as datetime
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value  # type: ignore[no-any-return]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def events_by_day(conn: Connection, first_day: date, last_day: date) -> list[dict[str, Any]]:
    """Per day from ``first_day`` to ``last_day`` (UTC): total, active users, count per type.

    Days without events are included with zeros, so a chart's x-axis has no gaps.
    """
    start, end = day_start(first_day), day_start(last_day + timedelta(days=1))
    in_range = sa.and_(user_analytics.c.created_at >= start, user_analytics.c.created_at < end)
    day = UtcDay(user_analytics.c.created_at)
    by_type = conn.execute(
        sa.select(day.label("event_day"), user_analytics.c.event_type, sa.func.count().label("n"))
        .where(in_range)
        .group_by(day, user_analytics.c.event_type)
    ).all()
    users = conn.execute(
        sa.select(day.label("event_day"), sa.func.count(sa.distinct(user_analytics.c.user_id)))
        .where(in_range)
        .group_by(day)
    ).all()
    days: dict[date, dict[str, Any]] = {}
    current = first_day
    while current <= last_day:
        days[current] = {"day": current.isoformat(), "total": 0, "active_users": 0, "by_type": {}}
        current += timedelta(days=1)
    for row_day, event_type, count in by_type:
        entry = days.get(_as_date(row_day))
        if entry is not None:
            entry["by_type"][event_type] = int(count)
            entry["total"] += int(count)
    for row_day, count in users:
        entry = days.get(_as_date(row_day))
        if entry is not None:
            entry["active_users"] = int(count)
    for entry in days.values():
        entry["by_type"] = dict(sorted(entry["by_type"].items()))
    return list(days.values())


def active_users(conn: Connection) -> dict[str, Any]:
    """DAU/WAU/MAU and user count from the ``pf_mv_user_stats`` snapshot."""
    as_of, total = conn.execute(
        sa.select(sa.func.max(user_stats.c.refreshed_at), sa.func.count())
    ).one()
    if as_of is None:
        return {"as_of": None, "users": int(total), "dau": 0, "wau": 0, "mau": 0}
    if isinstance(as_of, str):  # SQLite hands an aggregate back as text
        as_of = datetime.fromisoformat(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)

    def counted(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    dau, wau, mau = conn.execute(
        sa.select(
            counted(user_stats.c.last_event_at >= as_of - timedelta(days=1)),
            counted(user_stats.c.events_7d > 0),
            counted(user_stats.c.events_30d > 0),
        )
    ).one()
    return {
        "as_of": as_of.isoformat(),
        "users": int(total),
        "dau": int(dau),
        "wau": int(wau),
        "mau": int(mau),
    }


def overview(db: Database, days: int, today: date | None = None) -> dict[str, Any]:
    """The admin overview: active users from the snapshot, events per day for ``days`` days."""
    last = today or datetime.now(UTC).date()
    first = last - timedelta(days=days - 1)
    with db.transaction() as conn:
        users = active_users(conn)
        per_day = events_by_day(conn, first, last)
    totals: dict[str, int] = {}
    for entry in per_day:
        for event_type, count in entry["by_type"].items():
            totals[event_type] = totals.get(event_type, 0) + count
    return {
        "active_users": users,
        "window": {"from": first.isoformat(), "to": last.isoformat(), "days": days},
        "events_by_day": per_day,
        "events_by_type": dict(sorted(totals.items())),
    }


def refresh_stats(db: Database) -> None:
    """Recompute ``pf_mv_user_stats`` in a transaction of its own (Oracle's refresh commits)."""
    with db.transaction() as conn:
        refresh_user_stats(conn)


def refresh_and_overview(db: Database, admin: Principal, days: int = 30) -> dict[str, Any]:
    """An admin's explicit refresh of the snapshot (audited), then the overview."""
    refresh_stats(db)
    with db.transaction() as conn:
        audit.record(
            conn,
            "authz_admin",
            actor=admin,
            target_type="pf_mv_user_stats",
            details={"action": "refresh_user_stats"},
        )
    return overview(db, days)


@dataclass(frozen=True)
class DailyEventRollup:
    """One UTC day's events: total, distinct users, count per type."""

    day: date
    total_events: int
    active_users: int
    by_type: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "total_events": self.total_events,
            "active_users": self.active_users,
            "by_type": dict(self.by_type),
        }


def rollup_daily_events(db: Database, day: date, *, refresh: bool = True) -> DailyEventRollup:
    """The daily job's step: refresh ``pf_mv_user_stats``, then count ``day``'s events.

    The counts are returned for the job to record with its run; there is no table of daily
    rollups yet (see ``docs/chat-and-analytics.md``), so the overview counts its window from
    ``pf_user_analytics`` directly.
    """
    if refresh:
        refresh_stats(db)
    with db.transaction() as conn:
        (entry,) = events_by_day(conn, day, day)
    return DailyEventRollup(
        day=day,
        total_events=entry["total"],
        active_users=entry["active_users"],
        by_type=entry["by_type"],
    )
