"""Password change, reset links (single use, even concurrently) and e-mail verification."""

from __future__ import annotations

import re
import threading

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import users
from pathfinder.schema.shared.messaging import outbox
from tests.conftest import DEFAULT_PASSWORD, AuthActions

NEW_PASSWORD = "a brand new passphrase"


def last_link_token(db: Database, recipient: str, template: str) -> str:
    with db.transaction() as conn:
        body = (
            conn.execute(
                sa.select(outbox.c.body)
                .where(outbox.c.recipient == recipient, outbox.c.template == template)
                .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
            )
            .scalars()
            .first()
        )
    assert body is not None
    match = re.search(r'(?:token=|"token": ")([A-Za-z0-9_\-]+)', body)
    assert match
    return match.group(1)


def test_change_password_ends_other_sessions(client: FlaskClient, auth: AuthActions) -> None:
    here = auth.register("alice")
    elsewhere = auth.login("alice")
    wrong = client.post(
        "/api/v1/auth/password/change",
        headers=auth.headers(here),
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 401
    weak = client.post(
        "/api/v1/auth/password/change",
        headers=auth.headers(here),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
    )
    assert weak.status_code == 422
    changed = client.post(
        "/api/v1/auth/password/change",
        headers=auth.headers(here),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    assert changed.get_json()["other_sessions_ended"] == 1
    assert client.get("/api/v1/me", headers=auth.headers(here)).status_code == 200
    assert client.get("/api/v1/me", headers=auth.headers(elsewhere)).status_code == 401
    auth.login("alice", NEW_PASSWORD)


def test_forgot_and_reset_password(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    tokens = auth.register("bob")
    unknown = client.post("/api/v1/auth/password/forgot", json={"email": "ghost@example.com"})
    known = client.post("/api/v1/auth/password/forgot", json={"email": "BOB@example.com"})
    assert unknown.status_code == known.status_code == 202
    assert unknown.get_json() == known.get_json()
    token = last_link_token(db, "bob@example.com", "password_reset")

    reset = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204
    assert client.get("/api/v1/me", headers=auth.headers(tokens)).status_code == 401
    again = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "yet another phrase"}
    )
    assert again.status_code == 401
    auth.login("bob", NEW_PASSWORD)


def test_reset_token_is_single_use_under_concurrency(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    auth.register("carol")
    with app.test_client() as client:
        client.post("/api/v1/auth/password/forgot", json={"email": "carol@example.com"})
    token = last_link_token(db, "carol@example.com", "password_reset")
    results: list[int] = []
    barrier = threading.Barrier(3)

    def use(password: str) -> None:
        with app.test_client() as own:
            barrier.wait()
            response = own.post(
                "/api/v1/auth/password/reset", json={"token": token, "new_password": password}
            )
            results.append(response.status_code)

    threads = [threading.Thread(target=use, args=(f"concurrent passphrase {i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [204, 401, 401]


def test_email_verification(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    tokens = auth.register("dave")
    sent = client.post("/api/v1/auth/email/verification", headers=auth.headers(tokens))
    assert sent.status_code == 202
    token = last_link_token(db, "dave@example.com", "email_verification")
    assert client.post("/api/v1/auth/email/verify", json={"token": "nope"}).status_code == 401
    assert client.post("/api/v1/auth/email/verify", json={"token": token}).status_code == 200
    with db.transaction() as conn:
        verified = conn.execute(
            sa.select(users.c.email_verified).where(users.c.username == "dave")
        ).scalar_one()
    assert verified is True
    again = client.post("/api/v1/auth/email/verification", headers=auth.headers(tokens))
    assert again.status_code == 200 and again.get_json()["sent"] is False


def test_a_reset_keeps_mfa_and_tells_the_owner(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    from tests.auth.test_flows import enrol_mfa

    enrol_mfa(client, auth.headers(auth.register("rita")))
    client.post("/api/v1/auth/password/forgot", json={"email": "rita@example.com"})
    token = last_link_token(db, "rita@example.com", "password_reset")
    reset = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204
    with db.transaction() as conn:
        notices = (
            conn.execute(
                sa.select(outbox.c.body).where(
                    outbox.c.recipient == "rita@example.com",
                    outbox.c.template == "password_reset_mfa_kept",
                )
            )
            .scalars()
            .all()
        )
    assert len(notices) == 1 and "recovery codes" in notices[0]
    challenge = client.post("/api/v1/auth/login", json={"login": "rita", "password": NEW_PASSWORD})
    assert challenge.get_json()["mfa_required"] is True
