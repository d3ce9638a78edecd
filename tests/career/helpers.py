"""Payloads and small helpers shared by the career tests."""

from __future__ import annotations

import secrets
from typing import Any

from flask.testing import FlaskClient

EXPERIENCES = "/api/v1/me/experiences"
SKILLS = "/api/v1/me/skills"


def experience(**overrides: Any) -> dict[str, Any]:
    """A valid past full-time role; override any field."""
    body: dict[str, Any] = {
        "title": "Software Engineer",
        "company": "Acme Corp",
        "employment_type": "full_time",
        "role_level": "intermediate",
        "industry": "Technology",
        "start_date": "2018-01-01",
        "end_date": "2019-12-31",
        "description": "Built billing services in Python on PostgreSQL.",
        "key_achievements": ["Cut invoice run time by 80%", "Mentored two interns"],
        "technologies": ["Python", "PostgreSQL"],
        "team_size": 6,
    }
    body.update(overrides)
    return body


def create(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(EXPERIENCES, headers=headers, json=experience(**overrides))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def error_fields(response: Any) -> set[str]:
    assert response.status_code == 422, response.get_json()
    return {e["field"] for e in problem(response)["errors"]}


# -- factories for the route matrix (tests/api/foreign_resources.py) ---------------------------


def foreign_experience(client: FlaskClient, headers: dict[str, str], tokens: Any) -> str:
    """Another user's experience id."""
    return str(create(client, headers, title="Foreign role")["id"])


def foreign_skill(client: FlaskClient, headers: dict[str, str], tokens: Any) -> str:
    """Another user's skill id (a name of its own each time: the fuzz run makes two)."""
    name = f"Foreign skill {secrets.token_hex(3)}"
    response = client.post(SKILLS, headers=headers, json={"name": name})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def foreign_archived(client: FlaskClient, headers: dict[str, str], tokens: Any) -> str:
    """Another user's archived experience id."""
    role = create(client, headers, title="Foreign archived role")
    response = client.post(f"{EXPERIENCES}/{role['id']}/archive", headers=headers, json={})
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["id"])
