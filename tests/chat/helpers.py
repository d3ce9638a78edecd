"""Helpers for the chat tests: calls through the HTTP API, and the daily-limit flag."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.flags import feature_flags

BASE = "/api/v1/me/chat/conversations"


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def new_conversation(client: FlaskClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(BASE, headers=headers, json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def ask(client: FlaskClient, headers: dict[str, str], conversation_id: str, text: str) -> Any:
    return client.post(
        f"{BASE}/{conversation_id}/messages", headers=headers, json={"content": text}
    )


def reply_to(client: FlaskClient, headers: dict[str, str], conversation_id: str, text: str) -> str:
    response = ask(client, headers, conversation_id, text)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["assistant_message"]["content"])


def set_daily_limit(db: Database, value: Any, *, enabled: bool = True) -> None:
    with db.transaction() as conn:
        conn.execute(
            feature_flags.update()
            .where(feature_flags.c.flag_key == "chat_daily_message_limit")
            .values(default_value=value, enabled=enabled)
        )
