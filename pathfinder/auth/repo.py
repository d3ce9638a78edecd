"""Plain functions over the identity tables: users, sessions, recovery codes, action tokens."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.ids import new_id
from pathfinder.schema.shared.identity import (
    action_tokens,
    recovery_codes,
    user_preferences,
    user_sessions,
    users,
)

# -- users -----------------------------------------------------------------------------


def get_user(conn: Connection, user_id: str) -> RowMapping | None:
    return conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()


def get_user_for_update(conn: Connection, user_id: str) -> RowMapping | None:
    """The user's row, locked until the transaction ends (PostgreSQL/Oracle)."""
    query = sa.select(users).where(users.c.id == user_id).with_for_update()
    return conn.execute(query).mappings().first()


def find_user_by_login(conn: Connection, login: str) -> RowMapping | None:
    """A user by username (canonical) or e-mail address (case-folded)."""
    key = login.strip()
    query = sa.select(users).where(
        sa.or_(users.c.username == key.lower(), users.c.email_normalized == key.casefold())
    )
    return conn.execute(query).mappings().first()


def find_user_by_email(conn: Connection, email: str) -> RowMapping | None:
    query = sa.select(users).where(users.c.email_normalized == email.strip().casefold())
    return conn.execute(query).mappings().first()


def username_or_email_taken(conn: Connection, username: str, email: str) -> str | None:
    """``"username"`` or ``"email"`` when already in use, else None."""
    row = conn.execute(
        sa.select(users.c.username, users.c.email_normalized).where(
            sa.or_(users.c.username == username, users.c.email_normalized == email.casefold())
        )
    ).first()
    if row is None:
        return None
    return "username" if row.username == username else "email"


def insert_user(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(users.insert().values(**values))


def update_user(conn: Connection, user_id: str, **values: Any) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(**values))


def delete_user(conn: Connection, user_id: str) -> None:
    conn.execute(users.delete().where(users.c.id == user_id))


def count_active_site_admins(conn: Connection, *, lock: bool = False) -> int:
    """How many active site admins exist; ``lock`` holds their rows until commit."""
    query = sa.select(users.c.id).where(
        users.c.role == "site_admin", users.c.account_status == "active"
    )
    if lock:
        query = query.with_for_update()
    return len(conn.execute(query).all())


# -- sessions (one row per refresh token; a family is a login) ------------------------


def insert_session(
    conn: Connection,
    *,
    user_id: str,
    family_id: str,
    refresh_hash: str,
    expires_at: datetime,
    now: datetime,
    ip_address: str | None,
    user_agent: str | None,
) -> str:
    session_id = new_id()
    conn.execute(
        user_sessions.insert().values(
            id=session_id,
            user_id=user_id,
            family_id=family_id,
            refresh_token_hash=refresh_hash,
            expires_at=expires_at,
            ip_address=ip_address,
            user_agent=user_agent,
            created_at=now,
            last_activity_at=now,
        )
    )
    return session_id


def session_by_refresh_hash(conn: Connection, refresh_hash: str) -> RowMapping | None:
    query = sa.select(user_sessions).where(user_sessions.c.refresh_token_hash == refresh_hash)
    return conn.execute(query).mappings().first()


def spend_session(conn: Connection, session_id: str, now: datetime) -> bool:
    """Mark a live token spent by rotation; False when someone spent or revoked it first."""
    result = conn.execute(
        user_sessions.update()
        .where(user_sessions.c.id == session_id, user_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="rotated")
    )
    return result.rowcount == 1


def link_replacement(conn: Connection, session_id: str, replaced_by: str) -> None:
    """Point a spent token at the one that replaced it (after both rows exist)."""
    conn.execute(
        user_sessions.update()
        .where(user_sessions.c.id == session_id)
        .values(replaced_by=replaced_by)
    )


def revoke_family(conn: Connection, family_id: str, reason: str, now: datetime) -> int:
    """Revoke every live token of a session family; returns how many."""
    result = conn.execute(
        user_sessions.update()
        .where(user_sessions.c.family_id == family_id, user_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return result.rowcount


def revoke_user_sessions(
    conn: Connection, user_id: str, reason: str, now: datetime, *, except_family: str | None = None
) -> int:
    """Revoke every live token of a user, optionally keeping one family (this device)."""
    query = user_sessions.update().where(
        user_sessions.c.user_id == user_id, user_sessions.c.revoked_at.is_(None)
    )
    if except_family is not None:
        query = query.where(user_sessions.c.family_id != except_family)
    return conn.execute(query.values(revoked_at=now, revoked_reason=reason)).rowcount


# Built once: the guard runs this on every authenticated request, and building a select
# (coercing its columns, then walking it for the cache key) costs more Python than the
# driver spends on the query.
_LIVE_SESSION = (
    sa.select(
        user_sessions.c.id.label("session_row_id"),
        user_sessions.c.last_activity_at.label("session_activity_at"),
        users.c.id,
        users.c.username,
        users.c.role,
        users.c.account_status,
        users.c.mfa_enabled,
        users.c.last_activity_at,
    )
    .join(users, users.c.id == user_sessions.c.user_id)
    .where(
        user_sessions.c.family_id == sa.bindparam("family_id"),
        user_sessions.c.user_id == sa.bindparam("user_id"),
        user_sessions.c.revoked_at.is_(None),
        user_sessions.c.expires_at > sa.bindparam("now", type_=user_sessions.c.expires_at.type),
    )
)


def live_session_with_user(
    conn: Connection, family_id: str, user_id: str, now: datetime
) -> RowMapping | None:
    """The live token row of a family joined with its user: the guard's one query."""
    params = {"family_id": family_id, "user_id": user_id, "now": now}
    return conn.execute(_LIVE_SESSION, params).mappings().first()


def touch_activity(conn: Connection, user_id: str, session_row_id: str, now: datetime) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(last_activity_at=now))
    conn.execute(
        user_sessions.update()
        .where(user_sessions.c.id == session_row_id)
        .values(last_activity_at=now)
    )


def list_live_sessions(conn: Connection, user_id: str, now: datetime) -> list[RowMapping]:
    """One row per live family: the current token row, with when the family began."""
    started = (
        sa.select(
            user_sessions.c.family_id,
            sa.func.min(user_sessions.c.created_at).label("started_at"),
        )
        .where(user_sessions.c.user_id == user_id)
        .group_by(user_sessions.c.family_id)
        .subquery()
    )
    query = (
        sa.select(
            user_sessions.c.family_id,
            user_sessions.c.ip_address,
            user_sessions.c.user_agent,
            user_sessions.c.last_activity_at,
            user_sessions.c.expires_at,
            started.c.started_at,
        )
        .join(started, started.c.family_id == user_sessions.c.family_id)
        .where(
            user_sessions.c.user_id == user_id,
            user_sessions.c.revoked_at.is_(None),
            user_sessions.c.expires_at > now,
        )
        .order_by(started.c.started_at.desc())
    )
    return list(conn.execute(query).mappings())


def family_belongs_to(conn: Connection, family_id: str, user_id: str) -> bool:
    query = sa.select(user_sessions.c.id).where(
        user_sessions.c.family_id == family_id, user_sessions.c.user_id == user_id
    )
    return conn.execute(query.limit(1)).first() is not None


# -- recovery codes ------------------------------------------------------------------------


def replace_recovery_codes(
    conn: Connection, user_id: str, code_hashes: list[str], now: datetime
) -> None:
    conn.execute(recovery_codes.delete().where(recovery_codes.c.user_id == user_id))
    conn.execute(
        recovery_codes.insert(),
        [
            {"id": new_id(), "user_id": user_id, "code_hash": h, "created_at": now}
            for h in code_hashes
        ],
    )


def spend_recovery_code(conn: Connection, user_id: str, code_hash: str, now: datetime) -> bool:
    """Use a code once: the conditional UPDATE is the single-use guarantee."""
    result = conn.execute(
        recovery_codes.update()
        .where(
            recovery_codes.c.user_id == user_id,
            recovery_codes.c.code_hash == code_hash,
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return result.rowcount == 1


def remaining_recovery_codes(conn: Connection, user_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
    )
    return int(conn.execute(query).scalar_one())


def delete_recovery_codes(conn: Connection, user_id: str) -> None:
    conn.execute(recovery_codes.delete().where(recovery_codes.c.user_id == user_id))


# -- e-mailed action tokens ----------------------------------------------------------------


def insert_action_token(
    conn: Connection,
    *,
    user_id: str,
    purpose: str,
    token_hash: str,
    expires_at: datetime,
    now: datetime,
    new_email: str | None = None,
) -> None:
    conn.execute(
        action_tokens.insert().values(
            id=new_id(),
            user_id=user_id,
            purpose=purpose,
            token_hash=token_hash,
            new_email=new_email,
            expires_at=expires_at,
            created_at=now,
        )
    )


def spend_action_token(
    conn: Connection, purpose: str, token_hash: str, now: datetime
) -> RowMapping | None:
    """Spend a live token once and return its row; None when unknown, used or expired.

    The conditional UPDATE decides the winner when two requests present the same token.
    """
    row = (
        conn.execute(
            sa.select(action_tokens).where(
                action_tokens.c.token_hash == token_hash, action_tokens.c.purpose == purpose
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["used_at"] is not None or row["expires_at"] <= now:
        return None
    result = conn.execute(
        action_tokens.update()
        .where(action_tokens.c.id == row["id"], action_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    return row if result.rowcount == 1 else None


def live_action_token(
    conn: Connection, purpose: str, token_hash: str, user_id: str, now: datetime
) -> bool:
    """Whether an unspent, unexpired token of ``purpose`` for ``user_id`` has this hash."""
    t = action_tokens.c
    found = conn.execute(
        sa.select(t.id).where(
            t.token_hash == token_hash,
            t.purpose == purpose,
            t.user_id == user_id,
            t.used_at.is_(None),
            t.expires_at > now,
        )
    ).first()
    return found is not None


def live_action_token_user(
    conn: Connection, purpose: str, token_hash: str, now: datetime
) -> RowMapping | None:
    """The user a live (unspent, unexpired) token of ``purpose`` belongs to, without spending it."""
    t = action_tokens.c
    return (
        conn.execute(
            sa.select(users)
            .join(action_tokens, t.user_id == users.c.id)
            .where(
                t.token_hash == token_hash,
                t.purpose == purpose,
                t.used_at.is_(None),
                t.expires_at > now,
            )
        )
        .mappings()
        .first()
    )


def family_started_at(conn: Connection, family_id: str) -> datetime | None:
    """When a session family began: its sign-in (the first refresh token's creation)."""
    return conn.execute(
        sa.select(sa.func.min(user_sessions.c.created_at)).where(
            user_sessions.c.family_id == family_id
        )
    ).scalar()


def invalidate_action_tokens(conn: Connection, user_id: str, purpose: str, now: datetime) -> None:
    """Spend every outstanding token of a purpose (a new one supersedes them)."""
    conn.execute(
        action_tokens.update()
        .where(
            action_tokens.c.user_id == user_id,
            action_tokens.c.purpose == purpose,
            action_tokens.c.used_at.is_(None),
        )
        .values(used_at=now)
    )


# -- preferences ---------------------------------------------------------------------------


def get_preferences(conn: Connection, user_id: str) -> RowMapping | None:
    query = sa.select(user_preferences).where(user_preferences.c.user_id == user_id)
    return conn.execute(query).mappings().first()


def put_preferences(
    conn: Connection, user_id: str, values: Mapping[str, Any], now: datetime
) -> None:
    updated = conn.execute(
        user_preferences.update()
        .where(user_preferences.c.user_id == user_id)
        .values(**values, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(user_preferences.insert().values(user_id=user_id, **values, updated_at=now))
