"""The OpenAI-compatible provider against a real HTTP server on 127.0.0.1 (loopback only).

The server is ``http.server`` in a thread, started by the test: it records each request and
answers as told (a completion, an error, a slow answer, a redirect, garbage).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.chat.providers import OpenAICompatibleProvider
from pathfinder.db import Database
from pathfinder.schema.shared.analytics import user_analytics
from tests.analytics.career_data import overlapping_career
from tests.chat.helpers import BASE, ask, new_conversation, problem
from tests.conftest import AuthActions

API_KEY = "sk-test-4f9a1c"


@dataclass
class FakeModelServer:
    """What the fake server does next, and what it has seen."""

    mode: str = "ok"
    reply: str = "Focus on your Spark and Airflow work."
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


def _handler(state: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            return

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {"Content-Type": "application/json"}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            state.requests.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            if state.mode == "error":
                self._send(500, b'{"error": {"message": "upstream exploded, key sk-test-4f9a1c"}}')
            elif state.mode == "slow":
                state.release.wait(5)
                self._send(200, b"{}")
            elif state.mode == "garbage":
                self._send(200, b"<html>not json</html>", {"Content-Type": "text/html"})
            elif state.mode == "redirect":
                self._send(307, b"", {"Location": f"{state.url}/elsewhere"})
            else:
                body = {
                    "id": "chatcmpl-1",
                    "model": "test-model-2026",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": state.reply}}
                    ],
                    "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
                }
                self._send(200, json.dumps(body).encode())

    return Handler


@pytest.fixture
def model_server() -> Iterator[FakeModelServer]:
    state = FakeModelServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def use_server(app: Flask, server: FakeModelServer, **overrides: Any) -> None:
    app.config.update(
        CHAT_PROVIDER="openai",
        CHAT_PROVIDER_URL=f"{server.url}/v1",
        CHAT_PROVIDER_MODEL="test-model",
        CHAT_PROVIDER_MODELS="test-model-large",
        CHAT_PROVIDER_API_KEY=API_KEY,
        **overrides,
    )


def test_openai_compatible_exchange(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database, model_server: FakeModelServer
) -> None:
    use_server(app, model_server)
    headers = auth.headers(auth.register("alice"))
    overlapping_career(db, "alice")
    refused = client.post(BASE, headers=headers, json={"model": "pathfinder-offline"})
    assert refused.status_code == 422
    assert "test-model, test-model-large" in problem(refused)["errors"][0]["message"]
    conversation = new_conversation(
        client,
        headers,
        title="Next move",
        context="Aiming for a principal role",
        model="test-model-large",
    )
    cid = conversation["id"]

    sent = ask(client, headers, cid, "What should I highlight?")
    assert sent.status_code == 201, sent.get_json()
    body = sent.get_json()
    assert body["assistant_message"]["content"] == "Focus on your Spark and Airflow work."
    assert body["usage"] == {
        "prompt_tokens": 42,
        "completion_tokens": 7,
        "total_tokens": 49,
        "model": "test-model-2026",
    }
    assert body["conversation"]["total_tokens"] == 49

    (request,) = model_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {API_KEY}"
    payload = request["body"]
    assert payload["model"] == "test-model-large"
    system, user = payload["messages"]
    assert system["role"] == "system"
    assert "Data Engineer at Beta Analytics, 2018-06-01 to 2021-05-31" in system["content"]
    assert "Aiming for a principal role" in system["content"]
    assert "Total experience: 9 years" in system["content"]
    assert user == {"role": "user", "content": "What should I highlight?"}

    model_server.reply = "Lead with the platform migration."
    assert ask(client, headers, cid, "And after that?").status_code == 201
    history = model_server.requests[1]["body"]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[2]["content"] == "Focus on your Spark and Airflow work."

    with db.tenant_transaction("alice") as (conn, tables):
        messages = tables.chat_messages
        rows = conn.execute(
            sa.select(
                messages.c.role, messages.c.tokens_used, messages.c.model, messages.c.content
            ).order_by(messages.c.created_at)
        ).all()
    assert [(r.role, r.tokens_used, r.model) for r in rows] == [
        ("user", 42, None),
        ("assistant", 7, "test-model-2026"),
        ("user", 42, None),
        ("assistant", 7, "test-model-2026"),
    ]
    assert all(r.content.startswith("pf2.") and "Spark" not in r.content for r in rows)


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("error", "answered HTTP 500"),
        ("garbage", "could not read"),
        ("redirect", "answered HTTP 307"),
        ("slow", "did not answer within 0.5 seconds"),
    ],
)
def test_provider_failures_are_502_and_not_counted(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    db: Database,
    model_server: FakeModelServer,
    mode: str,
    detail: str,
) -> None:
    # Only the slow case waits for the timeout; the others get a generous one, so a loaded
    # machine cannot turn their answer into a timeout.
    timeout = 0.5 if mode == "slow" else 10
    use_server(app, model_server, CHAT_PROVIDER_TIMEOUT_SECONDS=timeout)
    headers = auth.headers(auth.register("alice"))
    cid = new_conversation(client, headers)["id"]
    model_server.mode = mode
    response = ask(client, headers, cid, "hello?")
    assert response.status_code == 502
    body = problem(response)
    assert body["type"].endswith("chat-provider-error")
    assert detail in body["detail"]
    assert API_KEY not in response.get_data(as_text=True)
    # The redirect was not followed, so the key went nowhere else.
    assert [r["path"] for r in model_server.requests] == ["/v1/chat/completions"]
    # The failed attempt left no message and did not spend the daily quota.
    conversation = client.get(f"{BASE}/{cid}", headers=headers).get_json()
    assert conversation["messages"]["items"] == [] and conversation["message_count"] == 0
    with db.transaction() as conn:
        spent = conn.execute(
            sa.select(sa.func.count()).where(user_analytics.c.event_type == "chat_message_sent")
        ).scalar_one()
    assert spent == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"CHAT_PROVIDER": "openai"},
        {"CHAT_PROVIDER": "openai", "CHAT_PROVIDER_URL": "http://example.com/v1"},
        {"CHAT_PROVIDER": "openai", "CHAT_PROVIDER_URL": "ftp://127.0.0.1/v1"},
        {"CHAT_PROVIDER": "telepathy"},
    ],
)
def test_misconfigured_provider_is_503(
    app: Flask, client: FlaskClient, auth: AuthActions, settings: dict[str, str]
) -> None:
    headers = auth.headers(auth.register("alice"))
    cid = new_conversation(client, headers)["id"]
    app.config.update({"CHAT_PROVIDER_MODEL": "m", "CHAT_PROVIDER_URL": None, **settings})
    for response in (
        ask(client, headers, cid, "hi"),
        client.post(BASE, headers=headers, json={"title": "t"}),
    ):
        assert response.status_code == 503
        assert problem(response)["type"].endswith("chat-unavailable")
    # Reading and deleting existing conversations does not need the provider.
    assert client.get(f"{BASE}/{cid}", headers=headers).status_code == 200


def test_provider_never_shows_its_key() -> None:
    provider = OpenAICompatibleProvider(
        url="https://models.example.org/v1/", api_key=API_KEY, model="m"
    )
    assert provider.endpoint == "https://models.example.org/v1/chat/completions"
    assert API_KEY not in repr(provider) and API_KEY not in str(vars(provider).get("endpoint"))
