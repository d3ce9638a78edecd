"""Response bodies of the chat routes, as the contract declares them.

They mirror :func:`pathfinder.chat.service.serialise_conversation`,
:func:`~pathfinder.chat.service.serialise_message` and what ``send_message`` answers; with
``CHECK_CONTRACTS`` on, the chat tests fail when the two drift apart, and the OpenAPI
document is generated from these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from pathfinder.api.contract import Page, ResponseModel, SealedItem


class ChatConversation(ResponseModel):
    """A conversation in a list; its ``context`` is shown only where it is opened."""

    id: str
    title: str
    model: str | None = Field(
        description="The model the assistant answers with; `null` means the provider's default."
    )
    message_count: int = Field(description="Messages stored, the user's and the assistant's.")
    total_tokens: int = Field(description="Tokens spent on the conversation so far.")
    last_message_at: datetime | None = Field(description="`null` until the first message.")
    created_at: datetime
    updated_at: datetime


class ChatConversationOpened(ChatConversation, SealedItem):
    """A conversation with its decrypted ``context`` (as created, or as read)."""

    context: str | None = Field(description="Background given to the assistant, if any.")


class ChatMessage(SealedItem):
    id: str
    conversation_id: str
    role: Literal["user", "assistant", "system"]
    content: str | None = Field(
        description="Null only when it did not decrypt (see `unreadable_fields`)."
    )
    tokens_used: int = Field(
        description="A user message: the prompt tokens spent answering it; a reply: its "
        "completion tokens."
    )
    model: str | None = Field(description="The model that wrote a reply; `null` for the user's.")
    created_at: datetime


class ChatConversationPage(Page[ChatConversation]):
    limit: int


class ChatMessagePage(Page[ChatMessage]):
    limit: int


class ChatConversationDetail(ChatConversationOpened):
    """One conversation with a page of its messages, oldest first."""

    messages: ChatMessagePage


class ChatUsage(ResponseModel):
    """Token usage of one exchange, as the provider reported (or the offline one estimated)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    model: str


class ChatDailyLimit(ResponseModel):
    """The caller's chat quota for the current UTC day, this message included."""

    limit: int
    used: int
    remaining: int


class ChatExchange(ResponseModel):
    """A sent message with the assistant's reply, the usage and the day's quota."""

    conversation: ChatConversation | None = Field(
        description="The conversation's counters after the exchange."
    )
    user_message: ChatMessage
    assistant_message: ChatMessage
    usage: ChatUsage
    daily_limit: ChatDailyLimit
