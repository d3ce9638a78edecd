"""``db init`` adds the indexes a shared schema version added to tables that exist."""

from __future__ import annotations

from pathfinder.db import Database
from pathfinder.db.setup import init_database
from pathfinder.provisioning.catalog import existing_objects

NEW_INDEXES = [
    "ix_pf_users_account_status_last_activity_at",
    "ix_pf_user_feature_flags_flag_id",
    "ix_pf_user_analytics_created_at",
]


def test_db_init_creates_missing_indexes_of_existing_tables(db: Database) -> None:
    with db.transaction() as conn:
        assert existing_objects(conn, NEW_INDEXES, schema=None) == set(NEW_INDEXES)
        for name in NEW_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")  # noqa: S608 - a constant name
        assert existing_objects(conn, NEW_INDEXES, schema=None) == set()
    created = init_database(db)
    assert set(NEW_INDEXES) <= set(created)
    with db.transaction() as conn:
        assert existing_objects(conn, NEW_INDEXES, schema=None) == set(NEW_INDEXES)
    assert not set(NEW_INDEXES) & set(init_database(db))
