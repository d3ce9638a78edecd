"""``verify`` for many users at once: one catalog read per batch on PostgreSQL.

``verify_user`` asks the inspector about each table of each user (``has_table``,
``get_columns``, ``get_indexes``): some thirty queries a user, 90-130 ms on a busy machine,
so ``tenants verify --all`` over 100,000 users would run for hours. On PostgreSQL every
user's tables are in one schema, so a batch of users is answered by three catalog queries
(relations, columns, indexes), one registry query and one for their objects, and compared
with the template's expectation, built once per template version from the template user's
names. The comparison is the same as ``verify_user``'s, line for line (a test holds the
two equal on drifted users). SQLite (a file per user) and Oracle use ``verify_user``.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.db.database import Database
from pathfinder.provisioning import registry
from pathfinder.provisioning.catalog import pg_attribute, pg_class, pg_namespace
from pathfinder.provisioning.verify import Drift, note_if_behind, verify_user
from pathfinder.schema.naming import TEMPLATE_USERNAME, TENANT_PREFIX, normalize_username
from pathfinder.schema.shared.system import tenant_objects
from pathfinder.schema.tenant import tenant_tables

_SENTINEL_PREFIX = f"{TENANT_PREFIX}{TEMPLATE_USERNAME}_"
# Oracle's IN-list limit is not in play here (PostgreSQL only), but one statement per 1,000
# names keeps each plan and each answer small.
_CHUNK = 1000


@dataclass(frozen=True)
class _Table:
    name: str
    columns: frozenset[str]
    indexes: frozenset[str]
    constraints: frozenset[str]


@dataclass(frozen=True)
class _Expectation:
    """One user's expected objects at one template version, under the template's names."""

    tables: tuple[_Table, ...]
    views: tuple[str, ...]

    def for_user(self, username: str) -> _Expectation:
        new = f"{TENANT_PREFIX}{username}_"

        def named(name: str) -> str:
            return name.replace(_SENTINEL_PREFIX, new)

        return _Expectation(
            tuple(
                _Table(
                    named(t.name),
                    t.columns,
                    frozenset(named(i) for i in t.indexes),
                    frozenset(named(c) for c in t.constraints),
                )
                for t in self.tables
            ),
            tuple(named(v) for v in self.views),
        )


@functools.lru_cache(maxsize=8)
def _expectation(version: int) -> _Expectation:
    tables = tenant_tables(TEMPLATE_USERNAME, version)
    return _Expectation(
        tuple(
            _Table(
                t.name,
                frozenset(t.c.keys()),
                frozenset(str(ix.name) for ix in t.indexes),
                frozenset(str(c.name) for c in t.constraints if c.name),
            )
            for t in tables.tables.values()
        ),
        tuple(v.name for v in tables.views.values()),
    )


_pg_index = sa.table(
    "pg_index",
    sa.column("indexrelid"),
    sa.column("indrelid"),
    sa.column("indisprimary", sa.Boolean()),
    schema="pg_catalog",
)
_pg_constraint = sa.table(
    "pg_constraint",
    sa.column("conindid"),
    sa.column("conrelid"),
    sa.column("contype"),
    schema="pg_catalog",
)


@dataclass
class _Catalog:
    relations: dict[str, str]  # name -> relkind
    columns: dict[str, set[str]]
    indexes: dict[str, set[str]]  # table -> its indexes that back no constraint


def _read_catalog(conn: Connection, tables: list[str], views: list[str]) -> _Catalog:
    here = pg_namespace.c.nspname == sa.func.current_schema()
    catalog = _Catalog({}, defaultdict(set), defaultdict(set))
    names = sorted(set(tables) | set(views))
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        query = (
            sa.select(pg_class.c.relname, pg_class.c.relkind)
            .join(pg_namespace, pg_namespace.c.oid == pg_class.c.relnamespace)
            .where(here, pg_class.c.relname.in_(chunk))
        )
        catalog.relations.update({name: kind for name, kind in conn.execute(query)})
    present = sorted(t for t in tables if catalog.relations.get(t) in ("r", "p"))
    for start in range(0, len(present), _CHUNK):
        chunk = present[start : start + _CHUNK]
        columns = (
            sa.select(pg_class.c.relname, pg_attribute.c.attname)
            .join(pg_namespace, pg_namespace.c.oid == pg_class.c.relnamespace)
            .join(pg_attribute, pg_attribute.c.attrelid == pg_class.c.oid)
            .where(here, pg_class.c.relname.in_(chunk))
            .where(pg_attribute.c.attnum > 0, pg_attribute.c.attisdropped.is_(False))
        )
        for table, column in conn.execute(columns):
            catalog.columns[table].add(column)
        index = pg_class.alias("ix")
        indexes = (
            sa.select(pg_class.c.relname, index.c.relname, _pg_index.c.indexrelid)
            .join(pg_namespace, pg_namespace.c.oid == pg_class.c.relnamespace)
            .join(_pg_index, _pg_index.c.indrelid == pg_class.c.oid)
            .join(index, index.c.oid == _pg_index.c.indexrelid)
            .where(here, pg_class.c.relname.in_(chunk))
            .where(_pg_index.c.indisprimary.is_(False))
        )
        # The indexes that back a unique or exclusion constraint, found from the constraints'
        # tables (pg_constraint is indexed by conrelid, not by conindid: asking by index
        # made PostgreSQL read all of pg_constraint, 10 million rows at 100,000 users).
        backing = (
            sa.select(_pg_constraint.c.conindid)
            .join(pg_class, pg_class.c.oid == _pg_constraint.c.conrelid)
            .join(pg_namespace, pg_namespace.c.oid == pg_class.c.relnamespace)
            .where(here, pg_class.c.relname.in_(chunk))
            .where(_pg_constraint.c.contype.in_(["p", "u", "x"]))
        )
        backs_constraint = set(conn.execute(backing).scalars())
        for table, name, oid in conn.execute(indexes):
            if oid not in backs_constraint:
                catalog.indexes[table].add(name)
    return catalog


def verify_users(db: Database, usernames: Sequence[str]) -> list[Drift]:
    """:func:`verify_user` for each of ``usernames``, in their order; batched on PostgreSQL."""
    names = [normalize_username(name) for name in usernames]
    if db.dialect_name != "postgresql":
        return [verify_user(db, name) for name in names]
    with db.transaction() as conn:
        records = registry.get_tenants(conn, names)
        registered: dict[str, set[str]] = defaultdict(set)
        for start in range(0, len(names), _CHUNK):
            query = sa.select(tenant_objects.c.username, tenant_objects.c.object_name).where(
                tenant_objects.c.username.in_(names[start : start + _CHUNK])
            )
            for user, name in conn.execute(query):
                registered[user].add(name)
        expected: dict[str, _Expectation] = {}
        for name in names:
            record = records.get(name)
            if record is not None and record.state != "dropped" and record.template_version:
                expected[name] = _expectation(record.template_version).for_user(name)
        catalog = _read_catalog(
            conn,
            [t.name for e in expected.values() for t in e.tables],
            [v for e in expected.values() for v in e.views],
        )
    return [
        _drift(name, records.get(name), registered[name], expected.get(name), catalog)
        for name in names
    ]


def _drift(
    user: str,
    record: registry.TenantRecord | None,
    registered: set[str],
    expected: _Expectation | None,
    catalog: _Catalog,
) -> Drift:
    """The same findings, in the same order, as ``verify_user`` and its ``_compare``."""
    drift = Drift(
        user, record.state if record else None, record.template_version if record else None
    )
    if record is None:
        drift.notes.append("not in the provisioning registry")
        return drift
    if record.state == "dropped":
        drift.registered_but_missing.extend(sorted(registered))
        return drift
    if record.state != "ready" or record.template_version is None:
        drift.notes.append(f"state is {record.state!r}, not ready")
        if record.template_version is None:
            return drift
    if expected is None:  # a version with no template: verify_user would fail on it too
        raise ValueError(f"{user}: no template for version {record.template_version}")
    expected_names: set[str] = set()
    for table in expected.tables:
        expected_names.add(table.name)
        if catalog.relations.get(table.name) not in ("r", "p"):
            drift.missing_tables.append(table.name)
            continue
        actual_columns = catalog.columns.get(table.name, set())
        drift.missing_columns += [
            f"{table.name}.{c}" for c in sorted(table.columns - actual_columns)
        ]
        drift.extra_columns += [f"{table.name}.{c}" for c in sorted(actual_columns - table.columns)]
        actual_indexes = {
            ix for ix in catalog.indexes.get(table.name, set()) if ix not in table.constraints
        }
        expected_names |= table.indexes
        drift.missing_indexes += sorted(table.indexes - actual_indexes)
        drift.extra_indexes += sorted(actual_indexes - table.indexes)
    for view in expected.views:
        expected_names.add(view)
        if catalog.relations.get(view) != "v":
            drift.missing_views.append(view)
    present = expected_names - set(drift.missing_tables) - set(drift.missing_indexes)
    present -= set(drift.missing_views)
    drift.unregistered += sorted(present - registered)
    drift.registered_but_missing += sorted(
        name for name in registered if name not in present and name in expected_names
    )
    drift.extra_tables += sorted(name for name in registered if name not in expected_names)
    note_if_behind(drift, record.template_version)
    return drift
