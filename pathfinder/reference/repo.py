"""Queries on the shared reference tables (``pf_ref_skills_catalog``, ``pf_ref_career_paths``).

Plain functions over a Core ``Connection``; every value is a bind parameter. Lists are keyset
paginated on the tables' unique lower-case keys (``normalized_name``, ``path_key``), so a
page never repeats or skips a row while admins edit the catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.schema.shared.reference import career_paths, skills_catalog


def normalize_skill_name(name: str) -> str:
    """The catalogue's matching key: whitespace collapsed, lower case (``normalized_name``)."""
    return " ".join(name.split()).lower()


def _contains(column: sa.ColumnElement[Any], needle: str) -> sa.ColumnElement[bool]:
    """Case-insensitive substring test; ``%`` and ``_`` in the needle are literal."""
    return sa.func.lower(column).contains(needle.lower(), autoescape=True)


# -- skills catalogue --------------------------------------------------------------------------


def list_skills(
    conn: Connection,
    *,
    q: str | None,
    category: str | None,
    limit: int,
    after: str | None,
    include_inactive: bool = False,
) -> list[dict[str, Any]]:
    """Up to ``limit`` catalogue entries after the key ``after``, by normalised name."""
    c = skills_catalog.c
    query = sa.select(skills_catalog).order_by(c.normalized_name).limit(limit)
    if not include_inactive:
        query = query.where(c.is_active == sa.true())
    if q:
        # Aliases are a JSON list; a substring of its text finds a matching alias too.
        query = query.where(
            sa.or_(
                c.normalized_name.contains(normalize_skill_name(q), autoescape=True),
                _contains(sa.cast(c.aliases, sa.Text()), q),
            )
        )
    if category:
        query = query.where(sa.func.lower(c.category) == category.lower())
    if after is not None:
        query = query.where(c.normalized_name > after)
    return [dict(row) for row in conn.execute(query).mappings()]


def skill_categories(conn: Connection) -> list[dict[str, Any]]:
    """Active categories with the number of skills in each, by name."""
    c = skills_catalog.c
    rows = conn.execute(
        sa.select(c.category, sa.func.count().label("skills"))
        .where(c.is_active == sa.true(), c.category.is_not(None))
        .group_by(c.category)
        .order_by(c.category)
    )
    return [{"category": r.category, "skills": int(r.skills)} for r in rows]


def get_skill(conn: Connection, skill_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(skills_catalog).where(skills_catalog.c.id == skill_id)).first()
    return dict(row._mapping) if row is not None else None


def all_skills(conn: Connection, *, active_only: bool = True) -> list[dict[str, Any]]:
    """Every catalogue entry (the matcher and alias-collision checks read the whole list)."""
    c = skills_catalog.c
    query = sa.select(c.id, c.name, c.normalized_name, c.category, c.aliases, c.is_active)
    if active_only:
        query = query.where(c.is_active == sa.true())
    return [dict(row) for row in conn.execute(query.order_by(c.normalized_name)).mappings()]


def term_owners(conn: Connection, *, except_id: str | None) -> dict[str, dict[str, Any]]:
    """Every catalogued term (normalised name or alias) -> the entry owning it."""
    owners: dict[str, dict[str, Any]] = {}
    for row in all_skills(conn, active_only=False):
        if row["id"] == except_id:
            continue
        for term in [row["name"], *aliases_of(row)]:
            owners[normalize_skill_name(term)] = row
    return owners


def catalog_fingerprint(conn: Connection) -> tuple[int, datetime | None]:
    """(entries, newest change): any insert, update or delete changes one of the two."""
    c = skills_catalog.c
    row = conn.execute(sa.select(sa.func.count(), sa.func.max(c.updated_at))).one()
    newest = row[1]
    if isinstance(newest, str):  # SQLite hands back text for an aggregate
        newest = datetime.fromisoformat(newest)
    return int(row[0]), newest


def insert_skills(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    batch = list(rows)
    if batch:
        conn.execute(skills_catalog.insert(), batch)
    return len(batch)


def update_skill(conn: Connection, skill_id: str, values: dict[str, Any]) -> None:
    conn.execute(skills_catalog.update().where(skills_catalog.c.id == skill_id).values(**values))


def delete_skill(conn: Connection, skill_id: str) -> bool:
    result = conn.execute(skills_catalog.delete().where(skills_catalog.c.id == skill_id))
    return result.rowcount == 1


def aliases_of(row: dict[str, Any]) -> list[str]:
    """A row's aliases as a list (the column is a JSON list, or NULL)."""
    value = row.get("aliases")
    if isinstance(value, str):  # defensive: a driver that returned the JSON text
        value = json.loads(value)
    return [str(a) for a in value or []]


# -- career paths ------------------------------------------------------------------------------


def list_career_paths(
    conn: Connection, *, q: str | None, key: str | None, limit: int, after: str | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` career paths after the key ``after``, by ``path_key``."""
    c = career_paths.c
    query = sa.select(career_paths).order_by(c.path_key).limit(limit)
    if q:
        query = query.where(sa.or_(_contains(c.title, q), _contains(c.description, q)))
    if key:
        query = query.where(c.path_key == key)
    if after is not None:
        query = query.where(c.path_key > after)
    return [dict(row) for row in conn.execute(query).mappings()]


def get_career_path(conn: Connection, path_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(career_paths).where(career_paths.c.id == path_id)).first()
    return dict(row._mapping) if row is not None else None


def career_path_key_exists(conn: Connection, path_key: str, *, except_id: str | None) -> bool:
    query = sa.select(career_paths.c.id).where(career_paths.c.path_key == path_key)
    if except_id is not None:
        query = query.where(career_paths.c.id != except_id)
    return conn.execute(query).first() is not None


def existing_path_keys(conn: Connection) -> set[str]:
    return set(conn.execute(sa.select(career_paths.c.path_key)).scalars())


def insert_career_paths(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    batch = list(rows)
    if batch:
        conn.execute(career_paths.insert(), batch)
    return len(batch)


def update_career_path(conn: Connection, path_id: str, values: dict[str, Any]) -> None:
    conn.execute(career_paths.update().where(career_paths.c.id == path_id).values(**values))


def delete_career_path(conn: Connection, path_id: str) -> bool:
    result = conn.execute(career_paths.delete().where(career_paths.c.id == path_id))
    return result.rowcount == 1
