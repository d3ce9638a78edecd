"""Product analytics events and the per-user statistics derived from them.

``pf_user_analytics`` is the one high-volume shared table. On Oracle it is interval
partitioned by day on ``created_at`` so the retention job drops whole partitions instead of
deleting rows; SQLAlchemy cannot declare partitions (Oracle ``Table`` kwargs raise), so a
compile hook on ``CreateTable`` appends the clause for tables marked in ``Table.info``. Its
non-unique indexes are created LOCAL there, so dropping a partition leaves them usable.
``user_id`` and ``session_id`` are deliberately not foreign keys: events are written on hot
paths, outlive sessions, and are purged by partition, not by cascade.

``pf_mv_user_stats`` summarises events per user. Each back-end gets its own form of one
``select()`` (:data:`user_stats_select`): a materialized view on Oracle (BUILD IMMEDIATE
REFRESH COMPLETE ON DEMAND) and PostgreSQL, a plain table on SQLite, which has no
materialized views. Its :data:`user_stats` Table lives on a MetaData of its own so
``metadata.create_all`` never issues a CREATE TABLE for it on PostgreSQL or Oracle; the
event hooks at the bottom of this module create it after the shared tables and drop it
before them, on every back-end. A job calls :func:`refresh_user_stats`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.shared.identity import IP_ADDRESS_LENGTH, users
from pathfinder.schema.types import JsonDocument, UtcDateTime, id_type, json_checks

# Table.info key: the value names the column an Oracle table is interval-partitioned on.
ORACLE_INTERVAL_PARTITION = "oracle_interval_partition"
USER_STATS_DIALECTS = ("sqlite", "postgresql", "oracle")

user_analytics = sa.Table(
    "pf_user_analytics",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # NULL for events before sign-in.
    sa.Column("user_id", id_type()),
    sa.Column("session_id", id_type()),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("event_data", JsonDocument()),
    sa.Column("page_url", sa.String(1000)),
    sa.Column("referrer", sa.String(1000)),
    sa.Column("ip_address", sa.String(IP_ADDRESS_LENGTH)),
    sa.Column("user_agent", sa.String(500)),
    # The partition key on Oracle, so it can never be NULL.
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index(None, "user_id", "created_at"),
    sa.Index(None, "event_type", "created_at"),
    # The retention delete by age on PostgreSQL and SQLite (shared schema 3); Oracle drops
    # whole partitions instead.
    sa.Index(None, "created_at"),
    *json_checks("event_data"),
    info={ORACLE_INTERVAL_PARTITION: "created_at"},
)


# --- Oracle: interval partitioning -------------------------------------------------------


@compiles(CreateTable, "oracle")
def _compile_create_table_oracle(element: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    """Append daily interval partitioning to tables that ask for it in ``Table.info``.

    The first partition's bound only anchors the interval arithmetic; Oracle creates the
    partition for any later day on first insert. The column name comes from the Table object
    through the dialect's identifier preparer.
    """
    text = compiler.visit_create_table(element, **kw)
    column_name = element.element.info.get(ORACLE_INTERVAL_PARTITION)
    if column_name is None:
        return text
    column = compiler.preparer.format_column(element.element.c[column_name])
    return (
        text.rstrip()
        + f"\nPARTITION BY RANGE ({column}) INTERVAL (NUMTODSINTERVAL(1, 'DAY'))"
        + " (PARTITION p_start VALUES LESS THAN (TIMESTAMP '2026-01-01 00:00:00'))\n\n"
    )


@compiles(CreateIndex, "oracle")
def _compile_create_index_oracle(element: CreateIndex, compiler: DDLCompiler, **kw: Any) -> str:
    """Make non-unique indexes of partitioned tables LOCAL (one segment per partition).

    A global index becomes UNUSABLE when a partition is dropped; a local one does not. Unique
    indexes stay global because a local unique index must contain the partition key.
    """
    text = compiler.visit_create_index(element, **kw)
    index = element.element
    table = index.table
    if table is not None and table.info.get(ORACLE_INTERVAL_PARTITION) and not index.unique:
        return f"{text} LOCAL"
    return text


# --- Per-dialect expressions for the statistics query ------------------------------------


class _UtcNow(sa.sql.expression.ColumnElement[Any]):
    """The current instant as naive UTC, comparable with :class:`UtcDateTime` columns."""

    inherit_cache = True
    type = UtcDateTime()


class _UtcDaysAgo(sa.sql.expression.ColumnElement[Any]):
    """The instant ``days`` days before now, as naive UTC."""

    inherit_cache = True
    type = UtcDateTime()
    _traverse_internals = [("days", InternalTraversal.dp_plain_obj)]

    def __init__(self, days: int) -> None:
        self.days = int(days)


class _DayOf(sa.sql.expression.ColumnElement[Any]):
    """The calendar day (UTC) of a timestamp, for counting distinct active days."""

    inherit_cache = True
    type = sa.Date()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.ColumnElement[Any]) -> None:
        self.column = column


_ORACLE_SYSTIMESTAMP = sa.literal_column("SYSTIMESTAMP")  # written without parentheses


def _utc_now_expr(dialect_name: str) -> sa.ColumnElement[Any]:
    if dialect_name == "sqlite":
        return sa.func.datetime("now")
    if dialect_name == "postgresql":
        return sa.func.timezone("UTC", sa.func.now())
    if dialect_name == "oracle":
        return sa.func.sys_extract_utc(_ORACLE_SYSTIMESTAMP)
    raise CompileError(f"no UTC clock expression for dialect {dialect_name!r}")


@compiles(_UtcNow)
def _compile_utc_now(element: _UtcNow, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(_utc_now_expr(compiler.dialect.name), **kw)


@compiles(_UtcDaysAgo)
def _compile_days_ago(element: _UtcDaysAgo, compiler: SQLCompiler, **kw: Any) -> str:
    name = compiler.dialect.name
    if name == "sqlite":
        expr: sa.ColumnElement[Any] = sa.func.datetime("now", f"-{element.days} days")
    elif name == "postgresql":
        expr = sa.func.timezone("UTC", sa.func.now()) - sa.func.make_interval(0, 0, 0, element.days)
    elif name == "oracle":
        expr = sa.func.sys_extract_utc(_ORACLE_SYSTIMESTAMP) - sa.func.numtodsinterval(
            element.days, "DAY"
        )
    else:
        raise CompileError(f"no UTC clock expression for dialect {name!r}")
    return compiler.process(expr, **kw)


@compiles(_DayOf)
def _compile_day_of(element: _DayOf, compiler: SQLCompiler, **kw: Any) -> str:
    name = compiler.dialect.name
    if name == "sqlite":
        expr: sa.ColumnElement[Any] = sa.func.date(element.column)
    elif name == "oracle":
        # CAST(ts AS DATE) keeps the time of day on Oracle; TRUNC drops it.
        expr = sa.func.trunc(element.column)
    else:
        expr = sa.cast(element.column, sa.Date())
    return compiler.process(expr, **kw)


# --- pf_mv_user_stats ----------------------------------------------------------------------

# Derived objects: created by the event hooks below, never by create_all's table pass.
derived_metadata = sa.MetaData(naming_convention=metadata.naming_convention)


def _events_since(days: int) -> sa.ColumnElement[Any]:
    since = sa.case((user_analytics.c.created_at >= _UtcDaysAgo(days), 1), else_=0)
    return sa.func.coalesce(sa.func.sum(since), 0)


user_stats_select: sa.Select[Any] = (
    sa.select(
        users.c.id.label("user_id"),
        users.c.username,
        # Sign-in sessions that produced events: an event's session_id is its session family.
        sa.func.count(sa.distinct(user_analytics.c.session_id)).label("total_sessions"),
        sa.func.count(user_analytics.c.id).label("total_events"),
        sa.func.count(sa.distinct(_DayOf(user_analytics.c.created_at))).label("active_days"),
        sa.func.min(user_analytics.c.created_at).label("first_event_at"),
        sa.func.max(user_analytics.c.created_at).label("last_event_at"),
        _events_since(7).label("events_7d"),
        _events_since(30).label("events_30d"),
        _UtcNow().label("refreshed_at"),
    )
    .select_from(users.outerjoin(user_analytics, user_analytics.c.user_id == users.c.id))
    .group_by(users.c.id, users.c.username)
)
"""One row per user (users without events included, with zero counts)."""

user_stats = sa.Table(
    "pf_mv_user_stats",
    derived_metadata,
    sa.Column("user_id", id_type(), primary_key=True),
    sa.Column("username", sa.String(30), nullable=False),
    sa.Column("total_sessions", sa.Integer(), nullable=False),
    sa.Column("total_events", sa.Integer(), nullable=False),
    sa.Column("active_days", sa.Integer(), nullable=False),
    sa.Column("first_event_at", UtcDateTime()),
    sa.Column("last_event_at", UtcDateTime()),
    # Counted at refresh time, so read them with refreshed_at.
    sa.Column("events_7d", sa.Integer(), nullable=False),
    sa.Column("events_30d", sa.Integer(), nullable=False),
    sa.Column("refreshed_at", UtcDateTime(), nullable=False),
)

# The seed's "recent activity" lookups (who was active lately) read this one.
user_stats_activity_index = sa.Index(
    "ix_pf_mv_user_stats_last_event_at", user_stats.c.last_event_at
)

# Materialized views get this index explicitly; on SQLite the primary key already gives one.
# Being unique, it also allows REFRESH MATERIALIZED VIEW CONCURRENTLY on PostgreSQL.
user_stats_user_index = sa.Index("ix_pf_mv_user_stats_user_id", user_stats.c.user_id, unique=True)


class CreateUserStatsView(ExecutableDDLElement):
    """Create ``pf_mv_user_stats`` in the form the back-end supports.

    PostgreSQL: ``CREATE MATERIALIZED VIEW ... AS <select>``; Oracle: the same with
    ``BUILD IMMEDIATE REFRESH COMPLETE ON DEMAND``; SQLite: ``CREATE TABLE`` with the same
    columns (filled by :func:`refresh_user_stats`).
    """

    def __init__(
        self, table: sa.Table = user_stats, selectable: sa.Select[Any] = user_stats_select
    ) -> None:
        self.table = table
        self.selectable = selectable


class DropUserStatsView(ExecutableDDLElement):
    """Drop ``pf_mv_user_stats``: a materialized view, or the SQLite table."""

    def __init__(self, table: sa.Table = user_stats) -> None:
        self.table = table


@compiles(CreateUserStatsView)
def _compile_create_stats(element: CreateUserStatsView, compiler: DDLCompiler, **kw: Any) -> str:
    raise CompileError(f"pf_mv_user_stats is not supported on {compiler.dialect.name}")


@compiles(CreateUserStatsView, "sqlite")
def _compile_create_stats_sqlite(
    element: CreateUserStatsView, compiler: DDLCompiler, **kw: Any
) -> str:
    return compiler.process(CreateTable(element.table), **kw)


@compiles(CreateUserStatsView, "postgresql")
def _compile_create_stats_pg(element: CreateUserStatsView, compiler: DDLCompiler, **kw: Any) -> str:
    name = compiler.preparer.format_table(element.table)
    body = compiler.sql_compiler.process(element.selectable, literal_binds=True)
    return f"CREATE MATERIALIZED VIEW {name} AS {body}"


@compiles(CreateUserStatsView, "oracle")
def _compile_create_stats_oracle(
    element: CreateUserStatsView, compiler: DDLCompiler, **kw: Any
) -> str:
    name = compiler.preparer.format_table(element.table)
    body = compiler.sql_compiler.process(element.selectable, literal_binds=True)
    return f"CREATE MATERIALIZED VIEW {name} BUILD IMMEDIATE REFRESH COMPLETE ON DEMAND AS {body}"


@compiles(DropUserStatsView)
def _compile_drop_stats(element: DropUserStatsView, compiler: DDLCompiler, **kw: Any) -> str:
    raise CompileError(f"pf_mv_user_stats is not supported on {compiler.dialect.name}")


@compiles(DropUserStatsView, "sqlite")
def _compile_drop_stats_sqlite(element: DropUserStatsView, compiler: DDLCompiler, **kw: Any) -> str:
    return f"DROP TABLE {compiler.preparer.format_table(element.table)}"


@compiles(DropUserStatsView, "postgresql")
@compiles(DropUserStatsView, "oracle")
def _compile_drop_stats_mv(element: DropUserStatsView, compiler: DDLCompiler, **kw: Any) -> str:
    return f"DROP MATERIALIZED VIEW {compiler.preparer.format_table(element.table)}"


def user_stats_ddl(dialect_name: str) -> list[ExecutableDDLElement]:
    """The statements that create ``pf_mv_user_stats`` on ``dialect_name``, in order.

    Used by the metadata hooks below and by whoever renders or repairs the schema by hand
    (``ddl/shared``): the view is not a table of :data:`metadata`, so nothing else knows
    to create it. Raises ValueError for a back-end Pathfinder does not support.
    """
    if dialect_name == "sqlite":
        return [CreateUserStatsView(), CreateIndex(user_stats_activity_index)]
    if dialect_name in ("postgresql", "oracle"):
        return [
            CreateUserStatsView(),
            CreateIndex(user_stats_user_index),
            CreateIndex(user_stats_activity_index),
        ]
    raise ValueError(f"pf_mv_user_stats is not supported on {dialect_name!r}")


def user_stats_drop_ddl(dialect_name: str) -> list[ExecutableDDLElement]:
    """The statements that drop ``pf_mv_user_stats`` (its index goes with it)."""
    if dialect_name not in USER_STATS_DIALECTS:
        raise ValueError(f"pf_mv_user_stats is not supported on {dialect_name!r}")
    return [DropUserStatsView()]


def refresh_user_stats(conn: sa.Connection) -> None:
    """Recompute ``pf_mv_user_stats`` from ``pf_users`` and ``pf_user_analytics``.

    SQLite: delete and re-insert from :data:`user_stats_select` inside the caller's
    transaction, so readers see the old or the new snapshot, never a mix. PostgreSQL:
    ``REFRESH MATERIALIZED VIEW`` (transactional; blocks readers of the view while it runs).
    Oracle: a complete ``DBMS_MVIEW.REFRESH``, which commits the caller's transaction, so
    call it on a connection of its own.
    """
    dialect_name = conn.dialect.name
    if dialect_name == "sqlite":
        conn.execute(sa.delete(user_stats))
        conn.execute(
            sa.insert(user_stats).from_select([c.name for c in user_stats.c], user_stats_select)
        )
    elif dialect_name == "postgresql":
        conn.execute(sa.DDL("REFRESH MATERIALIZED VIEW %(fullname)s").against(user_stats))
    elif dialect_name == "oracle":
        # Unquoted Oracle identifiers are stored in upper case.
        conn.execute(
            sa.text("BEGIN DBMS_MVIEW.REFRESH(:name, 'C'); END;"),
            {"name": user_stats.name.upper()},
        )
    else:
        raise ValueError(f"pf_mv_user_stats is not supported on {dialect_name!r}")


def rebuild_stale_user_stats(conn: sa.Connection) -> bool:
    """Re-create ``pf_mv_user_stats`` when its columns are not the code's; True if it did.

    The view holds only derived data, so an upgrade that adds a column to it (shared
    schema 3: ``total_sessions``) drops and re-creates it rather than altering it; a
    materialized view cannot take ``ALTER TABLE ADD`` anyway. The next refresh fills it.
    """
    dialect_name = conn.dialect.name
    inspector = sa.inspect(conn)
    if dialect_name == "postgresql":
        present = user_stats.name in inspector.get_materialized_view_names()
    else:
        present = inspector.has_table(user_stats.name)
    if not present:
        return False
    columns = {c["name"].lower() for c in inspector.get_columns(user_stats.name)}
    if columns == {c.name for c in user_stats.c}:
        return False
    for ddl in user_stats_drop_ddl(dialect_name):
        conn.execute(ddl)
    for ddl in user_stats_ddl(dialect_name):
        conn.execute(ddl)
    return True


# --- Hooks: create after the shared tables, drop before them ------------------------------

_SOURCE_TABLES = frozenset({users.name, user_analytics.name})


def _stats_needed(connection: sa.Connection, kw: dict[str, Any], *, creating: bool) -> bool:
    """Decide once per create_all/drop_all whether the view's DDL must run.

    With ``checkfirst`` (the default on a real connection) the catalog decides, so running
    ``create_all`` twice, or after a crash on Oracle where DDL commits as it goes, converges.
    Without it (mock engines rendering ``ddl/``), the view follows its source tables.
    """
    if connection.dialect.name not in USER_STATS_DIALECTS:
        return False
    if kw.get("checkfirst"):
        inspector = sa.inspect(connection)
        exists = inspector.has_table(user_stats.name)
        if not creating:
            return exists
        return not exists and all(inspector.has_table(name) for name in _SOURCE_TABLES)
    tables = kw.get("tables")
    names = {t.name for t in tables} if tables is not None else _SOURCE_TABLES
    return bool(names & _SOURCE_TABLES)


def _create_user_stats(target: sa.MetaData, connection: sa.Connection, **kw: Any) -> None:
    if _stats_needed(connection, kw, creating=True):
        for ddl in user_stats_ddl(connection.dialect.name):
            connection.execute(ddl)


def _drop_user_stats(target: sa.MetaData, connection: sa.Connection, **kw: Any) -> None:
    if _stats_needed(connection, kw, creating=False):
        for ddl in user_stats_drop_ddl(connection.dialect.name):
            connection.execute(ddl)


# One listener per event rather than one DDL().execute_if(dialect=...) per statement: the
# "does it exist?" decision must be taken once, before the view and its index are created.
sa.event.listen(metadata, "after_create", _create_user_stats)
sa.event.listen(metadata, "before_drop", _drop_user_stats)
