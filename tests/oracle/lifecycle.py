"""The provisioning lifecycle the live Oracle test runs, written once for any back-end.

It is also rehearsed on SQLite (``test_lifecycle_rehearsal.py``) so the script itself is
known to work before anyone spends a release window on a live Autonomous Database.

DDL commits on Oracle, so nothing here can be rolled back: every object the run creates is
dropped in a ``finally`` (users deprovisioned, or their tables dropped one by one if the
engine cannot; shared tables dropped only if this run created them; registry rows of the
run's users deleted).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.db.setup import init_database
from pathfinder.ids import new_id
from pathfinder.provisioning import Provisioner
from pathfinder.provisioning.catalog import existing_objects
from pathfinder.provisioning.plan import provision_steps
from pathfinder.provisioning.verify import repair_user, verify_user
from pathfinder.schema.ddl import DropView
from pathfinder.schema.shared import metadata
from pathfinder.schema.shared.system import (
    schema_meta,
    tenant_locks,
    tenant_objects,
    tenant_provisioning,
)
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables


@dataclass
class LifecycleRun:
    """What one run created, so the cleanup knows exactly what to remove."""

    users: tuple[str, str]
    created_shared: list[str] = field(default_factory=list)
    cleanup_errors: list[str] = field(default_factory=list)


def unique_users(prefix: str = "pfo") -> tuple[str, str]:
    """Two valid usernames no other run (or person) uses: the random part makes them unique."""
    token = secrets.token_hex(4)
    return f"{prefix}_{token}_a", f"{prefix}_{token}_b"


def template_names(db: Database, user: str) -> set[str]:
    tables = tenant_tables(user, schema=db.tenant_schema)
    return {step.object_name for step in provision_steps(tables)}


def catalog_names(db: Database, user: str) -> set[str]:
    """The user's template objects present in the catalog (USER_OBJECTS on Oracle)."""
    if db.is_sqlite and not db.tenant_file(user).exists():
        return set()
    with db.connect() as conn, db.attached(conn, user):
        found = existing_objects(conn, template_names(db, user), schema=db.tenant_schema)
        conn.rollback()
    return found


def shared_snapshot(db: Database) -> tuple[set[str], list[tuple[str, str]]]:
    """The shared tables present and the schema-meta rows: what must not change."""
    with db.connect() as conn:
        inspector = sa.inspect(conn)
        present = {t.name for t in metadata.sorted_tables if inspector.has_table(t.name)}
        meta = [
            (row.meta_key, row.meta_value)
            for row in conn.execute(sa.select(schema_meta).order_by(schema_meta.c.meta_key))
        ]
        conn.rollback()
    return present, meta


def add_experience(db: Database, user: str, title: str) -> None:
    now = datetime.now(UTC)
    with db.tenant_transaction(user) as (conn, tables):
        conn.execute(
            tables.experiences.insert().values(
                id=new_id(),
                title=title,
                employment_type="full_time",
                start_date=date(2020, 1, 1),
                is_current=True,
                technologies=["sql", "python"],
                created_at=now,
                updated_at=now,
            )
        )


def experience_titles(db: Database, user: str) -> list[str]:
    with db.tenant_transaction(user) as (conn, tables):
        return list(conn.execute(sa.select(tables.experiences.c.title)).scalars())


def run_lifecycle(db: Database, users: tuple[str, str] | None = None) -> LifecycleRun:
    """db init, provision two users, verify, migrate, deprovision one; always clean up."""
    run = LifecycleRun(users or unique_users())
    first, second = run.users
    try:
        run.created_shared = init_database(db)
        provisioner = Provisioner(db)

        created = provisioner.provision(first)
        assert created.outcome == "created", created
        assert created.template_version == LATEST_TEMPLATE_VERSION
        assert provisioner.provision(first).outcome == "already_ready"
        old = provisioner.provision(second, version=1)
        assert old.outcome == "created" and old.template_version == 1, old
        assert catalog_names(db, first) == template_names(db, first)

        assert verify_user(db, first).clean, verify_user(db, first).lines()
        behind = verify_user(db, second)
        assert not behind.clean, behind
        assert all("behind" in line for line in behind.lines()), behind.lines()

        add_experience(db, first, "to be dropped")
        add_experience(db, second, "kept")

        dry_run = provisioner.dry_run_sql(second)
        assert any(sql.startswith("ALTER TABLE") for sql in dry_run), dry_run
        migrated = provisioner.migrate_user(second)
        assert migrated.outcome == "migrated" and migrated.steps_run == len(dry_run), migrated
        assert provisioner.migrate_user(second).outcome == "up_to_date"
        assert verify_user(db, second).clean, verify_user(db, second).lines()
        assert catalog_names(db, second) == template_names(db, second)
        with db.tenant_transaction(second) as (conn, tables):
            # The column migration added with a server default must fill new rows.
            now = datetime.now(UTC)
            conn.execute(
                tables.skills.insert().values(
                    id="01J00000000000000000000000",
                    name="SQL",
                    is_primary=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            assert conn.execute(sa.select(tables.skills.c.source)).scalar() == "manual"

        shared_before = shared_snapshot(db)
        dropped = provisioner.deprovision(first)
        assert dropped.outcome == "dropped", dropped
        assert catalog_names(db, first) == set()
        assert verify_user(db, first).clean, verify_user(db, first).lines()
        assert provisioner.deprovision(first).outcome == "absent"

        assert experience_titles(db, second) == ["kept"]
        assert verify_user(db, second).clean, verify_user(db, second).lines()
        assert repair_user(db, second, provisioner).clean
        assert shared_snapshot(db) == shared_before
        assert shared_before[0] == {t.name for t in metadata.sorted_tables}
    finally:
        cleanup(db, run)
    return run


def cleanup(db: Database, run: LifecycleRun) -> None:
    """Remove everything the run created, even after a failure half-way.

    Each part is attempted whatever happened to the previous one; what could not be done is
    listed in ``run.cleanup_errors`` (the live test asserts it is empty).
    """
    provisioner = Provisioner(db)
    for user in run.users:
        try:
            provisioner.deprovision(user)
        except Exception as exc:  # any failure: fall back to dropping by name
            run.cleanup_errors.append(f"deprovision {user}: {exc}")
            _attempt(run, f"drop objects of {user}", lambda u=user: _drop_template_objects(db, u))
    if run.created_shared:
        created = [metadata.tables[name] for name in run.created_shared]
        _attempt(run, "drop shared tables", lambda: _drop_shared(db, created))
    else:
        # The shared tables were there before the run: leave them, remove only our rows.
        _attempt(run, "delete registry rows", lambda: _delete_registry_rows(db, run.users))


def _attempt(run: LifecycleRun, what: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:  # recorded, so the next cleanup step still runs
        run.cleanup_errors.append(f"{what}: {exc}")


def _drop_shared(db: Database, tables: list[sa.Table]) -> None:
    with db.engine.begin() as conn:
        metadata.drop_all(conn, tables=tables, checkfirst=True)


def _delete_registry_rows(db: Database, users: tuple[str, str]) -> None:
    with db.transaction() as conn:
        if not sa.inspect(conn).has_table(tenant_provisioning.name):
            return
        for table in (tenant_objects, tenant_provisioning, tenant_locks):
            conn.execute(table.delete().where(table.c.username.in_(users)))


def _drop_template_objects(db: Database, user: str) -> None:
    """Drop whatever of the user's template exists, views first, children before parents."""
    tables = tenant_tables(user, schema=db.tenant_schema)
    if db.is_sqlite:
        db.tenant_file(user).unlink(missing_ok=True)
        return
    with db.connect() as conn:
        present = existing_objects(conn, template_names(db, user), schema=None)
        for view in tables.views.values():
            if view.name in present:
                with conn.begin():
                    conn.execute(DropView(view.name))
        for table in reversed(list(tables.tables.values())):
            if table.name in present:
                with conn.begin():
                    conn.execute(sa.schema.DropTable(table))
