"""``Idempotency-Key``: a retried create returns the first answer and creates nothing more."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import idempotency_keys
from tests.career.helpers import EXPERIENCES, experience
from tests.conftest import AuthActions
from tests.live import live_server, prepare_database


def _count_experiences(db: Database, username: str) -> int:
    with db.tenant_transaction(username) as (conn, tables):
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(tables.experiences)).scalar()
        )


def test_a_retry_with_the_same_key_returns_the_first_answer(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    key = str(uuid.uuid4())
    first = client.post(EXPERIENCES, headers={**headers, "Idempotency-Key": key}, json=experience())
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post(EXPERIENCES, headers={**headers, "Idempotency-Key": key}, json=experience())
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers.get("Location") == first.headers.get("Location")
    assert _count_experiences(db, "alice") == 1

    # The kept answer holds the user's data: it is sealed at rest, like every such cell.
    with db.transaction() as conn:
        stored = conn.execute(sa.select(idempotency_keys.c.response_body)).scalar_one()
    assert stored.startswith("pf2.") and "Python" not in stored

    # Another key creates another experience.
    other = client.post(
        EXPERIENCES, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, json=experience()
    )
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    assert _count_experiences(db, "alice") == 2


def test_the_same_key_with_another_request_is_refused(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = {**auth.headers(auth.register("alice")), "Idempotency-Key": "k-1"}
    assert client.post(EXPERIENCES, headers=headers, json=experience()).status_code == 201
    changed = client.post(EXPERIENCES, headers=headers, json=experience(title="Other"))
    assert changed.status_code == 422
    body = changed.get_json()
    assert body["type"].endswith("idempotency-key-reused")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert _count_experiences(db, "alice") == 1


def test_keys_are_per_user_and_a_failure_keeps_nothing(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    alice = {**auth.headers(auth.register("alice")), "Idempotency-Key": "shared"}
    bob = {**auth.headers(auth.register("bob")), "Idempotency-Key": "shared"}
    invalid = client.post(EXPERIENCES, headers=alice, json=experience(title=""))
    assert invalid.status_code == 422
    # The failed request kept nothing, so the corrected one may use the same key.
    assert client.post(EXPERIENCES, headers=alice, json=experience()).status_code == 201
    # Bob's identical key and body are his own: no replay of alice's answer.
    answer = client.post(EXPERIENCES, headers=bob, json=experience())
    assert answer.status_code == 201 and "Idempotent-Replayed" not in answer.headers
    assert _count_experiences(db, "alice") == 1 and _count_experiences(db, "bob") == 1


def test_a_malformed_key_is_a_400_and_credentials_are_never_kept(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    bad = client.post(
        EXPERIENCES, headers={**headers, "Idempotency-Key": "é" * 3}, json=experience()
    )
    assert bad.status_code == 400 and bad.get_json()["type"].endswith("idempotency-key-invalid")
    too_long = client.post(
        EXPERIENCES, headers={**headers, "Idempotency-Key": "x" * 256}, json=experience()
    )
    assert too_long.status_code == 400
    # Registration answers tokens: the header is not honoured there, and nothing is stored.
    body = {"username": "carol", "email": "carol@example.com", "password": "a long passphrase 1"}
    assert (
        client.post(
            "/api/v1/auth/register", headers={"Idempotency-Key": "r"}, json=body
        ).status_code
        == 201
    )
    with db.transaction() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(idempotency_keys)).scalar() == 0


def test_the_header_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    create = document["paths"]["/api/v1/me/experiences"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create.get("parameters", []))
    assert "409" in create["responses"]
    register = document["paths"]["/api/v1/auth/register"]["post"]
    assert not any(p["name"] == "Idempotency-Key" for p in register.get("parameters", []))


def test_concurrent_retries_through_gunicorn_create_once(database_url: str, tmp_path: Path) -> None:
    """Eight copies of one request at once, across workers: one runs, the rest wait or replay."""
    instance = tmp_path / "instance"
    prepare_database(database_url, instance)
    with live_server(database_url, instance, {"RATELIMIT_REGISTER": "1000 per minute"}) as server:
        status, tokens = server.call(
            "POST",
            "/auth/register",
            {"username": "racer", "email": "racer@example.com", "password": "a long passphrase 1"},
        )
        assert status == 201, tokens
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Idempotency-Key": "once"}
        start = threading.Barrier(8)
        results: list[tuple[int, Any]] = []

        def post() -> None:
            start.wait(30)
            results.append(server.call("POST", "/me/experiences", experience(), headers=headers))

        threads = [threading.Thread(target=post) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        # Whoever got a 409 retries, as a client would, until the answer is there.
        final = server.call("POST", "/me/experiences", experience(), headers=headers)
        listed = server.call("GET", "/me/experiences", None, headers=headers)
    statuses = sorted(s for s, _ in results)
    assert set(statuses) <= {201, 409} and statuses.count(201) >= 1, statuses
    ids = {body["id"] for s, body in results if s == 201}
    assert len(ids) == 1 and final[0] == 201 and final[1]["id"] in ids
    assert len(listed[1]["items"]) == 1
