"""Request bodies and query strings of the chat routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pathfinder.api.contract import app_enum
from pathfinder.api.pagination import CURSOR_RULE, Cursor
from pathfinder.api.validation import RequestModel

MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_MESSAGE_CHARS = 8_000
MAX_CONTEXT_CHARS = 4_000
DEFAULT_TITLE = "New conversation"


class ConversationCreate(RequestModel):
    """A new conversation. ``context`` (encrypted at rest) is given to the assistant."""

    title: str = Field(default=DEFAULT_TITLE, min_length=1, max_length=200)
    context: str | None = Field(default=None, max_length=MAX_CONTEXT_CHARS)
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="One of the models the configured provider offers; null: its default.",
        json_schema_extra=app_enum("chat_models", lambda app: _models_of(app)),
    )


def _models_of(app: Any) -> tuple[str, ...]:
    """The models a conversation may ask for on ``app`` (none when chat is misconfigured)."""
    from pathfinder.chat.providers import ChatProviderError, provider_from_config

    try:
        return provider_from_config(app.config).models()
    except ChatProviderError:
        return ()


class ConversationListQuery(RequestModel):
    """Most recently active first; ``q`` searches titles (case-insensitive substring)."""

    rules = (CURSOR_RULE,)

    q: str | None = Field(default=None, min_length=1, max_length=200)
    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: Cursor | None = None


class MessagesQuery(RequestModel):
    """A page of a conversation's messages, oldest first."""

    rules = (CURSOR_RULE,)

    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: Cursor | None = None


class MessageCreate(RequestModel):
    """The user's message; the assistant's reply comes back with it."""

    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
