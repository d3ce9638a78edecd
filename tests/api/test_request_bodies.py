"""Request bodies as clients get them wrong: missing, not JSON, truncated, repeated keys.

Before: a missing body was read as ``{}`` (``PUT /me/preferences`` with no body answered 200
and wiped all three settings objects), truncated JSON was reported as a wrong content type,
and a repeated key was silently resolved to its last value.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.api.contract import contract_of
from pathfinder.api.openapi import document_of, openapi_path
from pathfinder.auth.policy import policy_of
from tests.api.foreign_resources import unknown_path
from tests.conftest import AuthActions

JSON = {"Content-Type": "application/json"}


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def body_operations(app: Flask) -> list[tuple[str, str, str, bool]]:
    """(method, concrete path, least role or "", body required) of every JSON-body route."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        declared, policy = contract_of(view), policy_of(view)
        if declared is None or not isinstance(declared.body, type) or policy is None:
            continue
        path = unknown_path(rule.rule)
        for method in sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"}):
            found.append((method, path, policy.role or "", declared.body_required))
    return sorted(found)


def test_every_required_body_is_refused_when_missing(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    tokens = {}
    for role in ("user", "admin", "site_admin"):
        auth.register(f"body_{role}")
        if role != "user":
            auth.set_role(f"body_{role}", role)
    operations = body_operations(app)
    required = [op for op in operations if op[3]]
    assert len(required) >= 50
    failures = []
    for method, path, role, _ in required:
        if role:
            tokens[role] = tokens.get(role) or auth.headers(auth.login(f"body_{role}"))
        headers = tokens[role] if role else {}
        for extra in ({}, JSON):  # no Content-Type at all, and JSON announced but absent
            answer = client.open(path, method=method, headers={**headers, **extra})
            body = answer.get_json(silent=True) or {}
            fields = [e.get("field") for e in body.get("errors") or []]
            if answer.status_code != 422 or fields != ["body"]:
                failures.append(f"{method} {path}: {answer.status_code} {body}")
    assert failures == [], "\n".join(failures)


def test_the_document_says_which_bodies_are_required(app: Flask) -> None:
    document = document_of(app)
    for rule in app.url_map.iter_rules():
        declared = contract_of(app.view_functions[rule.endpoint])
        if declared is None or not isinstance(declared.body, type):
            continue
        for method in set(rule.methods or ()) - {"HEAD", "OPTIONS"}:
            operation = document["paths"][openapi_path(rule)][method.lower()]
            assert operation["requestBody"]["required"] is declared.body_required, rule.rule


def test_an_optional_body_may_be_left_out(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("lazy"))
    created = client.post(
        "/api/v1/me/experiences",
        headers=headers,
        json={"title": "Analyst", "start_date": "2020-01-01", "end_date": "2021-01-01"},
    )
    assert created.status_code == 201, created.get_json()
    experience = created.get_json()["id"]
    copy = client.post(f"/api/v1/me/experiences/{experience}/duplicate", headers=headers)
    assert copy.status_code == 201, copy.get_json()
    archived = client.post(f"/api/v1/me/experiences/{experience}/archive", headers=headers)
    assert archived.status_code == 200, archived.get_json()


def test_a_body_less_preferences_put_changes_nothing(
    client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("prefs"))
    settings = {
        "preferences": {"theme": "dark"},
        "notification_settings": {"email": False},
        "privacy_settings": {"profile_visible": False},
    }
    assert client.put("/api/v1/me/preferences", headers=headers, json=settings).status_code == 200
    for sent in ({}, {"data": b"", "content_type": "application/json"}):
        answer = client.put("/api/v1/me/preferences", headers=headers, **sent)
        assert answer.status_code == 422
        assert problem(answer)["errors"] == [
            {"field": "body", "message": "a JSON object is required"}
        ]
    kept = client.get("/api/v1/me/preferences", headers=headers).get_json()
    assert {k: kept[k] for k in settings} == settings
    before = client.get("/api/v1/me", headers=headers).get_json()
    assert client.patch("/api/v1/me", headers=headers).status_code == 422
    assert client.get("/api/v1/me", headers=headers).get_json() == before


@pytest.mark.parametrize(
    "raw",
    [b'{"login": "alice", "password": "x"', b'{"login": "alice",}', b"{'login': 1}", b"nul"],
)
def test_malformed_json_is_reported_as_malformed(client: FlaskClient, raw: bytes) -> None:
    answer = client.post("/api/v1/auth/login", data=raw, headers=JSON)
    assert answer.status_code == 400
    body = problem(answer)
    assert body["type"] == "urn:pathfinder:problem:malformed-body"
    assert body["detail"].startswith("The request body is not valid JSON: ")
    assert "line 1 column" in body["detail"]
    assert "alice" not in answer.get_data(as_text=True)  # the input is never echoed


def test_bytes_that_are_not_text_are_malformed(client: FlaskClient) -> None:
    answer = client.post("/api/v1/auth/login", data=b'{"login": "\xff\xfe"}', headers=JSON)
    assert answer.status_code == 400
    assert problem(answer)["detail"] == "The request body is not UTF-8 encoded JSON."


def test_a_body_that_is_not_json_is_an_unsupported_media_type(client: FlaskClient) -> None:
    answer = client.post(
        "/api/v1/auth/login", data="login=alice&password=x", content_type="text/plain"
    )
    assert answer.status_code == 415
    assert problem(answer)["type"] == "urn:pathfinder:problem:unsupported-media-type"
    # A JSON array is JSON, but not the object every operation takes.
    listed = client.post("/api/v1/auth/login", data=b"[1]", headers=JSON)
    assert listed.status_code == 400
    assert problem(listed)["detail"] == "The request body must be a JSON object."


def test_a_repeated_key_is_refused_naming_it(client: FlaskClient, auth: AuthActions) -> None:
    answer = client.post(
        "/api/v1/auth/login", data=b'{"login": "a", "password": "x", "login": "b"}', headers=JSON
    )
    assert answer.status_code == 422
    assert problem(answer)["errors"] == [{"field": "login", "message": "duplicate key"}]
    headers = {**auth.headers(auth.register("twice")), **JSON}
    nested = client.put(
        "/api/v1/me/preferences",
        data=b'{"preferences": {"theme": "dark", "theme": "light"}}',
        headers=headers,
    )
    assert nested.status_code == 422
    assert problem(nested)["errors"] == [{"field": "preferences.theme", "message": "duplicate key"}]
    in_list = client.post(
        "/api/v1/me/experiences/bulk",
        data=b'{"items": [{"title": "a", "title": "b"}]}',
        headers=headers,
    )
    assert problem(in_list)["errors"] == [{"field": "items.0.title", "message": "duplicate key"}]


def test_an_unknown_audit_event_type_filter_is_refused(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register("auditor")
    auth.set_role("auditor", "admin")
    headers = auth.headers(auth.login("auditor"))
    unknown = client.get("/api/v1/admin/audit?event_type=authn_login_sucess", headers=headers)
    assert unknown.status_code == 422
    assert [e["field"] for e in problem(unknown)["errors"]] == ["event_type"]
    known = client.get("/api/v1/admin/audit?event_type=authn_login_success", headers=headers)
    assert known.status_code == 200
    assert {e["event_type"] for e in known.get_json()["items"]} == {"authn_login_success"}
