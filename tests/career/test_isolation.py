"""Two users side by side: neither reaches the other's career data through any route."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from tests.career.helpers import EXPERIENCES, SKILLS, create
from tests.conftest import AuthActions

ARCHIVE = f"{EXPERIENCES}/archive"


def test_another_users_ids_answer_404_everywhere(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    alice = auth.headers(auth.register("alice"))
    bob = auth.headers(auth.register("bob"))

    role = create(client, alice, title="Alice's secret role", description="alice only")
    other = create(client, alice, title="To be archived")
    skill = client.post(
        SKILLS, headers=alice, json={"name": "Python", "experience_id": role["id"]}
    ).get_json()
    client.post(f"{EXPERIENCES}/{other['id']}/archive", headers=alice)
    bob_role = create(client, bob, title="Bob's role")

    exp, sk, arc = role["id"], skill["id"], other["id"]
    attempts = [
        ("GET", f"{EXPERIENCES}/{exp}", None),
        ("PATCH", f"{EXPERIENCES}/{exp}", {"title": "hijacked"}),
        ("DELETE", f"{EXPERIENCES}/{exp}", None),
        ("POST", f"{EXPERIENCES}/{exp}/duplicate", {}),
        ("POST", f"{EXPERIENCES}/{exp}/extract-skills", {"save": True}),
        ("GET", f"{EXPERIENCES}/{exp}/skills", None),
        ("POST", f"{EXPERIENCES}/{exp}/archive", {}),
        ("GET", f"{SKILLS}/{sk}", None),
        ("PATCH", f"{SKILLS}/{sk}", {"name": "hijacked"}),
        ("DELETE", f"{SKILLS}/{sk}", None),
        ("GET", f"{ARCHIVE}/{arc}", None),
        ("POST", f"{ARCHIVE}/{arc}/restore", None),
        # Tying one's own skill to someone else's experience is refused the same way.
        ("POST", SKILLS, {"name": "Go", "experience_id": exp}),
        ("PATCH", f"{EXPERIENCES}/{bob_role['id']}", {}),  # control: bob's own works
    ]
    for method, url, body in attempts:
        response = client.open(url, method=method, headers=bob, json=body)
        expected = 200 if url.endswith(bob_role["id"]) else 404
        assert response.status_code == expected, (method, url, response.get_json())
        if expected == 404:
            assert "alice" not in response.get_data(as_text=True)

    # Bob's lists and summaries hold only Bob's data.
    assert [i["title"] for i in client.get(EXPERIENCES, headers=bob).get_json()["items"]] == [
        "Bob's role"
    ]
    assert client.get(SKILLS, headers=bob).get_json()["items"] == []
    assert client.get(ARCHIVE, headers=bob).get_json()["items"] == []
    assert client.get("/api/v1/me/profile/quick", headers=bob).get_json()["total_roles"] == 1
    assert client.get("/api/v1/me/career-summary", headers=bob).get_json()["total_roles"] == 1
    assert client.get(f"{EXPERIENCES}?q=secret", headers=bob).get_json()["items"] == []

    # Alice's data is untouched by Bob's attempts.
    mine = client.get(f"{EXPERIENCES}/{exp}", headers=alice).get_json()
    assert mine["title"] == "Alice's secret role" and mine["description"] == "alice only"
    assert client.get(f"{SKILLS}/{sk}", headers=alice).get_json()["name"] == "Python"
    assert client.get(f"{ARCHIVE}/{arc}", headers=alice).status_code == 200
    assert client.get("/api/v1/me/profile/quick", headers=alice).get_json()["total_roles"] == 1
    assert len(client.get(SKILLS, headers=alice).get_json()["items"]) == 1


def test_career_routes_need_a_signed_in_user(client: FlaskClient) -> None:
    for url in (EXPERIENCES, SKILLS, ARCHIVE, "/api/v1/me/profile/quick", "/api/v1/ref/skills"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.mimetype == "application/problem+json"


def test_missing_tables_answer_503_not_500(
    client: FlaskClient, auth: AuthActions, backend: str, db: Database
) -> None:
    if backend != "sqlite":
        pytest.skip("only SQLite can lose a user's tables without losing the account")
    headers = auth.headers(auth.register("alice"))
    db.tenant_file("alice").unlink()
    response = client.get(EXPERIENCES, headers=headers)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("tables-not-ready")
    assert response.headers["Retry-After"] == "30"
