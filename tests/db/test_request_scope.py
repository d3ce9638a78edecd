"""A request's database work: one pooled connection, and one transaction for a read.

Counted with the engine's own events on a real database, so what is asserted is what the
server sees: checkouts from the pool, BEGINs and COMMITs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pathfinder.config import database_settings
from pathfinder.db import Database, get_database
from pathfinder.db.engine import create_database_engine
from pathfinder.schema.shared.identity import user_sessions
from tests.conftest import AuthActions


@contextmanager
def counting(db: Database) -> Iterator[dict[str, int]]:
    counts = {"checkout": 0, "begin": 0, "commit": 0, "rollback": 0}

    def checkout(*_args: Any) -> None:
        counts["checkout"] += 1

    def event(name: str) -> Any:
        def handler(*_args: Any) -> None:
            counts[name] += 1

        return handler

    handlers = {name: event(name) for name in ("begin", "commit", "rollback")}
    sa.event.listen(db.engine, "checkout", checkout)
    for name, handler in handlers.items():
        sa.event.listen(db.engine, name, handler)
    try:
        yield counts
    finally:
        sa.event.remove(db.engine, "checkout", checkout)
        for name, handler in handlers.items():
            sa.event.remove(db.engine, name, handler)


@pytest.fixture
def quiet_app(app: Flask) -> Flask:
    """The request audit row (written after the request, on a connection of its own, or
    batched by a worker thread) is left out of the counts."""
    app.config["AUDIT_REQUESTS"] = False
    return app


def test_a_read_request_uses_one_connection_and_one_transaction(
    quiet_app: Flask, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("reader"))
    client = quiet_app.test_client()
    assert client.get("/api/v1/me/experiences?limit=50", headers=headers).status_code == 200

    with counting(db) as counts:
        reply = client.get("/api/v1/me/experiences?limit=50", headers=headers)

    assert reply.status_code == 200
    assert counts["checkout"] == 1
    # The guard's session check and the list share one transaction; SQLite commits the
    # guard's before attaching the user's file (ATTACH is refused inside a transaction).
    assert counts["commit"] == (2 if db.is_sqlite else 1)
    assert counts["rollback"] == 0


def test_the_guards_activity_stamp_commits_with_the_request(
    quiet_app: Flask, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("stamper"))
    old = datetime.now(UTC) - timedelta(hours=1)
    with db.transaction() as conn:
        conn.execute(user_sessions.update().values(last_activity_at=old))

    reply = quiet_app.test_client().get("/api/v1/me/experiences", headers=headers)

    assert reply.status_code == 200
    with db.transaction() as conn:
        stamped = conn.execute(sa.select(user_sessions.c.last_activity_at)).scalars().all()
    assert all(value is not None and value > old + timedelta(minutes=30) for value in stamped)


def test_a_failed_request_rolls_back_and_gives_the_connection_back(
    quiet_app: Flask, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("missing"))
    client = quiet_app.test_client()
    with counting(db) as counts:
        reply = client.get("/api/v1/me/experiences/01J00000000000000000000000", headers=headers)

    assert reply.status_code == 404
    assert counts["checkout"] == 1
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_pooled_connections_are_replaced_after_max_uses(database_url: str, tmp_path: Any) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server backend to replace")
    settings = database_settings(
        {"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path), "DB_POOL_MAX_USES": 3}
    )
    engine = create_database_engine(settings)
    try:
        backends = []
        for _ in range(7):
            with engine.connect() as conn:
                backends.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        assert len(set(backends[:3])) == 1
        assert len(set(backends)) == 3  # uses 1-3, 4-6, 7: a new backend each time
        assert engine.pool._pre_ping is False  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_a_request_database_outside_flask_works_as_before(db: Database) -> None:
    with counting(db) as counts:
        with db.transaction() as conn:
            conn.execute(sa.select(1))
        with db.transaction() as conn:
            conn.execute(sa.select(1))
    assert counts["checkout"] == 2 and counts["commit"] == 2


def test_get_database_is_the_apps(app: Flask) -> None:
    assert get_database(app) is get_database(app)
