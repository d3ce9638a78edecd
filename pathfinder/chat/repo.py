"""Data access for a user's ``chat_conversations`` and ``chat_messages`` tables.

Rows come back as stored: ``chat_conversations.context`` and ``chat_messages.content``
are encrypted tokens, which the service opens with the field cipher.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.schema.tenant import TenantTables
from pathfinder.schema.types import UtcDateTime


def _activity(tables: TenantTables) -> sa.ColumnElement[Any]:
    """When a conversation was last active: its last message, else its creation."""
    c = tables.chat_conversations.c
    return sa.func.coalesce(c.last_message_at, c.created_at, type_=UtcDateTime())


def insert_conversation(conn: Connection, tables: TenantTables, values: dict[str, Any]) -> None:
    conn.execute(tables.chat_conversations.insert().values(**values))


def get_conversation(
    conn: Connection, tables: TenantTables, conversation_id: str, *, for_update: bool = False
) -> RowMapping | None:
    t = tables.chat_conversations
    query = sa.select(t, _activity(tables).label("active_at")).where(t.c.id == conversation_id)
    if for_update:
        query = query.with_for_update(of=t)
    return conn.execute(query).mappings().first()


def list_conversations(
    conn: Connection,
    tables: TenantTables,
    *,
    title_contains: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[RowMapping]:
    """Most recently active first (ties by id); ``limit`` rows after the keyset ``after``."""
    t = tables.chat_conversations
    active = _activity(tables)
    query = sa.select(
        t.c.id,
        t.c.title,
        t.c.model,
        t.c.message_count,
        t.c.total_tokens,
        t.c.last_message_at,
        t.c.created_at,
        t.c.updated_at,
        active.label("active_at"),
    )
    if title_contains:
        # Wildcards in the search text are matched literally.
        query = query.where(t.c.title.icontains(title_contains, autoescape=True))
    if after is not None:
        at, row_id = after
        query = query.where(sa.or_(active < at, sa.and_(active == at, t.c.id < row_id)))
    query = query.order_by(active.desc(), t.c.id.desc()).limit(limit)
    return list(conn.execute(query).mappings())


def delete_conversation(conn: Connection, tables: TenantTables, conversation_id: str) -> bool:
    """Delete a conversation and its messages; False when there was none."""
    messages = tables.chat_messages
    conn.execute(messages.delete().where(messages.c.conversation_id == conversation_id))
    t = tables.chat_conversations
    return conn.execute(t.delete().where(t.c.id == conversation_id)).rowcount > 0


def record_exchange(
    conn: Connection,
    tables: TenantTables,
    conversation_id: str,
    *,
    messages: int,
    tokens: int,
    at: datetime,
) -> None:
    """Add an exchange's messages and tokens to the conversation's counters, atomically."""
    t = tables.chat_conversations
    conn.execute(
        t.update()
        .where(t.c.id == conversation_id)
        .values(
            message_count=t.c.message_count + messages,
            total_tokens=t.c.total_tokens + tokens,
            last_message_at=at,
            updated_at=at,
        )
    )


def insert_message(conn: Connection, tables: TenantTables, values: dict[str, Any]) -> None:
    conn.execute(tables.chat_messages.insert().values(**values))


def set_message_tokens(
    conn: Connection, tables: TenantTables, message_id: str, tokens_used: int
) -> None:
    t = tables.chat_messages
    conn.execute(t.update().where(t.c.id == message_id).values(tokens_used=tokens_used))


def delete_message(conn: Connection, tables: TenantTables, message_id: str) -> None:
    t = tables.chat_messages
    conn.execute(t.delete().where(t.c.id == message_id))


def list_messages(
    conn: Connection,
    tables: TenantTables,
    conversation_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[RowMapping]:
    """A conversation's messages oldest first, ``limit`` rows after the keyset ``after``."""
    t = tables.chat_messages
    query = sa.select(t).where(t.c.conversation_id == conversation_id)
    if after is not None:
        at, row_id = after
        query = query.where(
            sa.or_(t.c.created_at > at, sa.and_(t.c.created_at == at, t.c.id > row_id))
        )
    query = query.order_by(t.c.created_at, t.c.id).limit(limit)
    return list(conn.execute(query).mappings())


def recent_messages(
    conn: Connection, tables: TenantTables, conversation_id: str, count: int
) -> list[RowMapping]:
    """The newest ``count`` messages of a conversation, oldest first (provider history)."""
    t = tables.chat_messages
    query = (
        sa.select(t)
        .where(t.c.conversation_id == conversation_id)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(count)
    )
    rows = list(conn.execute(query).mappings())
    rows.reverse()
    return rows
