"""What provisioning tests need to look at the database directly (never through the engine)."""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.provisioning import registry
from pathfinder.provisioning.catalog import existing_objects
from pathfinder.provisioning.plan import provision_steps
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables


def expected_objects(
    db: Database, username: str, version: int = LATEST_TEMPLATE_VERSION
) -> set[str]:
    tables = tenant_tables(username, version, schema=db.tenant_schema)
    return {s.object_name for s in provision_steps(tables)}


def catalog_objects(db: Database, username: str) -> set[str]:
    """Which of the user's template objects exist in the database catalog right now."""
    if db.is_sqlite and not db.tenant_file(username).exists():
        return set()
    names = expected_objects(db, username)
    with db.connect() as conn, db.attached(conn, username):
        found = existing_objects(conn, names, schema=db.tenant_schema)
        conn.rollback()
    return found


def all_table_names(db: Database) -> set[str]:
    """Every table in the main database (shared tables; on PostgreSQL all users' too)."""
    with db.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        conn.rollback()
    return names


def registered(db: Database, username: str) -> set[str]:
    with db.transaction() as conn:
        return {o.object_name for o in registry.registered_objects(conn, username)}


def state(db: Database, username: str) -> str | None:
    with db.transaction() as conn:
        record = registry.get_tenant(conn, username)
    return record.state if record else None
