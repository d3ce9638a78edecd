"""The server takes exactly what the document says, and reports every mistake at once.

Found by schemathesis against gunicorn: integers were read as dates (``assessed_on: 0``
became 1970-01-01, ``?per_start_date=0`` too), decimals were documented as "a number or
any string", the document allowed 64-character usernames the server refused, and a type
error hid the rule errors of the same request.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.api.openapi import RULES_EXTENSION, document_of
from tests.conftest import AuthActions
from tests.problems import invalid_fields

JSON = {"Content-Type": "application/json"}


def schema_of(app: Flask, name: str) -> dict[str, Any]:
    return dict(document_of(app)["components"]["schemas"][name])


@pytest.mark.parametrize("value", [0, 20240101, "0", "20240101", "2024-1-1", True])
def test_a_date_is_an_iso_string_only(
    client: FlaskClient, auth: AuthActions, value: object
) -> None:
    headers = auth.headers(auth.register("dates"))
    body = {
        "skill_name": "SQL",
        "assessed_on": value,
        "proficiency_level": 3,
        "assessment_source": "self",
    }
    answer = client.post("/api/v1/me/analytics/skills-progression", headers=headers, json=body)
    assert invalid_fields(answer) == ["assessed_on"]


def test_a_date_in_the_query_is_an_iso_string_only(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("qdates"))
    answer = client.get("/api/v1/cpa/progress?per_start_date=0", headers=headers)
    assert invalid_fields(answer) == ["per_start_date"]
    ok = client.get("/api/v1/cpa/progress?per_start_date=2024-01-01", headers=headers)
    assert ok.status_code == 200


def test_a_date_time_needs_its_offset(client: FlaskClient, auth: AuthActions) -> None:
    auth.register("flag_admin")
    auth.set_role("flag_admin", "admin")
    headers = auth.headers(auth.login("flag_admin"))
    flag = {"flag_key": "strict_time", "name": "T", "flag_type": "boolean", "default_value": False}
    for value in ("2030-01-01", "2030-01-01T00:00:00", 1893456000):
        answer = client.post(
            "/api/v1/admin/flags", headers=headers, json={**flag, "active_from": value}
        )
        assert invalid_fields(answer) == ["active_from"], value
    made = client.post(
        "/api/v1/admin/flags", headers=headers, json={**flag, "active_from": "2030-01-01T00:00Z"}
    )
    assert invalid_fields(made) == ["active_from"]  # RFC 3339 has seconds
    made = client.post(
        "/api/v1/admin/flags",
        headers=headers,
        json={**flag, "active_from": "2030-01-01T00:00:00+02:00"},
    )
    assert made.status_code == 201, made.get_json()


def test_numbers_and_integers_are_json_numbers(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("numbers"))
    skills = "/api/v1/me/skills"
    assert invalid_fields(
        client.post(skills, headers=headers, json={"name": "Go", "years_experience": "2"})
    )
    assert invalid_fields(
        client.post(skills, headers=headers, json={"name": "Go", "proficiency_level": "3"})
    )
    assert invalid_fields(
        client.post(skills, headers=headers, json={"name": "Go", "is_primary": "true"})
    )


def test_decimals_are_documented_as_numbers(app: Flask) -> None:
    hours = schema_of(app, "TimeEntryCreate")["properties"]["hours"]
    assert hours["type"] == "number" and hours["minimum"] == 0.01 and hours["maximum"] == 24
    years = schema_of(app, "SkillCreate")["properties"]["years_experience"]
    assert {"type": "null"} in years["anyOf"]
    assert all(option.get("type") in ("number", "null") for option in years["anyOf"])


def test_registration_reports_every_mistake_at_once(client: FlaskClient, auth: AuthActions) -> None:
    auth.allow_self_registration()
    answer = client.post(
        "/api/v1/auth/register",
        json={"username": "x" * 31, "email": "not-an-address", "password": "short"},
    )
    assert sorted(invalid_fields(answer)) == ["email", "password", "username"]
    # A password rule beside a field error: the password names the (valid) username.
    answer = client.post(
        "/api/v1/auth/register",
        json={"username": "carol", "email": "bad", "password": "carol-is-my-password"},
    )
    errors = answer.get_json()["errors"]
    assert sorted(e["field"] for e in errors) == ["email", "password"]
    assert "username" in next(e["message"] for e in errors if e["field"] == "password")


def test_each_broken_part_of_the_password_policy_is_reported_once(
    client: FlaskClient, auth: AuthActions
) -> None:
    """Each password rule checks its own part of the policy: a repetitive password is one
    error (it was three, one per rule), and one naming the username and the e-mail address
    is two."""
    auth.allow_self_registration()
    repetitive = {"username": "dana", "email": "dana@example.com", "password": "a" * 15}
    answer = client.post("/api/v1/auth/register", json=repetitive)
    assert invalid_fields(answer) == ["password"]
    assert "too common" in answer.get_json()["errors"][0]["message"]
    both = {"username": "dana", "email": "harbour@example.com", "password": "dana harbour 77"}
    messages = [
        e["message"] for e in client.post("/api/v1/auth/register", json=both).json["errors"]
    ]
    assert len(messages) == 2
    assert any("username" in m for m in messages) and any("e-mail" in m for m in messages)


def test_a_type_error_does_not_hide_a_rule(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rules"))
    body = {
        "title": "Analyst",
        "start_date": "2020-01-01",
        "end_date": "2019-01-01",
        "team_size": "ten",
    }
    answer = client.post("/api/v1/me/experiences", headers=headers, json=body)
    assert sorted(invalid_fields(answer)) == ["end_date", "team_size"]


def test_each_item_of_a_bulk_is_checked(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("bulk_rules"))
    items = [
        {"title": "A", "start_date": 0, "is_current": True},
        {"title": "B", "start_date": "2020-01-01", "end_date": "2019-01-01"},
    ]
    answer = client.post("/api/v1/me/experiences/bulk", headers=headers, json={"items": items})
    assert sorted(invalid_fields(answer)) == ["items.0.start_date", "items.1.end_date"]


def test_a_field_that_cannot_be_cleared_is_not_nullable(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    title = schema_of(app, "ExperienceUpdate")["properties"]["title"]
    assert title["type"] == "string" and "default" not in title and "anyOf" not in title
    headers = auth.headers(auth.register("nulls"))
    skill = client.post("/api/v1/me/skills", headers=headers, json={"name": "Go"}).get_json()
    answer = client.patch(f"/api/v1/me/skills/{skill['id']}", headers=headers, json={"name": None})
    assert invalid_fields(answer) == ["name"]


def test_the_document_states_the_server_s_own_limits(app: Flask) -> None:
    username = schema_of(app, "RegisterRequest")["properties"]["username"]
    assert username["maxLength"] == 30 and username["minLength"] == 3
    assert re.fullmatch(username["pattern"], "alice_b2")
    assert not re.fullmatch(username["pattern"], "alice__b")
    assert re.search(username["not"]["pattern"], "Root")
    email = schema_of(app, "RegisterRequest")["properties"]["email"]
    assert re.search(email["pattern"], "a@example.com")
    assert not re.search(email["pattern"], "a b@example.com")
    zone = schema_of(app, "ProfileUpdate")["properties"]["timezone"]["anyOf"][0]
    assert "America/Toronto" in zone["enum"] and len(zone["x-enum-varnames"]) == len(zone["enum"])
    model = schema_of(app, "ConversationCreate")["properties"]["model"]["anyOf"][0]
    assert model["enum"] == ["pathfinder-offline"]
    cursor = next(
        p
        for p in document_of(app)["paths"]["/api/v1/me/skills"]["get"]["parameters"]
        if p["name"] == "cursor"
    )
    assert "pattern" in (cursor["schema"].get("anyOf") or [cursor["schema"]])[0]


def test_rules_beyond_the_schema_are_documented(app: Flask) -> None:
    operation = document_of(app)["paths"]["/api/v1/me/experiences/bulk"]["post"]
    rules = operation["responses"]["422"][RULES_EXTENSION]
    assert {"field": "items.*.end_date", "rule": "on or after `start_date`"} in rules
    assert "items.*.end_date" in operation["description"]
    # An update is judged on the experience as changed (found by fuzzing: `is_current:
    # false` alone on a current role is missing its end_date, and was not documented).
    paths = document_of(app)["paths"]
    update = paths["/api/v1/me/experiences/{career_experience_id}"]["patch"]
    documented = {rule["field"] for rule in update["responses"]["422"][RULES_EXTENSION]}
    assert {"start_date", "end_date"} <= documented
    register = paths["/api/v1/auth/register"]["post"]
    assert "email" in {rule["field"] for rule in register["responses"]["422"][RULES_EXTENSION]}


def test_a_blank_text_is_documented_as_refused(app: Flask) -> None:
    title = schema_of(app, "ExperienceCreate")["properties"]["title"]
    assert not re.search(title["pattern"], " \t ") and re.search(title["pattern"], " a ")


def test_a_length_is_that_of_the_text_as_sent(client: FlaskClient, auth: AuthActions) -> None:
    """Stripping comes after the length check: the document's ``maxLength`` is the limit of
    what is sent, so 200 characters and a space are too many for a 200-character title."""
    headers = auth.headers(auth.register("lengths"))
    dates = {"start_date": "2020-01-01", "is_current": True}
    too_long = {"title": "a" * 200 + " ", **dates}
    assert invalid_fields(
        client.post("/api/v1/me/experiences", headers=headers, json=too_long)
    ) == ["title"]
    at_limit = {"title": " " + "a" * 198 + " ", **dates}
    created = client.post("/api/v1/me/experiences", headers=headers, json=at_limit)
    assert created.status_code == 201 and created.get_json()["title"] == "a" * 198
    query = client.get("/api/v1/me/experiences?q=" + "a" * 200 + "%20", headers=headers)
    assert invalid_fields(query) == ["q"]


def test_notes_and_phone_numbers_are_documented_as_the_server_reads_them(app: Flask) -> None:
    """Found by fuzzing: the document let CPA notes hold the control characters the server
    refuses, and applied the phone pattern before the server stripped the number."""
    body = schema_of(app, "CommentCreate")["properties"]["body"]["pattern"]
    assert re.search(body, "Line one\n\tline two")
    assert not re.search(body, "\x1e\n") and not re.search(body, "a\x07b")
    phone = schema_of(app, "PhoneVerification")["properties"]["phone_number"]["pattern"]
    assert not re.search(phone, " 9756") and re.search(phone, "+1 (555) 010-9999")


def test_every_path_parameter_has_its_form(app: Flask) -> None:
    """A segment the document allows is one a route takes, and none is long enough to take
    a request line past gunicorn's limit (a 414 to a request the document allows)."""
    unbounded = [
        f"{path} {parameter['name']}"
        for path, operations in document_of(app)["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", ())
        if parameter["in"] == "path" and not {"pattern", "maxLength"} <= set(parameter["schema"])
    ]
    assert unbounded == []


def test_options_lists_only_the_route_s_own_methods(client: FlaskClient) -> None:
    allow = client.options("/api/v1/me/skills/summary").headers["Allow"]
    assert sorted(allow.split(", ")) == ["GET", "HEAD", "OPTIONS"]
