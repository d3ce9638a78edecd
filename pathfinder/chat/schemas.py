"""Request bodies and query strings of the chat routes."""

from __future__ import annotations

from pydantic import Field

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
    model: str | None = Field(default=None, min_length=1, max_length=100)


class ConversationListQuery(RequestModel):
    """Most recently active first; ``q`` searches titles (case-insensitive substring)."""

    q: str | None = Field(default=None, min_length=1, max_length=200)
    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=512)


class MessagesQuery(RequestModel):
    """A page of a conversation's messages, oldest first."""

    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=512)


class MessageCreate(RequestModel):
    """The user's message; the assistant's reply comes back with it."""

    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
