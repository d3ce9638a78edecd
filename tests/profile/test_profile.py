"""``/me`` and ``/me/preferences``: validation, and encryption of personal fields at rest."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import users
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
