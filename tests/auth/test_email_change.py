"""Changing the account's address: a link to the new one, a notice to the old one."""

from __future__ import annotations

from flask.testing import FlaskClient

from pathfinder.db import Database
from tests.admin import audit_events, link_token, mails, problem
from tests.conftest import DEFAULT_PASSWORD, AuthActions

CHANGE = "/api/v1/me/email"
CONFIRM = "/api/v1/auth/email/confirm"


def test_the_new_address_confirms_and_the_old_one_is_told(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("mover"))
    asked = client.post(
        CHANGE,
        headers=headers,
        json={"new_email": "Mover.New@Example.com", "password": DEFAULT_PASSWORD},
    )
    assert asked.status_code == 202, asked.get_json()
    assert asked.get_json()["pending_email"] == "Mover.New@Example.com"
    # Nothing changed yet; the old address was told, the new one got the link.
    assert client.get("/api/v1/me", headers=headers).get_json()["email"] == "mover@example.com"
    (notice,) = mails(db, "mover@example.com", "email_change_requested")
    assert "Mover.New@Example.com" in notice["body"] and "token" not in notice["body"]
    (link,) = mails(db, "Mover.New@Example.com", "email_change_confirm")
    token = link_token(link["body"], "confirm-email")

    confirmed = client.post(CONFIRM, json={"token": token})
    assert confirmed.status_code == 200, confirmed.get_json()
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["email"] == "Mover.New@Example.com" and me["email_verified"] is True
    assert mails(db, "mover@example.com", "email_changed")
    assert client.post(CONFIRM, json={"token": token}).status_code == 401  # once
    # The new address signs in; the old one no longer does.
    assert auth.login("mover.new@example.com")
    old = client.post(
        "/api/v1/auth/login", json={"login": "mover@example.com", "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 401
    actions = [r["details"]["action"] for r in audit_events(db, "user_updated")]
    assert actions == ["email_change_requested", "email_changed"]


def test_mistakes_are_refused_without_changing_anything(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("careful"))
    auth.register("holder")
    cases = [
        ({"new_email": "other@example.com", "password": "wrong password"}, 403),
        ({"new_email": "HOLDER@example.com", "password": DEFAULT_PASSWORD}, 409),
        ({"new_email": "careful@example.com", "password": DEFAULT_PASSWORD}, 409),
        ({"new_email": "not an address", "password": DEFAULT_PASSWORD}, 422),
    ]
    for body, status in cases:
        response = client.post(CHANGE, headers=headers, json=body)
        assert response.status_code == status, (body, response.get_json())
        assert response.mimetype == "application/problem+json"
    assert client.post(CONFIRM, json={"token": "nonsense"}).status_code == 401
    assert (
        client.post(CHANGE, json={"new_email": "x@example.com", "password": "p"}).status_code == 401
    )


def test_a_taken_address_or_a_password_change_stops_a_pending_change(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("racer"))
    body = {"new_email": "wanted@example.com", "password": DEFAULT_PASSWORD}
    assert client.post(CHANGE, headers=headers, json=body).status_code == 202
    first = link_token(mails(db, "wanted@example.com")[-1]["body"], "confirm-email")
    auth.register("sniper", email="wanted@example.com")
    taken = client.post(CONFIRM, json={"token": first})
    assert taken.status_code == 409 and problem(taken)["type"].endswith("email-taken")

    body = {"new_email": "elsewhere@example.com", "password": DEFAULT_PASSWORD}
    assert client.post(CHANGE, headers=headers, json=body).status_code == 202
    second = link_token(mails(db, "elsewhere@example.com")[-1]["body"], "confirm-email")
    changed = client.post(
        "/api/v1/auth/password/change",
        headers=headers,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "another long passphrase 42"},
    )
    assert changed.status_code == 200, changed.get_json()
    assert client.post(CONFIRM, json={"token": second}).status_code == 401
