"""Product usage events in ``pf_user_analytics``: client events and server-recorded ones.

Client events (``POST /events``) have a type from :data:`CLIENT_EVENT_TYPES`, and their
data, page URL and referrer pass through :mod:`pathfinder.analytics.pii` before they are
stored; the client address is kept only truncated to its network. The session is the
caller's signed-in session, never a value the client chooses.

A user who set ``privacy_settings.analytics_opt_out`` gets no client event stored. The
chat quota's ``chat_message_sent`` still is, because the daily limit is counted from it,
but with no data (not even the conversation): it is metering, not analytics.

Server events (:data:`SERVER_EVENT_TYPES`) are written by Pathfinder itself in the same
transaction as the action they describe, such as ``chat_message_sent``, which the chat
daily limit counts. Clients cannot send them, so a client cannot spend (or forge) another
feature's quota.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.analytics.pii import strip_pii, strip_url, truncate_ip
from pathfinder.analytics.schemas import CLIENT_EVENT_TYPES, EventCreate
from pathfinder.audit.sanitise import clean_text
from pathfinder.auth.principal import Principal
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.preferences import analytics_opted_out
from pathfinder.schema.shared.analytics import user_analytics

SERVER_EVENT_TYPES = ("chat_message_sent",)
EVENT_TYPES = CLIENT_EVENT_TYPES + SERVER_EVENT_TYPES
USER_AGENT_LIMIT = 500


def insert_event(
    conn: Connection,
    *,
    event_type: str,
    user_id: str | None,
    session_id: str | None = None,
    event_data: dict[str, Any] | None = None,
    page_url: str | None = None,
    referrer: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> str:
    """Write one event as given (callers strip personal data first); returns its id."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown analytics event type {event_type!r}")
    event_id = new_id()
    conn.execute(
        user_analytics.insert().values(
            id=event_id,
            user_id=user_id,
            session_id=session_id,
            event_type=event_type,
            event_data=event_data,
            page_url=page_url,
            referrer=referrer,
            ip_address=ip_address,
            user_agent=user_agent,
            created_at=now or datetime.now(UTC),
        )
    )
    return event_id


def count_events_since(conn: Connection, *, user_id: str, event_type: str, since: datetime) -> int:
    """How many ``event_type`` events ``user_id`` has had since ``since`` (index-backed)."""
    query = sa.select(sa.func.count()).where(
        user_analytics.c.user_id == user_id,
        user_analytics.c.created_at >= since,
        user_analytics.c.event_type == event_type,
    )
    return int(conn.execute(query).scalar_one())


def delete_event(conn: Connection, event_id: str) -> None:
    """Remove one event (undoing a server event whose action did not happen)."""
    conn.execute(user_analytics.delete().where(user_analytics.c.id == event_id))


def record_client_event(
    principal: Principal, body: EventCreate, *, ip_address: str | None, user_agent: str | None
) -> dict[str, Any] | None:
    """Store a client event with personal data stripped; returns what was stored, or None
    when the caller opted out of analytics (nothing is stored)."""
    now = datetime.now(UTC)
    data = strip_pii(body.event_data) if body.event_data is not None else None
    page_url = strip_url(body.page_url)
    referrer = strip_url(body.referrer)
    agent = clean_text(user_agent, USER_AGENT_LIMIT) if user_agent else None
    with get_database().transaction() as conn:
        if analytics_opted_out(conn, principal.user_id):
            return None
        event_id = insert_event(
            conn,
            event_type=body.event_type,
            user_id=principal.user_id,
            session_id=principal.session_id,
            event_data=data,
            page_url=page_url,
            referrer=referrer,
            ip_address=truncate_ip(ip_address),
            user_agent=agent or None,
            now=now,
        )
    return {
        "id": event_id,
        "event_type": body.event_type,
        "event_data": data,
        "page_url": page_url,
        "referrer": referrer,
        "created_at": now.isoformat(),
    }
