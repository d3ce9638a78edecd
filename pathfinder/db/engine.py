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
    else:
        kwargs.update(_pool_options(url.get_backend_name(), settings))
    engine = sa.create_engine(url, **kwargs)
    watch_pool(engine)
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
    else:
        max_uses = settings.pool_max_uses
        if max_uses is None:
            max_uses = DEFAULT_MAX_USES.get(url.get_backend_name(), 0)
        if max_uses > 0:
            limit_uses(engine, max_uses)
    return engine


# Checkouts after which a pooled connection is replaced, when DB_POOL_MAX_USES is unset. A
# PostgreSQL backend keeps about 175 KiB of cache per user whose tables it has opened and
# never frees it (docs/performance.md, "Backend memory": 1.7 GiB after 10,000 users); after
# 250 checkouts it has served at most 250 users, about 45 MiB, for one reconnection (a few
# ms) per 250 requests.
DEFAULT_MAX_USES = {"postgresql": 250}


def _pool_options(backend: str, settings: DatabaseSettings) -> dict[str, Any]:
    """Pool settings of a client/server database.

    No ``pool_pre_ping`` on PostgreSQL: it cost a round trip on every checkout (11% of a
    ``GET /me/experiences``). A connection the server closed fails its next statement; the
    error invalidates it and every older connection of the pool (SQLAlchemy's disconnect
    handling), so the next checkout gets a fresh one. Oracle keeps it: Autonomous Database
    closes idle sessions, and a firewall between may drop them without a word.
    """
    pre_ping = settings.pool_pre_ping
    if pre_ping is None:
        pre_ping = backend == "oracle"
    return {"pool_pre_ping": pre_ping, "pool_recycle": settings.pool_recycle_seconds}


def limit_uses(engine: Engine, max_uses: int) -> None:
    """Replace each pooled connection after ``max_uses`` checkouts.

    A PostgreSQL backend caches the catalog entries of every relation it has touched and
    never frees them; a pooled connection that serves many users' tables grows with them
    (``docs/performance.md``, "Backend memory"). Raising ``DisconnectionError`` at checkout
    is SQLAlchemy's documented way to make the pool discard a connection and open another.
    """

    @sa.event.listens_for(engine, "checkout")
    def _count_use(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        uses = record.info.get("pathfinder.uses", 0) + 1
        if uses > max_uses:
            record.info.pop("pathfinder.uses", None)
            raise sa.exc.DisconnectionError(f"connection served {max_uses} checkouts")
        record.info["pathfinder.uses"] = uses


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
