"""Plain functions over the provisioning registry (``pf_tenant_provisioning``, objects)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.schema.shared.system import tenant_objects, tenant_provisioning

LAST_ERROR_MAX = 1000

# (object_name, object_type, template_part, template_version) of one pf_tenant_objects row.
ObjectRow = tuple[str, str, str, int]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TenantRecord:
    """A user's registry row."""

    username: str
    state: str
    template_version: int | None
    attempts: int
    last_error: str | None
    requested_at: datetime
    updated_at: datetime
    ready_at: datetime | None


@dataclass(frozen=True)
class RegisteredObject:
    username: str
    object_name: str
    object_type: str
    template_part: str
    template_version: int


# Built once: a statement made per call costs its construction and cache-key walk, which
# on SQLite is more than the query (these run on every provision).
_SELECT_TENANT = sa.select(tenant_provisioning).where(
    tenant_provisioning.c.username == sa.bindparam("username")
)
_INSERT_TENANT = tenant_provisioning.insert()
_INSERT_OBJECTS = tenant_objects.insert()


def get_tenant(conn: Connection, username: str) -> TenantRecord | None:
    row = conn.execute(_SELECT_TENANT, {"username": username}).first()
    return TenantRecord(**row._mapping) if row else None


def get_tenants(conn: Connection, usernames: Sequence[str]) -> dict[str, TenantRecord]:
    """The registry rows of ``usernames`` (those that have one), in one query per 1,000."""
    found: dict[str, TenantRecord] = {}
    names = list(usernames)
    for start in range(0, len(names), 1000):  # Oracle's IN-list limit
        query = sa.select(tenant_provisioning).where(
            tenant_provisioning.c.username.in_(names[start : start + 1000])
        )
        for row in conn.execute(query):
            found[row.username] = TenantRecord(**row._mapping)
    return found


def record_migrated(conn: Connection, usernames: Sequence[str], version: int) -> None:
    """Mark ready users as migrated to ``version``, clearing their last error, in one go.

    Only rows still ``ready`` change: the caller holds the users' locks, so this is a guard
    against a registry changed behind the engine's back, not a race.
    """
    names = list(usernames)
    now = utcnow()
    for start in range(0, len(names), 1000):
        conn.execute(
            tenant_provisioning.update()
            .where(
                tenant_provisioning.c.username.in_(names[start : start + 1000]),
                tenant_provisioning.c.state == "ready",
            )
            .values(template_version=version, last_error=None, updated_at=now)
        )


def record_error(conn: Connection, username: str, error: str) -> None:
    """Note why a user's last operation failed, leaving its state and version as they are."""
    conn.execute(
        tenant_provisioning.update()
        .where(tenant_provisioning.c.username == username)
        .values(last_error=error[:LAST_ERROR_MAX], updated_at=utcnow())
    )


def registered_names(conn: Connection, names: Sequence[str]) -> set[str]:
    """Which of the object ``names`` are registered (a name holds its user's, so it is one
    user's at most)."""
    if not names:
        return set()
    found: set[str] = set()
    wanted = list(names)
    for start in range(0, len(wanted), 1000):
        query = sa.select(tenant_objects.c.object_name).where(
            tenant_objects.c.object_name.in_(wanted[start : start + 1000])
        )
        found.update(conn.execute(query).scalars())
    return found


def ensure_tenant_row(conn: Connection, username: str) -> None:
    """Insert the ``requested`` row unless one exists (caller handles a racing insert)."""
    if get_tenant(conn, username) is None:
        now = utcnow()
        conn.execute(
            tenant_provisioning.insert().values(
                username=username,
                state="requested",
                template_version=None,
                attempts=0,
                requested_at=now,
                updated_at=now,
            )
        )


def record_ready(conn: Connection, username: str, version: int, *, new_row: bool) -> None:
    """Mark a provisioning attempt finished at ``version``: insert the row as ``ready``
    (``new_row``: the caller read none under the user's lock) or update it, counting the
    attempt either way."""
    if not new_row:
        set_state(conn, username, "ready", template_version=version, count_attempt=True)
        return
    now = utcnow()
    conn.execute(
        _INSERT_TENANT,
        {
            "username": username,
            "state": "ready",
            "template_version": version,
            "attempts": 1,
            "last_error": None,
            "requested_at": now,
            "updated_at": now,
            "ready_at": now,
        },
    )


def set_state(
    conn: Connection,
    username: str,
    state: str,
    *,
    template_version: int | None | type[...] = ...,
    error: str | None = None,
    count_attempt: bool = False,
) -> None:
    now = utcnow()
    values: dict[str, object] = {"state": state, "updated_at": now, "last_error": error}
    if error is not None:
        values["last_error"] = error[:LAST_ERROR_MAX]
    if template_version is not ...:
        values["template_version"] = template_version
    if state == "ready":
        values["ready_at"] = now
    if count_attempt:
        values["attempts"] = tenant_provisioning.c.attempts + 1
    conn.execute(
        tenant_provisioning.update()
        .where(tenant_provisioning.c.username == username)
        .values(**values)
    )


def list_tenants(
    conn: Connection,
    *,
    states: Sequence[str] | None = None,
    below_version: int | None = None,
    after: str | None = None,
    limit: int | None = None,
    starting_with: str | None = None,
) -> list[TenantRecord]:
    """Registry rows in username order, keyset-paged by ``after``."""
    query = sa.select(tenant_provisioning).order_by(tenant_provisioning.c.username)
    if starting_with:
        name = tenant_provisioning.c.username
        query = query.where(name.startswith(starting_with, autoescape=True))
    if states:
        query = query.where(tenant_provisioning.c.state.in_(states))
    if below_version is not None:
        query = query.where(tenant_provisioning.c.template_version < below_version)
    if after is not None:
        query = query.where(tenant_provisioning.c.username > after)
    if limit is not None:
        query = query.limit(limit)
    return [TenantRecord(**row._mapping) for row in conn.execute(query)]


def count_by_state(conn: Connection) -> dict[str, int]:
    query = sa.select(tenant_provisioning.c.state, sa.func.count()).group_by(
        tenant_provisioning.c.state
    )
    return {state: count for state, count in conn.execute(query)}


def count_by_version(conn: Connection) -> dict[int | None, int]:
    """Ready users per template version (the migration's progress)."""
    query = (
        sa.select(tenant_provisioning.c.template_version, sa.func.count())
        .where(tenant_provisioning.c.state == "ready")
        .group_by(tenant_provisioning.c.template_version)
    )
    return {version: count for version, count in conn.execute(query)}


def registered_objects(conn: Connection, username: str) -> list[RegisteredObject]:
    """The user's objects in creation order (oldest version, then name)."""
    query = (
        sa.select(
            tenant_objects.c.username,
            tenant_objects.c.object_name,
            tenant_objects.c.object_type,
            tenant_objects.c.template_part,
            tenant_objects.c.template_version,
        )
        .where(tenant_objects.c.username == username)
        .order_by(tenant_objects.c.created_at, tenant_objects.c.object_name)
    )
    return [RegisteredObject(**row._mapping) for row in conn.execute(query)]


def is_registered(conn: Connection, username: str, object_name: str) -> bool:
    query = sa.select(tenant_objects.c.object_name).where(
        tenant_objects.c.username == username, tenant_objects.c.object_name == object_name
    )
    return conn.execute(query).first() is not None


def register_many(conn: Connection, rows: Sequence[tuple[str, ObjectRow]]) -> None:
    """Record (username, object row) pairs of several users in one statement."""
    if not rows:
        return
    now = utcnow()
    conn.execute(
        _INSERT_OBJECTS,
        [
            {
                "username": username,
                "object_name": name,
                "object_type": kind,
                "template_part": part,
                "template_version": version,
                "created_at": now,
            }
            for username, (name, kind, part, version) in rows
        ],
    )


def register_objects(conn: Connection, username: str, objects: Sequence[ObjectRow]) -> None:
    """Record (object_name, object_type, template_part, template_version) rows, in one go."""
    register_many(conn, [(username, row) for row in objects])


def unregister_object(conn: Connection, username: str, object_name: str) -> None:
    conn.execute(
        tenant_objects.delete().where(
            tenant_objects.c.username == username, tenant_objects.c.object_name == object_name
        )
    )
