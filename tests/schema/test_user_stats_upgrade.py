"""``db init`` brings an older ``pf_mv_user_stats`` up to the code's columns.

The view is derived data, so an upgrade that adds a column (``total_sessions``) re-creates
it; this runs the upgrade for real on SQLite and PostgreSQL from the previous shape.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.db.setup import init_database
from pathfinder.ids import new_id
from pathfinder.schema.shared.analytics import (
    refresh_user_stats,
    user_analytics,
    user_stats,
    user_stats_drop_ddl,
)
from pathfinder.schema.shared.identity import users


def _old_shape(conn: sa.Connection) -> None:
    """Replace the view by the shape it had before ``total_sessions``."""
    for ddl in user_stats_drop_ddl(conn.dialect.name):
        conn.execute(ddl)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE TABLE pf_mv_user_stats (user_id VARCHAR(26) PRIMARY KEY, "
            "username VARCHAR(30) NOT NULL, total_events INTEGER NOT NULL)"
        )
    else:
        conn.exec_driver_sql(
            "CREATE MATERIALIZED VIEW pf_mv_user_stats AS SELECT pf_users.id AS user_id, "
            "pf_users.username, 0 AS total_events FROM pf_users"
        )


def test_db_init_recreates_a_stale_user_stats_view(db: Database) -> None:
    with db.transaction() as conn:
        _old_shape(conn)
    created = init_database(db)
    assert "pf_mv_user_stats (re-created with the new columns)" in created
    now = datetime.now(UTC)
    with db.transaction() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns(user_stats.name)}
        assert columns == {c.name for c in user_stats.c}
        user_id = new_id()
        conn.execute(
            sa.insert(users).values(
                id=user_id,
                username="stats_upgrade",
                email="s@example.com",
                email_normalized="s@example.com",
                email_verified=False,
                role="user",
                account_status="active",
                mfa_enabled=False,
                failed_login_count=0,
                total_logins=0,
                created_at=now,
                updated_at=now,
            )
        )
        for session in ("fam_a", "fam_a", "fam_b", None):
            conn.execute(
                sa.insert(user_analytics).values(
                    id=new_id(),
                    user_id=user_id,
                    session_id=session,
                    event_type="page_view",
                    created_at=now,
                )
            )
        refresh_user_stats(conn)
        row = conn.execute(
            sa.select(user_stats.c.total_sessions, user_stats.c.total_events).where(
                user_stats.c.user_id == user_id
            )
        ).one()
    assert (row.total_sessions, row.total_events) == (2, 4)
    assert "pf_mv_user_stats (re-created with the new columns)" not in init_database(db)
