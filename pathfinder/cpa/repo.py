"""Data access of the CPA module: plain functions over a Core ``Connection``.

Every query on a shared table is filtered by the owner's ``user_id`` (or reaches its row
through one that is), so a service can only ever see the caller's rows. Narrative columns
arrive here already sealed and leave still sealed: opening them is the service's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.schema.shared.cpa import (
    experience_breakdown,
    experience_time_tracking,
    experiences,
    progress_milestones,
    reports,
    submission_history,
    submissions,
)
from pathfinder.schema.shared.identity import users
from pathfinder.schema.tenant import TenantTables

Row = dict[str, Any]


def _one(conn: Connection, query: sa.Select[Any]) -> Row | None:
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _all(conn: Connection, query: sa.Select[Any]) -> list[Row]:
    return [dict(r) for r in conn.execute(query).mappings()]


def lock_owner(conn: Connection, user_id: str) -> None:
    """Serialise one user's CPA changes (overlap checks, milestones) on their user row.

    PostgreSQL and Oracle hold the row lock until commit; SQLite transactions begin
    IMMEDIATE and are serialised already, and ignore FOR UPDATE.
    """
    conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())


# -- reports -----------------------------------------------------------------------------------


def insert_report(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(reports.insert().values(**row))


def get_report(conn: Connection, user_id: str, report_id: str) -> Row | None:
    return _one(
        conn,
        sa.select(reports).where(
            reports.c.id == report_id,
            reports.c.user_id == user_id,
            reports.c.deleted_at.is_(None),
        ),
    )


def list_reports(
    conn: Connection, user_id: str, *, limit: int, after: tuple[date, str] | None
) -> list[Row]:
    """The user's reports by period start, keyset-paginated; ``limit + 1`` rows at most."""
    query = sa.select(reports).where(reports.c.user_id == user_id, reports.c.deleted_at.is_(None))
    if after is not None:
        query = query.where(
            sa.or_(
                reports.c.period_start > after[0],
                sa.and_(reports.c.period_start == after[0], reports.c.id > after[1]),
            )
        )
    return _all(conn, query.order_by(reports.c.period_start, reports.c.id).limit(limit + 1))


def all_reports(conn: Connection, user_id: str) -> list[Row]:
    """Every live report of the user (progress reads them all; a user has dozens at most)."""
    return _all(
        conn,
        sa.select(reports)
        .where(reports.c.user_id == user_id, reports.c.deleted_at.is_(None))
        .order_by(reports.c.period_start, reports.c.id),
    )


def overlapping_reports(
    conn: Connection, user_id: str, start: date, end: date, *, exclude_id: str | None = None
) -> list[Row]:
    """Live reports of the user sharing at least one day with [start, end]."""
    query = sa.select(reports).where(
        reports.c.user_id == user_id,
        reports.c.deleted_at.is_(None),
        reports.c.period_start <= end,
        reports.c.period_end >= start,
    )
    if exclude_id is not None:
        query = query.where(reports.c.id != exclude_id)
    return _all(conn, query.order_by(reports.c.period_start))


def update_report(
    conn: Connection, user_id: str, report_id: str, seen_version: int, values: Mapping[str, Any]
) -> bool:
    """Apply ``values`` and bump the version if it is still ``seen_version``."""
    result = conn.execute(
        reports.update()
        .where(
            reports.c.id == report_id,
            reports.c.user_id == user_id,
            reports.c.version == seen_version,
            reports.c.deleted_at.is_(None),
        )
        .values(**values, version=seen_version + 1)
    )
    return result.rowcount == 1


# -- experiences -------------------------------------------------------------------------------


def insert_experience(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(experiences.insert().values(**row))


def _experience_columns() -> list[sa.Column[Any]]:
    # duration_days is computed by the database and read like any other column.
    return list(experiences.c)


def get_experience(conn: Connection, user_id: str, experience_id: str) -> Row | None:
    """Any version of one of the user's experiences, deleted or not."""
    return _one(
        conn,
        sa.select(*_experience_columns())
        .join(reports, reports.c.id == experiences.c.report_id)
        .where(
            experiences.c.id == experience_id,
            experiences.c.user_id == user_id,
            reports.c.deleted_at.is_(None),
        ),
    )


def version_graph(conn: Connection, user_id: str, report_id: str) -> list[Row]:
    """Version metadata (no narratives) of every experience row of one report."""
    e = experiences.c
    return _all(
        conn,
        sa.select(
            e.id,
            e.previous_version_id,
            e.version_number,
            e.is_current_version,
            e.deleted_at,
            e.sub_competency_code,
            e.experience_title,
            e.proficiency_level,
            e.character_count,
            e.word_count,
            e.approval_status,
            e.created_at,
        ).where(e.report_id == report_id, e.user_id == user_id),
    )


def current_experiences(
    conn: Connection, user_id: str, report_id: str, *, limit: int | None, after: str | None
) -> list[Row]:
    """Live current versions of a report's experiences, in id order (keyset)."""
    query = sa.select(*_experience_columns()).where(
        experiences.c.report_id == report_id,
        experiences.c.user_id == user_id,
        experiences.c.is_current_version.is_(True),
        experiences.c.deleted_at.is_(None),
    )
    if after is not None:
        query = query.where(experiences.c.id > after)
    query = query.order_by(experiences.c.id)
    if limit is not None:
        query = query.limit(limit + 1)
    return _all(conn, query)


def experiences_by_id(conn: Connection, user_id: str, ids: Iterable[str]) -> dict[str, Row]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = _all(
        conn,
        sa.select(*_experience_columns()).where(
            experiences.c.user_id == user_id, experiences.c.id.in_(wanted)
        ),
    )
    return {r["id"]: r for r in rows}


def retire_current(conn: Connection, experience_id: str, now: datetime) -> bool:
    """Mark a current version as superseded; False when someone else got there first."""
    result = conn.execute(
        experiences.update()
        .where(experiences.c.id == experience_id, experiences.c.is_current_version.is_(True))
        .values(is_current_version=False, updated_at=now)
    )
    return result.rowcount == 1


def update_experience(conn: Connection, experience_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(experiences.update().where(experiences.c.id == experience_id).values(**values))


def set_report_approval(
    conn: Connection, report_id: str, approval_status: str, now: datetime
) -> None:
    """Set the approval status of every live current experience of a report."""
    conn.execute(
        experiences.update()
        .where(
            experiences.c.report_id == report_id,
            experiences.c.is_current_version.is_(True),
            experiences.c.deleted_at.is_(None),
        )
        .values(approval_status=approval_status, updated_at=now)
    )


def move_children(conn: Connection, from_id: str, to_id: str, now: datetime) -> None:
    """Activities and time entries belong to the experience, not to one text version."""
    conn.execute(
        experience_breakdown.update()
        .where(experience_breakdown.c.experience_id == from_id)
        .values(experience_id=to_id, updated_at=now)
    )
    conn.execute(
        experience_time_tracking.update()
        .where(experience_time_tracking.c.experience_id == from_id)
        .values(experience_id=to_id, updated_at=now)
    )


def evidence_rows(conn: Connection, user_id: str, framework_version: str) -> list[Row]:
    """Levels shown by the user's live current experiences in live reports."""
    e = experiences.c
    return _all(
        conn,
        sa.select(
            e.id,
            e.sub_competency_code,
            e.proficiency_level,
            e.approved_level,
            e.approval_status,
            e.experience_start_date,
            e.experience_end_date,
        )
        .join(reports, reports.c.id == e.report_id)
        .where(
            e.user_id == user_id,
            e.framework_version == framework_version,
            e.is_current_version.is_(True),
            e.deleted_at.is_(None),
            reports.c.deleted_at.is_(None),
        ),
    )


# -- activities and time -----------------------------------------------------------------------


def list_activities(
    conn: Connection, experience_id: str, *, limit: int, after: tuple[int, str] | None
) -> list[Row]:
    b = experience_breakdown.c
    query = sa.select(experience_breakdown).where(b.experience_id == experience_id)
    if after is not None:
        query = query.where(
            sa.or_(b.sort_order > after[0], sa.and_(b.sort_order == after[0], b.id > after[1]))
        )
    return _all(conn, query.order_by(b.sort_order, b.id).limit(limit + 1))


def next_sort_order(conn: Connection, experience_id: str) -> int:
    b = experience_breakdown.c
    value = conn.scalar(
        sa.select(sa.func.max(b.sort_order)).where(b.experience_id == experience_id)
    )
    return 0 if value is None else int(value) + 1


def insert_activity(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(experience_breakdown.insert().values(**row))


def get_activity(conn: Connection, user_id: str, activity_id: str) -> Row | None:
    b = experience_breakdown
    return _one(
        conn,
        sa.select(b, experiences.c.report_id)
        .join(experiences, experiences.c.id == b.c.experience_id)
        .join(reports, reports.c.id == experiences.c.report_id)
        .where(
            b.c.id == activity_id,
            experiences.c.user_id == user_id,
            reports.c.deleted_at.is_(None),
        ),
    )


def update_activity(conn: Connection, activity_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(
        experience_breakdown.update()
        .where(experience_breakdown.c.id == activity_id)
        .values(**values)
    )


def delete_activity(conn: Connection, activity_id: str) -> None:
    conn.execute(experience_breakdown.delete().where(experience_breakdown.c.id == activity_id))


def list_time_entries(
    conn: Connection, experience_id: str, *, limit: int, after: tuple[date, str] | None
) -> list[Row]:
    t = experience_time_tracking.c
    query = sa.select(experience_time_tracking).where(t.experience_id == experience_id)
    if after is not None:
        query = query.where(
            sa.or_(t.entry_date > after[0], sa.and_(t.entry_date == after[0], t.id > after[1]))
        )
    return _all(conn, query.order_by(t.entry_date, t.id).limit(limit + 1))


def time_totals(conn: Connection, experience_id: str) -> list[Row]:
    """Hours and entry counts per category for one experience, with billable and
    CPA-eligible hours (a NULL flag, from before the flags existed, counts as true)."""
    t = experience_time_tracking.c

    def flagged(flag: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((sa.func.coalesce(flag, sa.true()) == sa.true(), t.hours)))

    return _all(
        conn,
        sa.select(
            t.activity_category,
            sa.func.sum(t.hours).label("hours"),
            sa.func.count().label("entries"),
            flagged(t.is_billable).label("billable_hours"),
            flagged(t.is_cpa_eligible).label("cpa_eligible_hours"),
        )
        .where(t.experience_id == experience_id)
        .group_by(t.activity_category)
        .order_by(t.activity_category),
    )


def day_hours(
    conn: Connection, user_id: str, day: date, *, exclude_entry_id: str | None = None
) -> Any:
    """Hours the user logged on ``day`` across all their experiences."""
    t = experience_time_tracking
    query = (
        sa.select(sa.func.coalesce(sa.func.sum(t.c.hours), 0))
        .join(experiences, experiences.c.id == t.c.experience_id)
        .where(experiences.c.user_id == user_id, t.c.entry_date == day)
    )
    if exclude_entry_id is not None:
        query = query.where(t.c.id != exclude_entry_id)
    return conn.scalar(query)


def time_entry_on(conn: Connection, experience_id: str, day: date) -> Row | None:
    t = experience_time_tracking.c
    return _one(
        conn,
        sa.select(experience_time_tracking).where(
            t.experience_id == experience_id, t.entry_date == day
        ),
    )


def insert_time_entry(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(experience_time_tracking.insert().values(**row))


def get_time_entry(conn: Connection, user_id: str, entry_id: str) -> Row | None:
    t = experience_time_tracking
    return _one(
        conn,
        sa.select(t, experiences.c.report_id)
        .join(experiences, experiences.c.id == t.c.experience_id)
        .join(reports, reports.c.id == experiences.c.report_id)
        .where(
            t.c.id == entry_id,
            experiences.c.user_id == user_id,
            reports.c.deleted_at.is_(None),
        ),
    )


def update_time_entry(conn: Connection, entry_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(
        experience_time_tracking.update()
        .where(experience_time_tracking.c.id == entry_id)
        .values(**values)
    )


def delete_time_entry(conn: Connection, entry_id: str) -> None:
    conn.execute(experience_time_tracking.delete().where(experience_time_tracking.c.id == entry_id))


# -- milestones --------------------------------------------------------------------------------


def highest_milestone(
    conn: Connection, user_id: str, framework_version: str, code: str, source: str
) -> int | None:
    m = progress_milestones.c
    value = conn.scalar(
        sa.select(sa.func.max(m.achieved_level)).where(
            m.user_id == user_id,
            m.framework_version == framework_version,
            m.sub_competency_code == code,
            m.source == source,
        )
    )
    return None if value is None else int(value)


def hours_logged(conn: Connection, experience_ids: list[str]) -> Any:
    """Hours of the time entries of these experiences (0 when none)."""
    if not experience_ids:
        return 0
    t = experience_time_tracking.c
    total = conn.execute(
        sa.select(sa.func.sum(t.hours)).where(t.experience_id.in_(experience_ids))
    ).scalar()
    return total or 0


def insert_milestone(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(progress_milestones.insert().values(**row))


def list_milestones(
    conn: Connection,
    user_id: str,
    *,
    source: str | None,
    limit: int,
    after: tuple[date, str] | None,
) -> list[Row]:
    m = progress_milestones.c
    query = sa.select(progress_milestones).where(m.user_id == user_id)
    if source is not None:
        query = query.where(m.source == source)
    if after is not None:
        query = query.where(
            sa.or_(m.achieved_on > after[0], sa.and_(m.achieved_on == after[0], m.id > after[1]))
        )
    return _all(conn, query.order_by(m.achieved_on, m.id).limit(limit + 1))


# -- submissions -------------------------------------------------------------------------------


def insert_submission(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(submissions.insert().values(**row))


def get_submission(conn: Connection, user_id: str, submission_id: str) -> Row | None:
    return _one(
        conn,
        sa.select(submissions)
        .join(reports, reports.c.id == submissions.c.report_id)
        .where(
            submissions.c.id == submission_id,
            submissions.c.user_id == user_id,
            reports.c.deleted_at.is_(None),
        ),
    )


def list_submissions(
    conn: Connection, user_id: str, report_id: str, *, limit: int, after: str | None
) -> list[Row]:
    s = submissions.c
    query = sa.select(*[c for c in submissions.c if c.name != "payload"]).where(
        s.report_id == report_id, s.user_id == user_id
    )
    if after is not None:
        query = query.where(s.id > after)
    return _all(conn, query.order_by(s.id).limit(limit + 1))


def latest_final_submission(conn: Connection, report_id: str) -> Row | None:
    """The newest final or revision submission of a report (the one under review)."""
    s = submissions.c
    return _one(
        conn,
        sa.select(*[c for c in submissions.c if c.name != "payload"])
        .where(s.report_id == report_id, s.is_final.is_(True))
        .order_by(s.id.desc())
        .limit(1),
    )


def has_final_submission(conn: Connection, report_id: str) -> bool:
    s = submissions.c
    found = conn.scalar(
        sa.select(sa.func.count()).where(s.report_id == report_id, s.is_final.is_(True))
    )
    return bool(found)


def update_submission_status(
    conn: Connection, submission_id: str, status: str, **references: str
) -> None:
    """Set the status, and the body's reference number or confirmation code when given."""
    conn.execute(
        submissions.update()
        .where(submissions.c.id == submission_id)
        .values(status=status, **references)
    )


def delete_submission(conn: Connection, submission_id: str) -> None:
    conn.execute(submissions.delete().where(submissions.c.id == submission_id))


def insert_history(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(submission_history.insert().values(**row))


def list_history(
    conn: Connection, submission_id: str, *, limit: int, after: str | None
) -> list[Row]:
    h = submission_history.c
    query = sa.select(submission_history).where(h.submission_id == submission_id)
    if after is not None:
        query = query.where(h.id > after)
    return _all(conn, query.order_by(h.id).limit(limit + 1))


# -- drafts (the user's own pert_responses table) ----------------------------------------------


def list_drafts(
    conn: Connection,
    tables: TenantTables,
    *,
    code: str | None,
    status: str | None,
    limit: int,
    after: str | None,
) -> list[Row]:
    d = tables.pert_responses
    query = sa.select(d)
    if code is not None:
        query = query.where(d.c.sub_competency_code == code)
    if status is not None:
        query = query.where(d.c.status == status)
    if after is not None:
        query = query.where(d.c.id < after)
    return _all(conn, query.order_by(d.c.id.desc()).limit(limit + 1))


def get_draft(conn: Connection, tables: TenantTables, draft_id: str) -> Row | None:
    d = tables.pert_responses
    return _one(conn, sa.select(d).where(d.c.id == draft_id))


def insert_draft(conn: Connection, tables: TenantTables, row: Mapping[str, Any]) -> None:
    conn.execute(tables.pert_responses.insert().values(**row))


def update_draft(
    conn: Connection, tables: TenantTables, draft_id: str, values: Mapping[str, Any]
) -> None:
    d = tables.pert_responses
    conn.execute(d.update().where(d.c.id == draft_id).values(**values))


def delete_draft(conn: Connection, tables: TenantTables, draft_id: str) -> None:
    d = tables.pert_responses
    conn.execute(d.delete().where(d.c.id == draft_id))
