"""Chat rules: the caller's conversations, and one exchange with the assistant per message.

Sending a message is three steps, so that no database transaction stays open while a
remote model thinks (it may take many seconds):

1. One transaction: lock the caller's account row (so two messages sent at once cannot
   both take the last of the day's quota), check the daily limit, store the user's message
   (content encrypted) and a ``chat_message_sent`` usage event, and read what the assistant
   needs: recent history, the conversation's context and a profile snapshot.
2. Ask the provider, outside any transaction.
3. One transaction: store the assistant's reply (encrypted), the token usage on both
   messages and the conversation's counters, and the audit row.

If the provider fails, the user's message and its usage event are removed again (the
attempt does not count against the limit) and the client gets a 502 it can retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from flask import current_app
from sqlalchemy.engine import RowMapping

from pathfinder import audit
from pathfinder.analytics.cursor import decode_cursor, encode_cursor
from pathfinder.analytics.events import count_events_since, delete_event, insert_event
from pathfinder.analytics.service import caller_tables
from pathfinder.api.errors import NotFound, Problem, ServiceUnavailable, TooManyRequests
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth import repo as auth_repo
from pathfinder.auth.principal import Principal
from pathfinder.chat import repo
from pathfinder.chat.limits import daily_message_limit, seconds_until_next_day, utc_day_start
from pathfinder.chat.profile import load_profile
from pathfinder.chat.providers import (
    CHAT_DEFAULTS,
    ChatCompletion,
    ChatNotConfigured,
    ChatProvider,
    ChatProviderError,
    ChatRequest,
    ChatTurn,
    provider_from_config,
)
from pathfinder.chat.schemas import (
    ConversationCreate,
    ConversationListQuery,
    MessageCreate,
    MessagesQuery,
)
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.preferences import analytics_opted_out
from pathfinder.security.fields import FIRST_ROW_VERSION, field_cipher, unreadable_fields

CHAT_EVENT = "chat_message_sent"


def provider() -> ChatProvider:
    """The configured provider; a configuration mistake is a 503, not a 500."""
    try:
        return provider_from_config(current_app.config)
    except ChatNotConfigured as exc:
        current_app.logger.error("chat provider misconfigured: %s", exc)
        raise ServiceUnavailable(
            "The assistant is not available right now.", slug="chat-unavailable"
        ) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def serialise_conversation(row: RowMapping | dict[str, Any], context: Any = ...) -> dict[str, Any]:
    """A conversation as the API shows it; ``context`` only where it was opened."""
    out = {
        "id": row["id"],
        "title": row["title"],
        "model": row["model"],
        "message_count": int(row["message_count"]),
        "total_tokens": int(row["total_tokens"]),
        "last_message_at": _iso(row["last_message_at"]),
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }
    if context is not ...:
        out["context"] = context
        out.update(unreadable_fields(row))
    return out


def serialise_message(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "role": row["role"],
        "content": row["content"],
        "tokens_used": int(row["tokens_used"]),
        "model": row["model"],
        "created_at": _iso(row["created_at"]),
        **unreadable_fields(row),
    }


def _keyset(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    at, row_id = decode_cursor(cursor, 2)
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationProblem(
            "One or more query parameters are invalid.",
            errors=[{"field": "cursor", "message": "not a cursor returned by this endpoint"}],
        )
    return moment, str(row_id)


def create_conversation(principal: Principal, body: ConversationCreate) -> dict[str, Any]:
    """Start a conversation; ``model`` must be one the configured provider offers."""
    chosen = provider()
    if body.model is not None and body.model not in chosen.models():
        raise ValidationProblem(
            "One or more fields are invalid.",
            errors=[
                {
                    "field": "model",
                    "message": "not an available model; choose one of "
                    + ", ".join(chosen.models()),
                }
            ],
        )
    now = datetime.now(UTC)
    row = {
        "id": new_id(),
        "title": body.title,
        "context": body.context,
        "model": body.model or chosen.default_model,
        "message_count": 0,
        "total_tokens": 0,
        "last_message_at": None,
        "created_at": now,
        "updated_at": now,
        "row_version": FIRST_ROW_VERSION,
    }
    with caller_tables(principal) as (conn, tables):
        sealed = field_cipher(conn).seal_row("chat_conversations", row, user_id=principal.user_id)
        repo.insert_conversation(conn, tables, sealed)
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="chat_conversation",
            target_id=row["id"],
        )
    return serialise_conversation(row, body.context)


def list_conversations(principal: Principal, query: ConversationListQuery) -> dict[str, Any]:
    """A page of my conversations, most recently active first, optionally by title."""
    with caller_tables(principal) as (conn, tables):
        rows = repo.list_conversations(
            conn,
            tables,
            title_contains=query.q,
            limit=query.limit + 1,
            after=_keyset(query.cursor),
        )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(rows[-1]["active_at"].isoformat(), rows[-1]["id"]) if more else None
    return {
        "items": [serialise_conversation(r) for r in rows],
        "next_cursor": next_cursor,
        "limit": query.limit,
    }


def require_conversation(principal: Principal, conversation_id: str) -> None:
    """404 unless the caller has this conversation (checked before a body is parsed)."""
    with caller_tables(principal) as (conn, tables):
        if repo.get_conversation(conn, tables, conversation_id) is None:
            raise NotFound("No such conversation.")


def get_conversation(
    principal: Principal, conversation_id: str, query: MessagesQuery
) -> dict[str, Any]:
    """One of my conversations with a page of its messages (oldest first), decrypted."""
    with caller_tables(principal) as (conn, tables):
        row = repo.get_conversation(conn, tables, conversation_id)
        if row is None:
            raise NotFound("No such conversation.")
        cipher = field_cipher(conn)
        opened = cipher.open_row(
            "chat_conversations", row, user_id=principal.user_id, tolerant=True
        )
        messages = repo.list_messages(
            conn, tables, conversation_id, limit=query.limit + 1, after=_keyset(query.cursor)
        )
        more = len(messages) > query.limit
        messages = messages[: query.limit]
        items = cipher.open_rows(
            "chat_messages", messages, user_id=principal.user_id, tolerant=True
        )
    next_cursor = (
        encode_cursor(items[-1]["created_at"].isoformat(), items[-1]["id"]) if more else None
    )
    out = serialise_conversation(opened, opened["context"])
    out["messages"] = {
        "items": [serialise_message(m) for m in items],
        "next_cursor": next_cursor,
        "limit": query.limit,
    }
    return out


def delete_conversation(principal: Principal, conversation_id: str) -> None:
    """Delete one of my conversations and all its messages."""
    with caller_tables(principal) as (conn, tables):
        if not repo.delete_conversation(conn, tables, conversation_id):
            raise NotFound("No such conversation.")
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="chat_conversation",
            target_id=conversation_id,
        )


def _history_size() -> int:
    value = current_app.config.get("CHAT_HISTORY_MESSAGES", CHAT_DEFAULTS["CHAT_HISTORY_MESSAGES"])
    try:
        return max(0, min(int(value), 200))
    except (TypeError, ValueError):
        return int(CHAT_DEFAULTS["CHAT_HISTORY_MESSAGES"])


def _refuse_over_limit(principal: Principal, limit: int, used: int, now: datetime) -> NoReturn:
    retry_after = seconds_until_next_day(now)
    with get_database().transaction() as conn:
        audit.record(
            conn,
            "excess_rate_limit_exceeded",
            actor=principal,
            outcome="failure",
            target_type="chat",
            details={"limit": limit, "used": used, "flag": "chat_daily_message_limit"},
        )
    raise TooManyRequests(
        f"You have sent {used} of your {limit} chat messages today (UTC); "
        f"try again in {retry_after} seconds.",
        slug="chat-daily-limit",
        title="Daily chat limit reached",
        headers={"Retry-After": str(retry_after)},
        limit=limit,
        used=used,
        retry_after=retry_after,
    )


@dataclass(frozen=True)
class _Exchange:
    """What step 1 of sending a message read and wrote (see the module docstring)."""

    request: ChatRequest
    user_message: dict[str, Any]
    event_id: str
    limit: int
    used: int


def _start_exchange(
    principal: Principal, chosen: ChatProvider, conversation_id: str, content: str
) -> _Exchange:
    """Step 1: quota check, user message and usage event stored, provider input read."""
    now = datetime.now(UTC)
    user_message = {
        "id": new_id(),
        "conversation_id": conversation_id,
        "role": "user",
        "content": content,
        "tokens_used": 0,
        "model": None,
        "created_at": now,
        "row_version": FIRST_ROW_VERSION,
    }
    exchange: _Exchange | None = None
    with caller_tables(principal) as (conn, tables):
        auth_repo.get_user_for_update(conn, principal.user_id)
        conversation = repo.get_conversation(conn, tables, conversation_id, for_update=True)
        if conversation is None:
            raise NotFound("No such conversation.")
        limit = daily_message_limit(conn, now)
        used = count_events_since(
            conn, user_id=principal.user_id, event_type=CHAT_EVENT, since=utc_day_start(now)
        )
        if used < limit:
            cipher = field_cipher(conn)
            # A turn that does not open is left out of what the assistant sees (and audited);
            # the conversation goes on.
            history = cipher.open_rows(
                "chat_messages",
                repo.recent_messages(conn, tables, conversation_id, _history_size()),
                user_id=principal.user_id,
                tolerant=True,
            )
            history = [m for m in history if m["content"] is not None]
            opened = cipher.open_row(
                "chat_conversations", conversation, user_id=principal.user_id, tolerant=True
            )
            model = conversation["model"]
            request = ChatRequest(
                turns=tuple(ChatTurn(m["role"], m["content"]) for m in history)
                + (ChatTurn("user", content),),
                model=model if model in chosen.models() else chosen.default_model,
                context=opened["context"],
                profile=load_profile(conn, tables, now.date()),
            )
            repo.insert_message(
                conn,
                tables,
                cipher.seal_row("chat_messages", user_message, user_id=principal.user_id),
            )
            # Metering for the daily limit, kept under an analytics opt-out without its data.
            opted_out = analytics_opted_out(conn, principal.user_id)
            event_id = insert_event(
                conn,
                event_type=CHAT_EVENT,
                user_id=principal.user_id,
                session_id=None if opted_out else principal.session_id,
                event_data=None if opted_out else {"conversation_id": conversation_id},
                now=now,
            )
            exchange = _Exchange(request, user_message, event_id, limit, used + 1)
    if exchange is None:
        # Refused after the transaction ended, so the refusal's audit row is not rolled back.
        _refuse_over_limit(principal, limit, used, now)
    return exchange


def send_message(principal: Principal, conversation_id: str, body: MessageCreate) -> dict[str, Any]:
    """Store my message, get the assistant's reply, store it; both come back with usage."""
    chosen = provider()
    exchange = _start_exchange(principal, chosen, conversation_id, body.content)
    try:
        completion = chosen.complete(exchange.request)
    except ChatProviderError as exc:
        _undo_user_message(principal, exchange.user_message["id"], exchange.event_id)
        raise Problem(
            str(exc),
            status=502,
            slug="chat-provider-error",
            title="The assistant could not answer",
        ) from None
    except Exception:
        _undo_user_message(principal, exchange.user_message["id"], exchange.event_id)
        raise
    return _store_reply(
        principal, conversation_id, exchange.user_message, completion, exchange.limit, exchange.used
    )


def _undo_user_message(principal: Principal, message_id: str, event_id: str) -> None:
    with caller_tables(principal) as (conn, tables):
        repo.delete_message(conn, tables, message_id)
        delete_event(conn, event_id)


def _store_reply(
    principal: Principal,
    conversation_id: str,
    user_message: dict[str, Any],
    completion: ChatCompletion,
    limit: int,
    used: int,
) -> dict[str, Any]:
    # Strictly after the user's message, so (created_at, id) order is the conversation's.
    at = max(datetime.now(UTC), user_message["created_at"] + timedelta(microseconds=1))
    reply = {
        "id": new_id(),
        "conversation_id": conversation_id,
        "role": "assistant",
        "content": completion.content,
        "tokens_used": completion.completion_tokens,
        "model": completion.model[:100],
        "created_at": at,
        "row_version": FIRST_ROW_VERSION,
    }
    with caller_tables(principal) as (conn, tables):
        if repo.get_conversation(conn, tables, conversation_id, for_update=True) is None:
            raise NotFound("The conversation was deleted while the assistant was answering.")
        repo.insert_message(
            conn,
            tables,
            field_cipher(conn).seal_row("chat_messages", reply, user_id=principal.user_id),
        )
        repo.set_message_tokens(conn, tables, user_message["id"], completion.prompt_tokens)
        repo.record_exchange(
            conn, tables, conversation_id, messages=2, tokens=completion.total_tokens, at=at
        )
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="chat_message",
            target_id=reply["id"],
            details={
                "conversation_id": conversation_id,
                "user_message_id": user_message["id"],
                "model": reply["model"],
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
        )
        conversation = repo.get_conversation(conn, tables, conversation_id)
    user_message = {**user_message, "tokens_used": completion.prompt_tokens}
    return {
        "conversation": serialise_conversation(conversation) if conversation else None,
        "user_message": serialise_message(user_message),
        "assistant_message": serialise_message(reply),
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.total_tokens,
            "model": reply["model"],
        },
        "daily_limit": {"limit": limit, "used": used, "remaining": max(0, limit - used)},
    }
