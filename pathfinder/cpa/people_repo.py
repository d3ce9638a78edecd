"""Data access for the people around a candidate: plain functions over a Core
``Connection`` on the ``pf_cpa_*`` sharing tables (:mod:`pathfinder.schema.shared.cpa_sharing`).

Every query that reads a candidate's rows filters on the owner (``user_id``) as well as the
id, so a caller that passes the wrong owner finds nothing rather than someone else's row.
Encrypted cells come back sealed; the services open them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.cpa.repo import Row, _all, _one
from pathfinder.schema.shared.cpa import reports
from pathfinder.schema.shared.cpa_sharing import (
    comments,
    mentor_meetings,
    share_access,
    shares,
    verifications,
)
from pathfinder.schema.shared.identity import users
from pathfinder.schema.shared.messaging import outbox


def _keyset(query: sa.Select[Any], id_column: Any, limit: int, before: str | None) -> Any:
    """Newest first by id (ULIDs sort by creation), one extra row to tell if there is more."""
    if before is not None:
        query = query.where(id_column < before)
    return query.order_by(id_column.desc()).limit(limit + 1)


# -- people ------------------------------------------------------------------------------------


def user_email(conn: Connection, user_id: str) -> str | None:
    return conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).scalar()


def user_email_normalized(conn: Connection, user_id: str) -> str | None:
    return conn.execute(sa.select(users.c.email_normalized).where(users.c.id == user_id)).scalar()


def username(conn: Connection, user_id: str) -> str | None:
    return conn.execute(sa.select(users.c.username).where(users.c.id == user_id)).scalar()


def outbox_has(conn: Connection, recipient: str, template: str, subject: str) -> bool:
    """Whether this exact mail was queued already (a job's memory of what it sent)."""
    found = conn.execute(
        sa.select(outbox.c.id).where(
            outbox.c.recipient == recipient,
            outbox.c.template == template,
            outbox.c.subject == subject,
        )
    ).first()
    return found is not None


# -- shares ------------------------------------------------------------------------------------


def insert_share(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(shares.insert().values(**row))


def owned_share(conn: Connection, owner_id: str, share_id: str) -> Row | None:
    return _one(
        conn, sa.select(shares).where(shares.c.id == share_id, shares.c.user_id == owner_id)
    )


def list_shares(conn: Connection, owner_id: str, *, limit: int, before: str | None) -> list[Row]:
    query = sa.select(shares).where(shares.c.user_id == owner_id)
    return _all(conn, _keyset(query, shares.c.id, limit, before))


def accepted_share(conn: Connection, grantee_id: str, share_id: str) -> Row | None:
    """An account share ``grantee_id`` accepted, whatever its state now."""
    return _one(
        conn,
        sa.select(shares).where(
            shares.c.id == share_id,
            shares.c.grantee_kind == "account",
            shares.c.grantee_user_id == grantee_id,
        ),
    )


def share_by_token(conn: Connection, digest: str, kind: str) -> Row | None:
    """The share of ``kind`` whose token hashes to ``digest``: tokens of one kind never
    open a share of the other."""
    return _one(
        conn,
        sa.select(shares).where(shares.c.token_hash == digest, shares.c.grantee_kind == kind),
    )


def revoke_share(conn: Connection, share_id: str, now: datetime) -> bool:
    done = conn.execute(
        shares.update()
        .where(shares.c.id == share_id, shares.c.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
    )
    return done.rowcount == 1


def accept_share(conn: Connection, share_id: str, grantee_id: str, now: datetime) -> bool:
    """Spend the invitation: only the first acceptance changes the row."""
    done = conn.execute(
        shares.update()
        .where(shares.c.id == share_id, shares.c.accepted_at.is_(None))
        .values(grantee_user_id=grantee_id, accepted_at=now, updated_at=now)
    )
    return done.rowcount == 1


def touch_share(conn: Connection, share_id: str, now: datetime) -> None:
    conn.execute(shares.update().where(shares.c.id == share_id).values(last_used_at=now))


def shares_granted_to(
    conn: Connection, grantee_id: str, *, limit: int, before: str | None
) -> list[Row]:
    query = (
        sa.select(shares, users.c.username.label("sharer"))
        .select_from(shares.join(users, users.c.id == shares.c.user_id))
        .where(shares.c.grantee_user_id == grantee_id)
    )
    return _all(conn, _keyset(query, shares.c.id, limit, before))


def mentor_share_owners(conn: Connection) -> list[Row]:
    """(user_id, expires_at) of every unrevoked mentor share."""
    return _all(
        conn,
        sa.select(shares.c.user_id, shares.c.expires_at)
        .where(shares.c.role == "mentor", shares.c.revoked_at.is_(None))
        .order_by(shares.c.user_id),
    )


def covered_reports(conn: Connection, owner_id: str, report_id: str | None) -> list[Row]:
    """The owner's live reports a share names: one, or all of them (``report_id`` None)."""
    query = sa.select(reports).where(reports.c.user_id == owner_id, reports.c.deleted_at.is_(None))
    if report_id is not None:
        query = query.where(reports.c.id == report_id)
    return _all(conn, query.order_by(reports.c.period_start, reports.c.id))


def first_period_start(conn: Connection, owner_id: str) -> date | None:
    return conn.execute(
        sa.select(sa.func.min(reports.c.period_start)).where(
            reports.c.user_id == owner_id, reports.c.deleted_at.is_(None)
        )
    ).scalar()


# -- who saw what ------------------------------------------------------------------------------


def insert_access(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(share_access.insert().values(**row))


def list_access(
    conn: Connection, owner_id: str, share_id: str | None, *, limit: int, before: str | None
) -> list[Row]:
    query = (
        sa.select(share_access, users.c.username.label("grantee_username"))
        .select_from(share_access.outerjoin(users, users.c.id == share_access.c.grantee_user_id))
        .where(share_access.c.user_id == owner_id)
    )
    if share_id is not None:
        query = query.where(share_access.c.share_id == share_id)
    return _all(conn, _keyset(query, share_access.c.id, limit, before))


# -- verification decisions --------------------------------------------------------------------


def insert_verification(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(verifications.insert().values(**row))


def report_decisions(conn: Connection, owner_id: str, report_id: str) -> list[Row]:
    """Every decision on the report's experience versions, oldest first."""
    return _all(
        conn,
        sa.select(verifications)
        .where(verifications.c.report_id == report_id, verifications.c.user_id == owner_id)
        .order_by(verifications.c.created_at, verifications.c.id),
    )


# -- mentor meetings ---------------------------------------------------------------------------


def insert_meeting(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(mentor_meetings.insert().values(**row))


def list_meetings(
    conn: Connection, owner_id: str, share_id: str | None, *, limit: int, before: str | None
) -> list[Row]:
    query = sa.select(mentor_meetings).where(mentor_meetings.c.user_id == owner_id)
    if share_id is not None:
        query = query.where(mentor_meetings.c.share_id == share_id)
    return _all(conn, _keyset(query, mentor_meetings.c.id, limit, before))


def get_meeting(conn: Connection, owner_id: str, meeting_id: str) -> Row | None:
    return _one(
        conn,
        sa.select(mentor_meetings).where(
            mentor_meetings.c.id == meeting_id, mentor_meetings.c.user_id == owner_id
        ),
    )


def acknowledge_meeting(conn: Connection, meeting_id: str, now: datetime) -> None:
    conn.execute(
        mentor_meetings.update()
        .where(mentor_meetings.c.id == meeting_id)
        .values(acknowledged_at=now, updated_at=now)
    )


def last_meeting_date(conn: Connection, owner_id: str) -> date | None:
    return conn.execute(
        sa.select(sa.func.max(mentor_meetings.c.meeting_date)).where(
            mentor_meetings.c.user_id == owner_id
        )
    ).scalar()


# -- comments ----------------------------------------------------------------------------------


def insert_comment(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(comments.insert().values(**row))


def get_comment(conn: Connection, owner_id: str, comment_id: str) -> Row | None:
    return _one(
        conn,
        sa.select(comments).where(comments.c.id == comment_id, comments.c.user_id == owner_id),
    )


def thread(conn: Connection, owner_id: str, experience_ids: Iterable[str]) -> list[Row]:
    """Comments on any of ``experience_ids`` (one experience's versions), oldest first."""
    return _all(
        conn,
        sa.select(comments)
        .where(comments.c.user_id == owner_id, comments.c.experience_id.in_(list(experience_ids)))
        .order_by(comments.c.created_at, comments.c.id),
    )


def set_comment_resolved(
    conn: Connection, comment_id: str, resolved_at: datetime | None, now: datetime
) -> None:
    conn.execute(
        comments.update()
        .where(comments.c.id == comment_id)
        .values(resolved_at=resolved_at, updated_at=now)
    )
