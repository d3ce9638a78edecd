"""One engine per database URL, with each back-end's quirks set in this one place."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from pathfinder.config import DatabaseSettings
from pathfinder.metrics.pool import watch_pool


def create_database_engine(settings: DatabaseSettings) -> Engine:
    """Create the engine for ``settings.url``; opens no connection.

    SQLite: the driver's own transaction handling is switched off and BEGIN is emitted by
    SQLAlchemy, so SAVEPOINT works and ATTACH can run outside a transaction; foreign keys are
    enforced; the journal stays a rollback journal (not WAL) because only a rollback journal
    commits a transaction spanning the main file and an attached user file atomically.
    """
    url = make_url(settings.url)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            settings.instance_path.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
    elif url.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
    elif url.get_backend_name() == "oracle":
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(url, **kwargs)
    watch_pool(engine)
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = DELETE")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock at once: two writers queue on busy_timeout instead
        # of one failing with "database is locked" when it upgrades a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
