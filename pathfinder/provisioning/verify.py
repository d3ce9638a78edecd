"""Compare a user's objects in the database catalog with the template, and repair drift.

``verify`` reads the catalog (tables, columns, indexes, views) for one user's expected
objects at the user's recorded template version and the registry, and reports what differs.
``repair`` makes the safe fixes only: it creates what is missing (tables, columns, indexes,
views) and reconciles the registry with the catalog; it never drops anything it finds extra,
because an extra object may be data somebody needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.db.database import Database
from pathfinder.provisioning import registry
from pathfinder.provisioning.engine import Provisioner
from pathfinder.provisioning.locks import tenant_lock
from pathfinder.provisioning.plan import Step, column_step, provision_steps
from pathfinder.schema.naming import normalize_username
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, TenantTables, tenant_tables


@dataclass
class Drift:
    """What differs between one user's catalog, registry and template."""

    username: str
    state: str | None
    template_version: int | None
    missing_tables: list[str] = field(default_factory=list)
    extra_tables: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    missing_indexes: list[str] = field(default_factory=list)
    extra_indexes: list[str] = field(default_factory=list)
    missing_views: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)
    registered_but_missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(
            (
                self.missing_tables,
                self.extra_tables,
                self.missing_columns,
                self.extra_columns,
                self.missing_indexes,
                self.extra_indexes,
                self.missing_views,
                self.unregistered,
                self.registered_but_missing,
                self.notes,
            )
        )

    def lines(self) -> list[str]:
        """Human-readable findings, one per line (empty when clean)."""
        out: list[str] = []
        for label in (
            "missing_tables",
            "extra_tables",
            "missing_columns",
            "extra_columns",
            "missing_indexes",
            "extra_indexes",
            "missing_views",
            "unregistered",
            "registered_but_missing",
        ):
            for item in getattr(self, label):
                out.append(f"{label.replace('_', ' ')}: {item}")
        out.extend(self.notes)
        return out


def verify_user(db: Database, username: str) -> Drift:
    """Report drift for one user (read only)."""
    user = normalize_username(username)
    with db.transaction() as conn:
        record = registry.get_tenant(conn, user)
        registered = {o.object_name: o for o in registry.registered_objects(conn, user)}
    drift = Drift(
        user, record.state if record else None, record.template_version if record else None
    )
    if record is None:
        drift.notes.append("not in the provisioning registry")
        return drift
    if record.state == "dropped":
        if registered:
            drift.registered_but_missing.extend(sorted(registered))
        return drift
    if record.state != "ready" or record.template_version is None:
        drift.notes.append(f"state is {record.state!r}, not ready")
        if record.template_version is None:
            return drift
    if db.is_sqlite and not db.tenant_file(user).exists():
        drift.notes.append("the user's SQLite file is missing")
        drift.registered_but_missing.extend(sorted(registered))
        return drift
    tables = tenant_tables(user, record.template_version, schema=db.tenant_schema)
    with db.connect() as conn, db.attached(conn, user):
        _compare(conn, db, tables, registered, drift)
        conn.rollback()
    note_if_behind(drift, record.template_version)
    return drift


def note_if_behind(drift: Drift, template_version: int) -> None:
    """Say so when the user's tables are at an older template than the latest."""
    if template_version < LATEST_TEMPLATE_VERSION:
        drift.notes.append(
            f"template version {template_version} is behind {LATEST_TEMPLATE_VERSION}"
            " (run `pathfinder tenants migrate`)"
        )


def _compare(
    conn: Connection,
    db: Database,
    tables: TenantTables,
    registered: dict[str, registry.RegisteredObject],
    drift: Drift,
) -> None:
    inspector = sa.inspect(conn)
    schema = tables.schema
    expected_names: set[str] = set()
    for table in tables.tables.values():
        expected_names.add(table.name)
        if not inspector.has_table(table.name, schema=schema):
            drift.missing_tables.append(table.name)
            continue
        actual_columns = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
        expected_columns = set(table.c.keys())
        drift.missing_columns += [
            f"{table.name}.{c}" for c in sorted(expected_columns - actual_columns)
        ]
        drift.extra_columns += [
            f"{table.name}.{c}" for c in sorted(actual_columns - expected_columns)
        ]
        # Indexes that back a UNIQUE or PRIMARY KEY constraint are the constraint's, not ours.
        constraint_names = {str(c.name) for c in table.constraints if c.name}
        actual_indexes = {
            ix["name"]
            for ix in inspector.get_indexes(table.name, schema=schema)
            if ix["name"]
            and ix["name"] not in constraint_names
            and "duplicates_constraint" not in ix
        }
        expected_indexes = {str(ix.name) for ix in table.indexes}
        expected_names |= expected_indexes
        drift.missing_indexes += sorted(expected_indexes - actual_indexes)
        drift.extra_indexes += sorted(actual_indexes - expected_indexes)
    views = set(inspector.get_view_names(schema=schema))
    for view in tables.views.values():
        expected_names.add(view.name)
        if view.name not in views:
            drift.missing_views.append(view.name)
    if db.is_sqlite:
        # The file holds this user's tables only, so anything else in it is extra.
        present = set(inspector.get_table_names(schema=schema))
        drift.extra_tables += sorted(present - expected_names)
    present_objects = expected_names - set(drift.missing_tables) - set(drift.missing_indexes)
    present_objects -= set(drift.missing_views)
    drift.unregistered += sorted(present_objects - set(registered))
    drift.registered_but_missing += sorted(
        name for name in registered if name not in present_objects and name in expected_names
    )
    drift.extra_tables += sorted(name for name in registered if name not in expected_names)


def repair_user(db: Database, username: str, provisioner: Provisioner | None = None) -> Drift:
    """Make the safe fixes for one ready user and return the drift that remains."""
    user = normalize_username(username)
    provisioner = provisioner or Provisioner(db)
    with db.transaction() as conn:
        record = registry.get_tenant(conn, user)
    if record is None or record.state != "ready" or record.template_version is None:
        return verify_user(db, user)
    tables = tenant_tables(user, record.template_version, schema=db.tenant_schema)
    steps = provision_steps(tables)
    with tenant_lock(db, user, wait_seconds=provisioner.wait_seconds):
        with db.transaction() as conn:
            stale = [
                o.object_name
                for o in registry.registered_objects(conn, user)
                if o.object_name in {s.object_name for s in steps}
            ]
        with db.connect() as conn, db.attached(conn, user, create=True):
            for name in stale:
                step = next(s for s in steps if s.object_name == name)
                with conn.begin():
                    if not step.exists(conn):
                        registry.unregister_object(conn, user, name)
            for step in steps:
                with conn.begin():
                    provisioner.apply_steps(conn, user, [step])
                if step.kind == "table":
                    _add_missing_columns(conn, step, provisioner, user)
    return verify_user(db, user)


def _add_missing_columns(conn: Connection, step: Step, provisioner: Provisioner, user: str) -> None:
    table = step.owner
    with conn.begin():
        actual = {c["name"] for c in sa.inspect(conn).get_columns(table.name, schema=step.schema)}
    for column in table.c:
        if column.name in actual:
            continue
        if not column.nullable and column.server_default is None:
            continue  # cannot be added to a table with rows; verify keeps reporting it
        owner = tenant_tables(user, step.version, schema=step.schema)
        with conn.begin():
            provisioner.apply_steps(conn, user, [column_step(owner, table, column)])


def orphaned_user_files(db: Database) -> list[str]:
    """SQLite user files (and their journals) that no registry row accounts for.

    A process killed between creating a user's file and recording it, or a name that never
    passed the validator, leaves one behind. They are reported, never deleted: one may be
    the only copy of somebody's data. Empty on PostgreSQL and Oracle (no files).
    """
    if not db.is_sqlite or not db.settings.tenant_dir.exists():
        return []
    with db.connect() as conn:
        known = {record.username for record in registry.list_tenants(conn)}
        conn.rollback()
    orphans = []
    for path in sorted(db.settings.tenant_dir.iterdir()):
        stem = path.name.split(".db", 1)[0]
        if path.is_file() and ".db" in path.name and stem not in known:
            orphans.append(path.name)
    return orphans
