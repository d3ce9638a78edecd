"""``/me`` and ``/me/preferences``: validation, and encryption of personal fields at rest."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import users
from tests.admin import admin
from tests.conftest import AuthActions


def test_profile_read_and_update(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    tokens = auth.register("alice")
    headers = auth.headers(tokens)
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["username"] == "alice" and me["role"] == "user"
    assert "password_hash" not in me and "mfa_secret" not in me

    changed = client.patch(
        "/api/v1/me",
        headers=headers,
        json={
            "first_name": "Alice",
            "phone_number": "+1 604 555 0199",
            "date_of_birth": "1990-04-01",
            "timezone": "America/Vancouver",
            "years_of_experience": 7,
        },
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["phone_number"] == "+1 604 555 0199"
    assert body["date_of_birth"] == "1990-04-01"
    with db.transaction() as conn:
        raw = conn.execute(
            sa.select(users.c.phone_number, users.c.date_of_birth).where(
                users.c.username == "alice"
            )
        ).one()
    assert raw.phone_number.startswith("pf2.") and "555" not in raw.phone_number
    assert raw.date_of_birth.startswith("pf2.") and "1990" not in raw.date_of_birth

    invalid = client.patch(
        "/api/v1/me",
        headers=headers,
        json={"timezone": "Mars/Olympus", "years_of_experience": -1, "role": "admin"},
    )
    assert invalid.status_code == 422
    fields = {e["field"] for e in invalid.get_json()["errors"]}
    assert fields == {"timezone", "years_of_experience", "role"}


def test_preferences_round_trip(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("bob"))
    empty = client.get("/api/v1/me/preferences", headers=headers).get_json()
    assert empty["preferences"] == {}
    doc = {
        "preferences": {"theme": "dark", "tags": ["a", "b"]},
        "privacy_settings": {"public": False},
    }
    put = client.put("/api/v1/me/preferences", headers=headers, json=doc)
    assert put.status_code == 200
    got = client.get("/api/v1/me/preferences", headers=headers).get_json()
    assert got["preferences"] == {"theme": "dark", "tags": ["a", "b"]}
    assert got["privacy_settings"] == {"public": False}
    assert got["notification_settings"] == {}
    too_big = client.put(
        "/api/v1/me/preferences", headers=headers, json={"preferences": {"x": "y" * 20000}}
    )
    assert too_big.status_code == 422
    not_object = client.put("/api/v1/me/preferences", headers=headers, json={"preferences": [1]})
    assert not_object.status_code == 422


def test_avatar_is_encrypted_and_a_new_phone_is_unverified(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("pictured"))
    me = client.patch(
        "/api/v1/me",
        headers=headers,
        json={"avatar_url": "https://img.example.com/p.png", "phone_number": "+1 604 555 0101"},
    )
    assert me.status_code == 200, me.get_json()
    assert me.get_json()["avatar_url"] == "https://img.example.com/p.png"
    assert me.get_json()["phone_verified"] is False
    with db.transaction() as conn:
        raw = conn.execute(
            sa.select(users.c.avatar_url).where(users.c.username == "pictured")
        ).scalar_one()
    assert raw.startswith("pf2.") and "example" not in raw
    bad = client.patch("/api/v1/me", headers=headers, json={"avatar_url": "javascript:alert(1)"})
    assert bad.status_code == 422

    boss = admin(auth, "support_boss")
    user_id = auth.user_id("pictured")
    url = f"/api/v1/admin/users/{user_id}/phone-verification"
    wrong = client.post(url, headers=boss, json={"phone_number": "+1 604 555 9999"})
    assert wrong.status_code == 409
    done = client.post(url, headers=boss, json={"phone_number": "16045550101"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["phone_verified"] is True
    assert client.get("/api/v1/me", headers=headers).get_json()["phone_verified"] is True
    # A changed number is not the verified one.
    changed = client.patch("/api/v1/me", headers=headers, json={"phone_number": "+1 604 555 0202"})
    assert changed.get_json()["phone_verified"] is False
    assert (
        client.post(
            url, headers=auth.headers(auth.login("pictured")), json={"phone_number": "1"}
        ).status_code
        == 403
    )
