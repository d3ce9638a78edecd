"""``/api/v1/me/chat/...``: parse, authorise, call the service, serialise. Nothing else."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.chat import service
from pathfinder.chat.responses import (
    ChatConversationDetail,
    ChatConversationOpened,
    ChatConversationPage,
    ChatExchange,
)
from pathfinder.chat.schemas import (
    ConversationCreate,
    ConversationListQuery,
    MessageCreate,
    MessagesQuery,
)

bp = Blueprint("chat", __name__)


@bp.post("/me/chat/conversations")
@requires("user")
@contract(
    body=ConversationCreate,
    responses={201: ChatConversationOpened},
    tags=("chat",),
    body_required=False,
    links={"conversation_id": "/id"},
)
def create_conversation() -> ResponseReturnValue:
    """Start a conversation (title, optional context and model)."""
    body = parse_body(ConversationCreate)
    return jsonify(service.create_conversation(caller(), body)), 201


@bp.get("/me/chat/conversations")
@requires("user")
@contract(query=ConversationListQuery, responses={200: ChatConversationPage}, tags=("chat",))
def list_conversations() -> ResponseReturnValue:
    """My conversations, most recently active first; `q` searches titles."""
    query = parse_query(ConversationListQuery)
    return jsonify(service.list_conversations(caller(), query)), 200


@bp.get("/me/chat/conversations/<id:conversation_id>")
@requires("user")
@contract(query=MessagesQuery, responses={200: ChatConversationDetail}, tags=("chat",))
def get_conversation(conversation_id: str) -> ResponseReturnValue:
    """One of my conversations with a page of its messages, oldest first."""
    query = parse_query(MessagesQuery)
    return jsonify(service.get_conversation(caller(), conversation_id, query)), 200


@bp.delete("/me/chat/conversations/<id:conversation_id>")
@requires("user")
@contract(responses={204: None}, tags=("chat",))
def delete_conversation(conversation_id: str) -> ResponseReturnValue:
    """Delete one of my conversations with its messages."""
    service.delete_conversation(caller(), conversation_id)
    return "", 204


@bp.post("/me/chat/conversations/<id:conversation_id>/messages")
@requires("user")
@contract(body=MessageCreate, responses={201: ChatExchange}, tags=("chat",))
def send_message(conversation_id: str) -> ResponseReturnValue:
    """Send a message; the answer holds it, the assistant's reply and the token usage."""
    principal = caller()
    # Someone else's (or no) conversation is 404 whatever the body holds.
    service.require_conversation(principal, conversation_id)
    body = parse_body(MessageCreate)
    return jsonify(service.send_message(principal, conversation_id, body)), 201
