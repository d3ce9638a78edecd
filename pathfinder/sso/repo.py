"""Plain functions over ``pf_sso_accounts`` (the linked identities)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.schema.shared.identity import sso_accounts

a = sso_accounts.c


def find_link(conn: Connection, provider: str, subject: str) -> RowMapping | None:
    """The link of a provider's subject, whoever it belongs to."""
    query = sa.select(sso_accounts).where(a.provider == provider, a.provider_user_id == subject)
    return conn.execute(query).mappings().first()


def get_link(conn: Connection, user_id: str, link_id: str) -> RowMapping | None:
    """One of ``user_id``'s links (another user's is None, as if it did not exist)."""
    query = sa.select(sso_accounts).where(a.id == link_id, a.user_id == user_id)
    return conn.execute(query).mappings().first()


def list_links(conn: Connection, user_id: str) -> list[RowMapping]:
    query = sa.select(sso_accounts).where(a.user_id == user_id).order_by(a.created_at, a.id)
    return list(conn.execute(query).mappings())


def count_links(conn: Connection, user_id: str) -> int:
    query = sa.select(sa.func.count()).where(a.user_id == user_id)
    return int(conn.execute(query).scalar_one())


def insert_link(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(sso_accounts.insert().values(**values))


def touch_link(conn: Connection, link_id: str, now: datetime, **profile: Any) -> None:
    """Record a sign-in through a link and refresh what the provider says of the person."""
    conn.execute(
        sso_accounts.update()
        .where(a.id == link_id)
        .values(last_used_at=now, updated_at=now, **profile)
    )


def delete_link(conn: Connection, link_id: str) -> None:
    conn.execute(sso_accounts.delete().where(a.id == link_id))


def promote_oldest(conn: Connection, user_id: str, now: datetime) -> None:
    """Make the user's oldest remaining link the primary one (after the primary went)."""
    oldest = conn.execute(
        sa.select(a.id).where(a.user_id == user_id).order_by(a.created_at, a.id).limit(1)
    ).scalar()
    if oldest is not None:
        conn.execute(
            sso_accounts.update().where(a.id == oldest).values(is_primary=True, updated_at=now)
        )


def make_primary(conn: Connection, user_id: str, link_id: str, now: datetime) -> None:
    """Make one link the user's primary one, and no other."""
    conn.execute(
        sso_accounts.update()
        .where(a.user_id == user_id, a.id != link_id, a.is_primary.is_(True))
        .values(is_primary=False, updated_at=now)
    )
    conn.execute(
        sso_accounts.update().where(a.id == link_id).values(is_primary=True, updated_at=now)
    )
