"""Hostile JSON is a client error on every route, never a server error.

Text with NUL (U+0000) is a 422: PostgreSQL refuses NUL in text and JSON values, and the
fuzzing run found ``PUT /me/preferences`` and ``POST /ref/career-paths`` answering 500 on
PostgreSQL before the guard. A document nested too deeply to parse is malformed (400 where
a body is read), not a ``RecursionError`` escaping as a 500.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import AuthActions
from tests.problems import invalid_fields


def test_nul_in_a_nested_json_value_names_its_field(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("nul_body"))
    body = {"privacy_settings": {"share": ["ok", "bad\u0000value"]}}
    response = client.put("/api/v1/me/preferences", headers=headers, json=body)
    assert invalid_fields(response) == ["privacy_settings.share.1"]
    # Nothing was stored, and the same document without NUL is accepted.
    body["privacy_settings"]["share"][1] = "good"
    assert client.put("/api/v1/me/preferences", headers=headers, json=body).status_code == 200


def test_nul_in_a_json_key_is_refused(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("nul_key"))
    body = {"privacy_settings": {"a\u0000b": 1}}
    response = client.put("/api/v1/me/preferences", headers=headers, json=body)
    assert invalid_fields(response) == ["privacy_settings"]


def test_nul_in_a_query_or_path_value_is_refused(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("nul_query"))
    query = client.get("/api/v1/me/experiences?company=a%00b", headers=headers)
    assert invalid_fields(query) == ["company"]
    # Every path parameter is routed by its pattern (an id, a token, a flag key), so a
    # segment with NUL in it names no route at all.
    assert client.get("/api/v1/invitations/abc%00def").status_code == 404
    unrouted = client.get("/api/v1/me/experiences/01J0000000000000000000000%00", headers=headers)
    assert unrouted.status_code == 404


def test_unknown_routes_and_methods_keep_404_and_405(client: FlaskClient) -> None:
    body = {"x": "\u0000"}
    assert client.post("/api/v1/no-such-route", json=body).status_code == 404
    assert client.post("/api/v1/health", json=body).status_code == 405


def test_anonymous_callers_still_get_401_first(client: FlaskClient) -> None:
    response = client.put("/api/v1/me/preferences", json={"x": "\u0000"})
    assert response.status_code == 401


DEEP = b"[" * 5000 + b"]" * 5000


def test_deeply_nested_json_is_malformed_not_a_server_error(client: FlaskClient) -> None:
    headers = {"Content-Type": "application/json"}
    login = client.post("/api/v1/auth/login", data=DEEP, headers=headers)
    assert login.status_code == 400
    assert login.get_json()["type"].endswith("malformed-body")
    # A route that reads no body ignores it.
    assert client.get("/api/v1/health", data=DEEP, headers=headers).status_code == 200


def test_e_mail_addresses_refuse_control_characters() -> None:
    from pathfinder.auth.schemas import check_email

    # "$" matches before a final newline: a trailing newline must not slip through.
    for bad in ("a\x00b@example.com", "a@exa\x07mple.com", "a@example.co\x7f", "a@b.co\n"):
        try:
            check_email(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
    assert check_email("a.b@example.com") == "a.b@example.com"
