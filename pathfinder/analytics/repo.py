"""Data access for a user's ``career_analytics`` and ``skills_progression`` tables.

Plain functions over a Core ``Connection`` and the caller's :class:`TenantTables`; every
value is a bind parameter. Neither table has encrypted columns.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.ids import new_id
from pathfinder.schema.tenant import TenantTables


def upsert_metric(
    conn: Connection,
    tables: TenantTables,
    *,
    metric_date: date,
    metric_type: str,
    metric_value: Decimal,
    details: dict[str, Any] | None,
    now: datetime,
) -> tuple[RowMapping, bool]:
    """Insert or replace the value of (``metric_date``, ``metric_type``); (row, created).

    Update first, insert when nothing matched. Two writers inserting the same key at once:
    the loser's INSERT fails on the unique constraint inside a SAVEPOINT (so the outer
    transaction survives on PostgreSQL) and it updates the winner's row instead.
    """
    t = tables.career_analytics
    where = sa.and_(t.c.metric_date == metric_date, t.c.metric_type == metric_type)
    values = {"metric_value": metric_value, "details": details}
    created = False
    if conn.execute(t.update().where(where).values(**values)).rowcount == 0:
        try:
            with conn.begin_nested():
                conn.execute(
                    t.insert().values(
                        id=new_id(),
                        metric_date=metric_date,
                        metric_type=metric_type,
                        created_at=now,
                        **values,
                    )
                )
            created = True
        except sa.exc.IntegrityError:
            conn.execute(t.update().where(where).values(**values))
    row = conn.execute(sa.select(t).where(where)).mappings().one()
    return row, created


def list_metrics(
    conn: Connection,
    tables: TenantTables,
    *,
    metric_type: str | None,
    date_from: date | None,
    date_to: date | None,
    limit: int,
    after: tuple[date, str] | None,
) -> list[RowMapping]:
    """Metrics newest day first (ties by id), ``limit`` rows after the keyset ``after``."""
    t = tables.career_analytics
    query = sa.select(t)
    if metric_type is not None:
        query = query.where(t.c.metric_type == metric_type)
    if date_from is not None:
        query = query.where(t.c.metric_date >= date_from)
    if date_to is not None:
        query = query.where(t.c.metric_date <= date_to)
    if after is not None:
        day, row_id = after
        query = query.where(
            sa.or_(t.c.metric_date < day, sa.and_(t.c.metric_date == day, t.c.id < row_id))
        )
    query = query.order_by(t.c.metric_date.desc(), t.c.id.desc()).limit(limit)
    return list(conn.execute(query).mappings())


def metric_series(
    conn: Connection,
    tables: TenantTables,
    *,
    metric_types: list[str] | None,
    date_from: date | None,
    date_to: date,
    limit: int,
) -> list[RowMapping]:
    """The newest ``limit`` metric rows in the range, returned oldest first (for charts)."""
    t = tables.career_analytics
    query = sa.select(t.c.metric_date, t.c.metric_type, t.c.metric_value, t.c.details).where(
        t.c.metric_date <= date_to
    )
    if date_from is not None:
        query = query.where(t.c.metric_date >= date_from)
    if metric_types:
        query = query.where(t.c.metric_type.in_(metric_types))
    newest = query.order_by(t.c.metric_date.desc(), t.c.metric_type.desc()).limit(limit)
    rows = list(conn.execute(newest).mappings())
    rows.reverse()
    return rows


def insert_progression(conn: Connection, tables: TenantTables, values: dict[str, Any]) -> str:
    """Store one skill assessment; returns its id."""
    row_id = new_id()
    conn.execute(tables.skills_progression.insert().values(id=row_id, **values))
    return row_id


def get_progression(conn: Connection, tables: TenantTables, row_id: str) -> RowMapping | None:
    t = tables.skills_progression
    return conn.execute(sa.select(t).where(t.c.id == row_id)).mappings().first()


def delete_progression(conn: Connection, tables: TenantTables, row_id: str) -> bool:
    t = tables.skills_progression
    return conn.execute(t.delete().where(t.c.id == row_id)).rowcount > 0


def list_progression(
    conn: Connection,
    tables: TenantTables,
    *,
    skill: str | None,
    date_from: date | None,
    date_to: date | None,
    limit: int,
    after: tuple[date, str] | None,
) -> list[RowMapping]:
    """Assessments newest first; ``skill`` matches the name case-insensitively."""
    t = tables.skills_progression
    query = sa.select(t)
    if skill is not None:
        query = query.where(sa.func.lower(t.c.skill_name) == skill.lower())
    if date_from is not None:
        query = query.where(t.c.assessed_on >= date_from)
    if date_to is not None:
        query = query.where(t.c.assessed_on <= date_to)
    if after is not None:
        day, row_id = after
        query = query.where(
            sa.or_(t.c.assessed_on < day, sa.and_(t.c.assessed_on == day, t.c.id < row_id))
        )
    query = query.order_by(t.c.assessed_on.desc(), t.c.id.desc()).limit(limit)
    return list(conn.execute(query).mappings())


def progression_series(
    conn: Connection,
    tables: TenantTables,
    *,
    date_from: date | None,
    date_to: date,
    limit: int,
) -> list[RowMapping]:
    """The newest ``limit`` assessments in the range, oldest first (for charts)."""
    t = tables.skills_progression
    query = sa.select(
        t.c.skill_name, t.c.assessed_on, t.c.proficiency_level, t.c.assessment_source
    ).where(t.c.assessed_on <= date_to)
    if date_from is not None:
        query = query.where(t.c.assessed_on >= date_from)
    newest = query.order_by(t.c.assessed_on.desc(), t.c.id.desc()).limit(limit)
    rows = list(conn.execute(newest).mappings())
    rows.reverse()
    return rows


# --- Reading tier 1 (experiences and skills) for computed metrics -------------------------


def experience_periods(conn: Connection, tables: TenantTables) -> list[RowMapping]:
    """Every experience's id, title, company, level and dates (no encrypted column)."""
    t = tables.experiences
    query = sa.select(
        t.c.id,
        t.c.title,
        t.c.company,
        t.c.industry,
        t.c.role_level,
        t.c.employment_type,
        t.c.start_date,
        t.c.end_date,
        t.c.is_current,
        t.c.technologies,
    ).order_by(t.c.start_date, t.c.id)
    return list(conn.execute(query).mappings())


def skill_rows(conn: Connection, tables: TenantTables) -> list[RowMapping]:
    """Every skill row (name, category, level, years, last used, link to an experience)."""
    t = tables.skills
    query = sa.select(
        t.c.id,
        t.c.experience_id,
        t.c.name,
        t.c.category,
        t.c.proficiency_level,
        t.c.years_experience,
        t.c.last_used,
        t.c.is_primary,
        t.c.created_at,
    ).order_by(t.c.name, t.c.id)
    return list(conn.execute(query).mappings())
