"""Plain functions over the tables administration reads and writes: users (search and
lifecycle), invitations and user groups. Identity's own queries stay in ``auth.repo``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.schema.shared.identity import user_groups, user_invitations, user_sessions, users

u = users.c
i = user_invitations.c
g = user_groups.c


# -- users --------------------------------------------------------------------------------


def search_users(
    conn: Connection,
    *,
    q: str | None,
    status: str | None,
    role: str | None,
    group_id: str | None,
    after: str | None,
    limit: int,
) -> list[RowMapping]:
    """Users in username order matching every filter; deleted accounts only when asked."""
    query = sa.select(users).order_by(u.username).limit(limit)
    if q is not None:
        needle = q.casefold()
        query = query.where(
            sa.or_(
                u.username.contains(needle.lower(), autoescape=True),
                u.email_normalized.contains(needle, autoescape=True),
                sa.func.lower(u.first_name).contains(needle.lower(), autoescape=True),
                sa.func.lower(u.last_name).contains(needle.lower(), autoescape=True),
            )
        )
    if status is not None:
        query = query.where(u.account_status == status)
    else:
        query = query.where(u.account_status != "deleted")
    if role is not None:
        query = query.where(u.role == role)
    if group_id is not None:
        query = query.where(u.feature_group_id == group_id)
    if after is not None:
        query = query.where(u.username > after)
    return list(conn.execute(query).mappings())


def count_live_sessions(conn: Connection, user_id: str, now: datetime) -> int:
    """Live session families (signed-in devices) of a user."""
    s = user_sessions.c
    query = sa.select(sa.func.count(sa.distinct(s.family_id))).where(
        s.user_id == user_id, s.revoked_at.is_(None), s.expires_at > now
    )
    return int(conn.execute(query).scalar_one())


def deletion_queue(
    conn: Connection, *, after: tuple[datetime, str] | None, limit: int
) -> list[RowMapping]:
    """Accounts with a deletion scheduled, soonest first."""
    query = (
        sa.select(users)
        .where(u.deletion_scheduled_for.is_not(None), u.account_status != "deleted")
        .order_by(u.deletion_scheduled_for, u.id)
        .limit(limit)
    )
    if after is not None:
        when = after[0]
        query = query.where(
            sa.or_(
                u.deletion_scheduled_for > when,
                sa.and_(u.deletion_scheduled_for == when, u.id > after[1]),
            )
        )
    return list(conn.execute(query).mappings())


def due_deletions(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Ids of accounts whose cooling-off has ended (or whose deletion was interrupted)."""
    query = (
        sa.select(u.id)
        .where(u.deletion_scheduled_for <= now, u.account_status != "deleted")
        .order_by(u.deletion_scheduled_for, u.id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


# -- invitations --------------------------------------------------------------------------


def insert_invitation(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(user_invitations.insert().values(**values))


def get_invitation(
    conn: Connection, invitation_id: str, *, lock: bool = False
) -> RowMapping | None:
    query = sa.select(user_invitations).where(i.id == invitation_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def invitation_by_hash(conn: Connection, digest: str) -> RowMapping | None:
    return (
        conn.execute(sa.select(user_invitations).where(i.token_hash == digest)).mappings().first()
    )


def live_invitation_emails(conn: Connection, emails: Sequence[str], now: datetime) -> set[str]:
    """Which of these (normalised) addresses already have a pending, unexpired invitation."""
    if not emails:
        return set()
    query = sa.select(i.email_normalized).where(
        i.email_normalized.in_(list(emails)), i.status == "pending", i.expires_at > now
    )
    return set(conn.execute(query).scalars())


def registered_emails(conn: Connection, emails: Sequence[str]) -> set[str]:
    if not emails:
        return set()
    query = sa.select(u.email_normalized).where(u.email_normalized.in_(list(emails)))
    return set(conn.execute(query).scalars())


def list_invitations(
    conn: Connection,
    *,
    status: str | None,
    email: str | None,
    now: datetime,
    before: str | None,
    limit: int,
) -> list[RowMapping]:
    """Invitations newest first. ``expired`` includes pending ones past their expiry that
    the job has not marked yet, and ``pending`` excludes them: the answer never depends on
    when the job last ran."""
    query = sa.select(user_invitations).order_by(i.id.desc()).limit(limit)
    if status == "pending":
        query = query.where(i.status == "pending", i.expires_at > now)
    elif status == "expired":
        query = query.where(
            sa.or_(i.status == "expired", sa.and_(i.status == "pending", i.expires_at <= now))
        )
    elif status is not None:
        query = query.where(i.status == status)
    if email is not None:
        query = query.where(i.email_normalized.contains(email.casefold(), autoescape=True))
    if before is not None:
        query = query.where(i.id < before)
    return list(conn.execute(query).mappings())


def update_pending_invitation(conn: Connection, invitation_id: str, **values: Any) -> bool:
    """Update an invitation only while it is still pending or expired (not accepted or
    revoked meanwhile); False when someone else changed it first."""
    result = conn.execute(
        user_invitations.update()
        .where(i.id == invitation_id, i.status.in_(("pending", "expired")))
        .values(**values)
    )
    return result.rowcount == 1


def invitations_due_reminder(
    conn: Connection, now: datetime, until: datetime, limit: int
) -> list[RowMapping]:
    """Pending invitations expiring between ``now`` and ``until`` with no reminder yet."""
    query = (
        sa.select(user_invitations)
        .where(
            i.status == "pending",
            i.reminder_sent_at.is_(None),
            i.expires_at > now,
            i.expires_at <= until,
        )
        .order_by(i.expires_at, i.id)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def mark_reminded(conn: Connection, invitation_id: str, now: datetime) -> bool:
    """Claim an invitation's one reminder (conditional: two job runs cannot both send)."""
    result = conn.execute(
        user_invitations.update()
        .where(i.id == invitation_id, i.status == "pending", i.reminder_sent_at.is_(None))
        .values(reminder_sent_at=now, updated_at=now)
    )
    return result.rowcount == 1


def expire_invitations(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        user_invitations.update()
        .where(i.status == "pending", i.expires_at <= now)
        .values(status="expired", updated_at=now)
    )
    return int(result.rowcount or 0)


# -- groups -------------------------------------------------------------------------------


def list_groups(conn: Connection, *, after: str | None, limit: int) -> list[RowMapping]:
    query = sa.select(user_groups).order_by(g.name).limit(limit)
    if after is not None:
        query = query.where(g.name > after)
    return list(conn.execute(query).mappings())


def get_group(conn: Connection, group_id: str, *, lock: bool = False) -> RowMapping | None:
    query = sa.select(user_groups).where(g.id == group_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def group_by_name(conn: Connection, name: str) -> RowMapping | None:
    return conn.execute(sa.select(user_groups).where(g.name == name)).mappings().first()


def group_member_count(conn: Connection, group_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        u.feature_group_id == group_id, u.account_status != "deleted"
    )
    return int(conn.execute(query).scalar_one())


def insert_group(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(user_groups.insert().values(**values))


def update_group(conn: Connection, group_id: str, **values: Any) -> None:
    conn.execute(user_groups.update().where(g.id == group_id).values(**values))


def clear_other_defaults(conn: Connection, group_id: str, now: datetime) -> None:
    """Keep at most one default group (a partial unique index is not portable to Oracle)."""
    conn.execute(
        user_groups.update()
        .where(g.id != group_id, g.is_default == sa.true())
        .values(is_default=False, updated_at=now)
    )


def delete_group(conn: Connection, group_id: str) -> None:
    # References are cleared explicitly rather than left to ON DELETE SET NULL / CASCADE,
    # so the outcome does not depend on a connection's foreign-key setting.
    from pathfinder.schema.shared.flags import user_feature_flags

    conn.execute(users.update().where(u.feature_group_id == group_id).values(feature_group_id=None))
    conn.execute(
        user_invitations.update()
        .where(i.feature_group_id == group_id)
        .values(feature_group_id=None)
    )
    conn.execute(user_feature_flags.delete().where(user_feature_flags.c.group_id == group_id))
    conn.execute(user_groups.delete().where(g.id == group_id))


def assign_group(conn: Connection, user_ids: Sequence[str], group_id: str | None) -> list[str]:
    """Set the group of these (not deleted) users; returns the ids that were found."""
    found = list(
        conn.execute(
            sa.select(u.id).where(u.id.in_(list(user_ids)), u.account_status != "deleted")
        ).scalars()
    )
    if found:
        conn.execute(users.update().where(u.id.in_(found)).values(feature_group_id=group_id))
    return found
