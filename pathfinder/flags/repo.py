"""Plain functions over ``pf_feature_flags`` and ``pf_user_feature_flags``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.schema.shared.flags import feature_flags, user_feature_flags
from pathfinder.schema.shared.identity import user_groups, users

f = feature_flags.c
o = user_feature_flags.c


def get_flag(conn: Connection, key: str, *, lock: bool = False) -> RowMapping | None:
    query = sa.select(feature_flags).where(f.flag_key == key)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def list_flags(
    conn: Connection, *, category: str | None, after: str | None, limit: int
) -> list[RowMapping]:
    """Flags in key order, ``limit`` of them after the key ``after``."""
    query = sa.select(feature_flags).order_by(f.flag_key).limit(limit)
    if category is not None:
        query = query.where(f.category == category)
    if after is not None:
        query = query.where(f.flag_key > after)
    return list(conn.execute(query).mappings())


def insert_flag(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(feature_flags.insert().values(**values))


def update_flag(conn: Connection, flag_id: str, **values: Any) -> None:
    conn.execute(feature_flags.update().where(f.id == flag_id).values(**values))


def delete_flag(conn: Connection, flag_id: str) -> None:
    # Overrides go first explicitly: ON DELETE CASCADE would do it, but not every
    # deployment's SQLite connection is guaranteed to have foreign keys switched on.
    conn.execute(user_feature_flags.delete().where(o.flag_id == flag_id))
    conn.execute(feature_flags.delete().where(f.id == flag_id))


def get_override(conn: Connection, flag_id: str, override_id: str) -> RowMapping | None:
    query = sa.select(user_feature_flags).where(o.id == override_id, o.flag_id == flag_id)
    return conn.execute(query).mappings().first()


def find_override(
    conn: Connection, flag_id: str, *, user_id: str | None, group_id: str | None
) -> RowMapping | None:
    """The override of ``flag_id`` for that user or group, if one exists."""
    query = sa.select(user_feature_flags).where(o.flag_id == flag_id)
    if user_id is not None:
        query = query.where(o.user_id == user_id)
    else:
        query = query.where(o.group_id == group_id)
    return conn.execute(query).mappings().first()


def list_overrides(
    conn: Connection, flag_id: str, *, target: str | None, after: str | None, limit: int
) -> list[RowMapping]:
    """A flag's overrides, oldest first (ids are time-ordered ULIDs)."""
    query = sa.select(user_feature_flags).where(o.flag_id == flag_id).order_by(o.id).limit(limit)
    if target == "user":
        query = query.where(o.user_id.is_not(None))
    elif target == "group":
        query = query.where(o.group_id.is_not(None))
    if after is not None:
        query = query.where(o.id > after)
    return list(conn.execute(query).mappings())


def overrides_of_flag(conn: Connection, flag_id: str) -> list[RowMapping]:
    return list(conn.execute(sa.select(user_feature_flags).where(o.flag_id == flag_id)).mappings())


def insert_override(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(user_feature_flags.insert().values(**values))


def update_override(conn: Connection, override_id: str, **values: Any) -> None:
    conn.execute(user_feature_flags.update().where(o.id == override_id).values(**values))


def delete_override(conn: Connection, override_id: str) -> None:
    conn.execute(user_feature_flags.delete().where(o.id == override_id))


def live_user_exists(conn: Connection, user_id: str) -> bool:
    """Whether ``user_id`` names an account that is not deleted."""
    query = sa.select(users.c.id).where(users.c.id == user_id, users.c.account_status != "deleted")
    return conn.execute(query).first() is not None


def group_exists(conn: Connection, group_id: str) -> bool:
    query = sa.select(user_groups.c.id).where(user_groups.c.id == group_id)
    return conn.execute(query).first() is not None
