"""Queries on the caller's own career tables (``pf_user_<username>_*``).

Plain functions over a Core ``Connection`` and the caller's :class:`TenantTables`; nothing
here can name another user's table, because the only tables it sees are the ones passed in.
Rows go in and out as they are stored: sealing and opening the encrypted columns is the
service's job (:mod:`pathfinder.security.fields`), done before insert and after select.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.schema.tenant import TenantTables

# The summaries have one row each, under this fixed id: writers lock it (see lock_summaries).
SUMMARY_ROW_ID = "00000000000000000000000000"

# Columns the summaries read: never the encrypted ones, so computing them decrypts nothing
# and nothing secret can leak into the (plain) summary tables.
SUMMARY_EXPERIENCE_COLUMNS = (
    "id",
    "title",
    "company",
    "role_level",
    "industry",
    "employment_type",
    "start_date",
    "end_date",
    "is_current",
    "technologies",
    "team_size",
)


def _one(conn: Connection, query: sa.Select[Any]) -> dict[str, Any] | None:
    row = conn.execute(query).first()
    return dict(row._mapping) if row is not None else None


def _lower_contains(column: sa.ColumnElement[Any], needle: str) -> sa.ColumnElement[bool]:
    return sa.func.lower(column).contains(needle.lower(), autoescape=True)


def _json_list_has(column: sa.ColumnElement[Any], terms: Sequence[str]) -> sa.ColumnElement[bool]:
    """Whether a JSON list of strings holds one of ``terms`` (case-insensitive).

    Portable over JSONB, SQLite text and Oracle CLOB: the list's text contains the term as a
    quoted JSON string. Quoting makes ``"go"`` miss ``"golang"``.
    """
    text = sa.func.lower(sa.cast(column, sa.Text()))
    return sa.or_(
        *(text.contains(json.dumps(t.lower(), ensure_ascii=False), autoescape=True) for t in terms)
    )


# -- experiences -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExperienceFilter:
    company: str | None = None
    title_text: str | None = None
    skill_terms: tuple[str, ...] = ()
    active_from: date | None = None
    active_to: date | None = None
    is_current: bool | None = None
    employment_type: str | None = None


def insert_experiences(
    conn: Connection, tables: TenantTables, rows: Iterable[dict[str, Any]]
) -> None:
    batch = list(rows)
    if batch:
        conn.execute(tables.experiences.insert(), batch)


def get_experience(
    conn: Connection, tables: TenantTables, experience_id: str
) -> dict[str, Any] | None:
    e = tables.experiences
    return _one(conn, sa.select(e).where(e.c.id == experience_id))


def update_experience(
    conn: Connection, tables: TenantTables, experience_id: str, values: dict[str, Any]
) -> None:
    e = tables.experiences
    conn.execute(e.update().where(e.c.id == experience_id).values(**values))


def delete_experience(conn: Connection, tables: TenantTables, experience_id: str) -> bool:
    e = tables.experiences
    return conn.execute(e.delete().where(e.c.id == experience_id)).rowcount == 1


@functools.lru_cache(maxsize=8)
def _first_page(experiences: sa.Table) -> sa.Select[Any]:
    """The first page's statement for a template's experiences table (one per version:
    every user shares the template's Table objects)."""
    e = experiences
    return (
        sa.select(e)
        .order_by(e.c.start_date.desc(), e.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )


def list_experiences(
    conn: Connection,
    tables: TenantTables,
    filters: ExperienceFilter,
    *,
    limit: int,
    after: tuple[date, str] | None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` experiences, newest start first (ties by id), after the keyset ``after``."""
    e, s = tables.experiences, tables.skills
    if filters == ExperienceFilter() and after is None:
        # The first, unfiltered page: most list requests. Its statement is built once.
        return [dict(row) for row in conn.execute(_first_page(e), {"limit": limit}).mappings()]
    query = sa.select(e).order_by(e.c.start_date.desc(), e.c.id.desc()).limit(limit)
    if filters.company:
        query = query.where(_lower_contains(e.c.company, filters.company))
    if filters.title_text:
        query = query.where(_lower_contains(e.c.title, filters.title_text))
    if filters.skill_terms:
        lowered = [t.lower() for t in filters.skill_terms]
        attached = (
            sa.select(s.c.id)
            .where(s.c.experience_id == e.c.id, sa.func.lower(s.c.name).in_(lowered))
            .exists()
        )
        query = query.where(sa.or_(attached, _json_list_has(e.c.technologies, lowered)))
    if filters.active_from is not None:
        query = query.where(sa.or_(e.c.end_date.is_(None), e.c.end_date >= filters.active_from))
    if filters.active_to is not None:
        query = query.where(e.c.start_date <= filters.active_to)
    if filters.is_current is not None:
        query = query.where(e.c.is_current == filters.is_current)
    if filters.employment_type:
        query = query.where(e.c.employment_type == filters.employment_type)
    if after is not None:
        start, last_id = after
        query = query.where(
            sa.or_(e.c.start_date < start, sa.and_(e.c.start_date == start, e.c.id < last_id))
        )
    return [dict(row) for row in conn.execute(query).mappings()]


def experiences_ended_before(conn: Connection, tables: TenantTables, cutoff: date) -> list[str]:
    """Ids of past roles whose end date is before ``cutoff`` (the retention job's pick)."""
    e = tables.experiences
    query = (
        sa.select(e.c.id)
        .where(e.c.is_current == sa.false(), e.c.end_date < cutoff)
        .order_by(e.c.end_date, e.c.id)
    )
    return list(conn.execute(query).scalars())


# -- skills ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkillFilter:
    name_text: str | None = None
    category: str | None = None
    experience_id: str | None = None
    standalone: bool | None = None


def insert_skills(conn: Connection, tables: TenantTables, rows: Iterable[dict[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        conn.execute(tables.skills.insert(), batch)


def get_skill(conn: Connection, tables: TenantTables, skill_id: str) -> dict[str, Any] | None:
    s = tables.skills
    return _one(conn, sa.select(s).where(s.c.id == skill_id))


def update_skill(
    conn: Connection, tables: TenantTables, skill_id: str, values: dict[str, Any]
) -> None:
    s = tables.skills
    conn.execute(s.update().where(s.c.id == skill_id).values(**values))


def delete_skill(conn: Connection, tables: TenantTables, skill_id: str) -> bool:
    s = tables.skills
    return conn.execute(s.delete().where(s.c.id == skill_id)).rowcount == 1


def list_skills(
    conn: Connection,
    tables: TenantTables,
    filters: SkillFilter,
    *,
    limit: int,
    after: tuple[str, str] | None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` skills by lower-cased name (ties by id), after the keyset ``after``."""
    s = tables.skills
    sort_name = sa.func.lower(s.c.name)
    query = sa.select(s, sort_name.label("sort_name")).order_by(sort_name, s.c.id).limit(limit)
    if filters.name_text:
        query = query.where(_lower_contains(s.c.name, filters.name_text))
    if filters.category:
        query = query.where(sa.func.lower(s.c.category) == filters.category.lower())
    if filters.experience_id is not None:
        query = query.where(s.c.experience_id == filters.experience_id)
    if filters.standalone is True:
        query = query.where(s.c.experience_id.is_(None))
    elif filters.standalone is False:
        query = query.where(s.c.experience_id.is_not(None))
    if after is not None:
        name, last_id = after
        query = query.where(sa.or_(sort_name > name, sa.and_(sort_name == name, s.c.id > last_id)))
    return [dict(row) for row in conn.execute(query).mappings()]


def find_skill(
    conn: Connection, tables: TenantTables, name: str, experience_id: str | None
) -> dict[str, Any] | None:
    """A skill named ``name`` (any case) on that experience, or standalone when None."""
    s = tables.skills
    owner = (
        s.c.experience_id.is_(None)
        if experience_id is None
        else (s.c.experience_id == experience_id)
    )
    query = sa.select(s).where(owner, sa.func.lower(s.c.name) == name.lower()).limit(1)
    return _one(conn, query)


def skills_of_experience(
    conn: Connection, tables: TenantTables, experience_id: str
) -> list[dict[str, Any]]:
    s = tables.skills
    query = sa.select(s).where(s.c.experience_id == experience_id).order_by(s.c.name, s.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]


# -- summaries' inputs -------------------------------------------------------------------------


def summary_inputs(
    conn: Connection, tables: TenantTables
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tier 1 as the summaries need it: experiences (no encrypted column) and all skills."""
    e, s = tables.experiences, tables.skills
    experiences = conn.execute(
        sa.select(*(e.c[name] for name in SUMMARY_EXPERIENCE_COLUMNS)).order_by(
            e.c.start_date, e.c.id
        )
    ).mappings()
    skills = conn.execute(sa.select(s).order_by(s.c.name, s.c.id)).mappings()
    return [dict(r) for r in experiences], [dict(r) for r in skills]


# -- archive -----------------------------------------------------------------------------------


def insert_archive(conn: Connection, tables: TenantTables, rows: Iterable[dict[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        conn.execute(tables.experiences_archive.insert(), batch)


def get_archive(conn: Connection, tables: TenantTables, archive_id: str) -> dict[str, Any] | None:
    a = tables.experiences_archive
    return _one(conn, sa.select(a).where(a.c.id == archive_id))


def delete_archive(conn: Connection, tables: TenantTables, archive_id: str) -> bool:
    a = tables.experiences_archive
    return conn.execute(a.delete().where(a.c.id == archive_id)).rowcount == 1


def list_archive(
    conn: Connection, tables: TenantTables, *, limit: int, after: tuple[datetime, str] | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` archived experiences, most recently archived first."""
    a = tables.experiences_archive
    query = sa.select(a).order_by(a.c.archived_at.desc(), a.c.id.desc()).limit(limit)
    if after is not None:
        at, last_id = after
        query = query.where(
            sa.or_(a.c.archived_at < at, sa.and_(a.c.archived_at == at, a.c.id < last_id))
        )
    return [dict(row) for row in conn.execute(query).mappings()]


# -- summaries ---------------------------------------------------------------------------------


def lock_summaries(conn: Connection, tables: TenantTables) -> None:
    """Serialise this user's writers on the quick summary row (made on first use).

    Every change to tier 1 takes this lock before it reads anything, so two concurrent
    writers cannot each compute a summary that misses the other's change: the second waits
    for the first to commit and then reads its rows (READ COMMITTED re-reads per statement).
    SQLite needs nothing here (``BEGIN IMMEDIATE`` already serialises writers) and SQLAlchemy
    renders no ``FOR UPDATE`` there.
    """
    q = tables.quick_summary
    locked = sa.select(q.c.id).where(q.c.id == SUMMARY_ROW_ID).with_for_update()
    if conn.execute(locked).first() is not None:
        return
    now = datetime.now(UTC)
    try:
        with conn.begin_nested():
            conn.execute(
                q.insert().values(
                    id=SUMMARY_ROW_ID,
                    headline="",
                    total_years=0,
                    total_roles=0,
                    key_strengths=[],
                    top_skills=[],
                    is_stale=True,
                    computed_at=now,
                )
            )
    except sa.exc.IntegrityError:
        pass  # a concurrent first writer made it (and we waited for its commit): lock it
    conn.execute(locked).first()


def write_summary(conn: Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """Replace the single row of a summary table with ``values``."""
    updated = conn.execute(table.update().where(table.c.id == SUMMARY_ROW_ID).values(**values))
    if updated.rowcount == 0:
        conn.execute(table.insert().values(id=SUMMARY_ROW_ID, **values))


def mark_summaries_stale(conn: Connection, tables: TenantTables) -> None:
    for table in (tables.profile_summary, tables.quick_summary):
        conn.execute(table.update().values(is_stale=True))


def read_summary(conn: Connection, table: sa.Table) -> dict[str, Any] | None:
    return _one(conn, sa.select(table).where(table.c.id == SUMMARY_ROW_ID))


def experience_periods(conn: Connection, tables: TenantTables) -> list[dict[str, Any]]:
    """Start, end and current flag of every experience (what career years are made of)."""
    e = tables.experiences.c
    rows = conn.execute(sa.select(e.start_date, e.end_date, e.is_current)).mappings()
    return [dict(r) for r in rows]


def career_summary(conn: Connection, tables: TenantTables) -> dict[str, Any]:
    """The user's ``career_summary`` view (totals over ``experiences``)."""
    view = tables.views["career_summary"]
    relation = sa.table(
        view.name,
        sa.column("total_roles", sa.Integer()),
        sa.column("total_companies", sa.Integer()),
        sa.column("first_start_date", sa.Date()),
        sa.column("last_end_date", sa.Date()),
        sa.column("current_roles", sa.Integer()),
        schema=view.schema,
    )
    row = conn.execute(sa.select(relation)).mappings().one()
    return dict(row)
