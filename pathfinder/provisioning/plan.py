"""What the engine does to a user, as an ordered list of idempotent steps.

A step creates one object (table, index, view) or adds one column. Each knows how to tell
whether its object already exists, so running a plan again after a crash at any point skips
what was done and finishes the rest. Migration steps are the difference between two
consecutive template versions; the template only ever adds, which :func:`migration_steps`
checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable, DropIndex, DropTable, ExecutableDDLElement

from pathfinder.provisioning.catalog import existing_columns, existing_objects
from pathfinder.schema.ddl import AddColumn, CreateView, DropView
from pathfinder.schema.naming import TEMPLATE_USERNAME, TENANT_PREFIX
from pathfinder.schema.tenant import TenantTables, TenantView, tenant_tables

StepKind = Literal["table", "index", "view", "column"]


@dataclass(frozen=True, slots=True)
class Step:
    """One idempotent change to one user's objects."""

    kind: StepKind
    # Registered object name (table, index, view) or "<table>.<column>" for a column.
    object_name: str
    # The template part it implements, relative to the user ("ix_exp_dates").
    template_part: str
    version: int
    ddl: ExecutableDDLElement | None
    table: sa.Table | None = None
    column: str | None = None
    schema: str | None = None
    # The statement already compiled for the database (cached plans); else ``ddl`` is.
    compiled: str | None = None
    # Physical name of the table a column step adds to (cached plans carry no Table).
    owner_name: str | None = None

    @property
    def registers_object(self) -> bool:
        """Columns belong to their table; every other step adds a registry row."""
        return self.kind != "column"

    def exists(self, conn: Connection) -> bool:
        """Whether the object is already in the database catalog."""
        if self.registers_object:
            return bool(existing_objects(conn, [self.object_name], schema=self.schema))
        return bool(existing_columns(conn, [self.column_key], schema=self.schema))

    @property
    def column_key(self) -> tuple[str, str]:
        """(physical table, column) of a column step, as the catalog query takes it."""
        table = self.owner_name or (self.table.name if self.table is not None else None)
        if self.kind != "column" or table is None or self.column is None:
            raise ValueError(f"{self.kind} step {self.object_name!r} adds no column")
        return table, self.column

    @property
    def owner(self) -> sa.Table:
        """The table an index or column step belongs to."""
        if self.table is None:
            raise ValueError(f"{self.kind} step {self.object_name!r} has no table")
        return self.table

    def sql(self, dialect: sa.Dialect) -> str:
        """The statement as the dialect would run it (for ``--dry-run`` and rendering)."""
        if self.ddl is None:
            if self.compiled is None:
                raise ValueError(f"step {self.object_name!r} has no statement")
            return self.compiled
        return str(self.ddl.compile(dialect=dialect)).strip()

    def run(self, conn: Connection) -> None:
        """Execute the step's statement on ``conn``."""
        if self.compiled is not None:
            conn.exec_driver_sql(self.compiled)
        elif self.ddl is not None:
            conn.execute(self.ddl)


def _part(tables: TenantTables, name: str) -> str:
    prefix = f"{TENANT_PREFIX}{tables.username}_"
    if not name.startswith(prefix):
        raise ValueError(f"{name!r} is not one of {tables.username!r}'s names")
    return name[len(prefix) :]


def _table_step(tables: TenantTables, table: sa.Table) -> Step:
    return Step(
        "table",
        table.name,
        _part(tables, table.name),
        tables.version,
        CreateTable(table),
        table=table,
        schema=tables.schema,
    )


def _index_step(tables: TenantTables, index: sa.Index) -> Step:
    table = index.table
    name = str(index.name)
    return Step(
        "index",
        name,
        _part(tables, name),
        tables.version,
        CreateIndex(index),
        table=table,
        schema=tables.schema,
    )


def _view_step(tables: TenantTables, view: TenantView) -> Step:
    return Step(
        "view",
        view.name,
        _part(tables, view.name),
        tables.version,
        CreateView(view.name, view.select, view.schema),
        schema=view.schema,
    )


def column_step(tables: TenantTables, table: sa.Table, column: sa.Column[Any]) -> Step:
    return Step(
        "column",
        f"{table.name}.{column.name}",
        _part(tables, table.name),
        tables.version,
        AddColumn(table, column),
        table=table,
        column=column.name,
        schema=tables.schema,
        owner_name=table.name,
    )


def provision_steps(tables: TenantTables) -> list[Step]:
    """Every step that creates ``tables`` from nothing: tables, then indexes, then views."""
    steps = [_table_step(tables, t) for t in tables.tables.values()]
    steps += [_index_step(tables, ix) for _, ix in tables.indexes()]
    steps += [_view_step(tables, v) for v in tables.views.values()]
    return steps


# A reserved username that appears in no template text: compiled statements are made for it
# once and the user's own name is put in its place.
PLAN_SENTINEL = TEMPLATE_USERNAME
# (kind, object name, template part, version, SQL, owner table, column) of a compiled step.
_CompiledStep = tuple[StepKind, str, str, int, str, str | None, str | None]
_PLAN_CACHE: dict[tuple[Any, ...], tuple[_CompiledStep, ...]] = {}


def _compile(steps: list[Step], dialect: sa.Dialect) -> tuple[_CompiledStep, ...]:
    return tuple(
        (s.kind, s.object_name, s.template_part, s.version, s.sql(dialect), s.owner_name, s.column)
        for s in steps
    )


def _for_user(plan: tuple[_CompiledStep, ...], username: str, schema: str | None) -> list[Step]:
    """The sentinel's compiled plan with ``username``'s prefix in every name and statement."""
    old = f"{TENANT_PREFIX}{PLAN_SENTINEL}_"
    new = f"{TENANT_PREFIX}{username}_"
    return [
        Step(
            kind,
            name.replace(old, new),
            part,
            ver,
            None,
            column=column,
            schema=schema,
            compiled=sql.replace(old, new),
            owner_name=owner.replace(old, new) if owner is not None else None,
        )
        for kind, name, part, ver, sql, owner, column in plan
    ]


def cached_provision_steps(
    username: str, version: int, *, schema: str | None, dialect: sa.Dialect
) -> list[Step]:
    """:func:`provision_steps` for ``username``, compiled once per dialect and version.

    Building a user's Table objects and compiling their DDL costs ~10 ms, more than the
    DDL itself on SQLite; the statements differ between users only in the name prefix, so
    they are compiled for a sentinel user and the prefix is replaced. Every name in them
    comes from the validator (``pf_user_<username>_...``), unquoted, so the replacement
    cannot touch anything else.
    """
    key = ("provision", dialect.name, dialect.server_version_info, schema, version)
    plan = _PLAN_CACHE.get(key)
    if plan is None:
        sentinel_tables = tenant_tables(PLAN_SENTINEL, version, schema=schema)
        plan = _PLAN_CACHE[key] = _compile(provision_steps(sentinel_tables), dialect)
    return _for_user(plan, username, schema)


def cached_migration_steps(
    username: str, from_version: int, to_version: int, *, schema: str | None, dialect: sa.Dialect
) -> list[Step]:
    """:func:`migration_steps` for ``username``, compiled once per (dialect, from, to).

    ``migration_steps`` builds the whole template twice per version step (two
    ``tenant_tables`` calls, ~6 ms each) and SQLAlchemy compiles each statement again: for
    a one-column change that was 70-80% of ``tenants migrate``'s time over 1,000 users.
    The statements differ between users only in the name prefix, as in
    :func:`cached_provision_steps`.
    """
    key = ("migrate", dialect.name, dialect.server_version_info, schema, from_version, to_version)
    plan = _PLAN_CACHE.get(key)
    if plan is None:
        steps = migration_steps(PLAN_SENTINEL, from_version, to_version, schema=schema)
        plan = _PLAN_CACHE[key] = _compile(steps, dialect)
    return _for_user(plan, username, schema)


def migration_steps(
    username: str, from_version: int, to_version: int, *, schema: str | None
) -> list[Step]:
    """Steps that bring a user from ``from_version`` to ``to_version``, one version at a time."""
    steps: list[Step] = []
    for version in range(from_version + 1, to_version + 1):
        before = tenant_tables(username, version - 1, schema=schema)
        after = tenant_tables(username, version, schema=schema)
        steps += list(_diff(before, after))
    return steps


def _diff(before: TenantTables, after: TenantTables) -> Iterator[Step]:
    for logical in before.tables:
        if logical not in after.tables:
            raise ValueError(f"template v{after.version} removes table {logical!r}")
    for logical, table in after.tables.items():
        old = before.tables.get(logical)
        if old is None:
            yield _table_step(after, table)
            continue
        missing = set(old.c.keys()) - set(table.c.keys())
        if missing:
            raise ValueError(f"template v{after.version} removes columns {sorted(missing)}")
        for column in table.c:
            if column.name not in old.c:
                if not column.nullable and column.server_default is None:
                    raise ValueError(
                        f"template v{after.version} adds NOT NULL column {column.name!r} "
                        "without a server default; existing rows could not take it"
                    )
                yield column_step(after, table, column)
    old_indexes = {ix.name for _, ix in before.indexes()}
    for _, index in after.indexes():
        if index.name not in old_indexes:
            yield _index_step(after, index)
    for logical, view in after.views.items():
        if logical not in before.views:
            yield _view_step(after, view)


def drop_statement(
    tables: TenantTables, object_type: str, object_name: str
) -> ExecutableDDLElement:
    """The DROP for a registered object, built from the template's own objects.

    A registry row naming something the template never defines is refused: deprovisioning
    drops only objects whose names the validator would have built for this user.
    """
    if object_type == "table":
        for table in tables.tables.values():
            if table.name == object_name:
                return DropTable(table)
    elif object_type == "index":
        for _, index in tables.indexes():
            if index.name == object_name:
                return DropIndex(index)
    elif object_type == "view":
        for view in tables.views.values():
            if view.name == object_name:
                return DropView(view.name, view.schema)
    raise ValueError(f"{object_type} {object_name!r} is not part of the template")
