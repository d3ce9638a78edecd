"""The request audit middleware: one row per API request, never an error for the client."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask, g, jsonify
from flask.typing import ResponseReturnValue
from ulid import ULID

from pathfinder import audit
from pathfinder.audit.middleware import REQUEST_ID_HEADER
from pathfinder.auth.policy import public, requires
from pathfinder.db import Database, get_database
from tests.audit import audit_rows, principal, verify
from tests.conftest import make_app

CALLER = principal("dora", "admin")


def _add_test_routes(app: Flask) -> None:
    """Routes the real API does not have (yet), to drive the middleware."""

    @public
    def as_dora() -> ResponseReturnValue:
        g.principal = CALLER  # what the auth guard does for an authenticated route
        with get_database().transaction() as conn:
            audit.record(conn, "sensitive_read", actor=CALLER, target_type="experience")
        return jsonify(ok=True)

    @public
    def reset(token: str) -> ResponseReturnValue:
        return jsonify(length=len(token))

    @public
    def explode() -> ResponseReturnValue:
        raise RuntimeError("a bug")

    @requires("user")
    def members_only() -> ResponseReturnValue:
        return jsonify(ok=True)

    app.add_url_rule("/api/v1/_test/me", view_func=as_dora)
    app.add_url_rule("/api/v1/_test/reset/<token>", view_func=reset)
    app.add_url_rule("/api/v1/_test/explode", view_func=explode)
    app.add_url_rule("/api/v1/_test/members", view_func=members_only)


@pytest.fixture
def routed(app: Flask) -> Flask:
    _add_test_routes(app)
    return app


def test_health_is_not_logged(app: Flask, db: Database) -> None:
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 200
    assert REQUEST_ID_HEADER in response.headers
    assert audit_rows(db) == []


def test_an_unknown_route_is_logged_with_its_404(app: Flask, db: Database) -> None:
    response = app.test_client().get(
        "/api/v1/no-such-thing?token=query-secret-value",
        headers={"User-Agent": "agent/" + "x" * 700},
        environ_base={"REMOTE_ADDR": "192.0.2.10"},
    )
    assert response.status_code == 404
    request_id = response.headers[REQUEST_ID_HEADER]
    assert str(ULID.from_str(request_id)) == request_id
    [row] = audit_rows(db)
    assert row["event_type"] == "request"
    assert (row["http_method"], row["request_path"], row["status_code"]) == (
        "GET",
        "/api/v1/no-such-thing",
        404,
    )
    assert row["outcome"] == "failure"
    assert row["request_id"] == request_id
    assert row["ip_address"] == "192.0.2.10"
    assert row["user_agent"].startswith("agent/") and len(row["user_agent"]) == 500
    assert row["execution_ms"] is not None and row["execution_ms"] >= 0
    assert row["actor_id"] is None
    assert "query-secret-value" not in repr(row)
    assert verify(app, db).ok


def test_each_request_gets_its_own_id(app: Flask, db: Database) -> None:
    client = app.test_client()
    ids = {client.get("/api/v1/nope").headers[REQUEST_ID_HEADER] for _ in range(3)}
    assert len(ids) == 3
    assert {row["request_id"] for row in audit_rows(db)} == ids


def test_the_principal_and_the_change_rows_share_the_request(routed: Flask, db: Database) -> None:
    response = routed.test_client().get("/api/v1/_test/me")
    assert response.status_code == 200
    change, request_row = audit_rows(db)
    assert change["event_type"] == "sensitive_read"
    assert request_row["event_type"] == "request"
    assert change["request_id"] == request_row["request_id"] == response.headers[REQUEST_ID_HEADER]
    assert change["request_path"] == "/api/v1/_test/me"
    assert (request_row["actor_id"], request_row["actor_role"], request_row["actor_display"]) == (
        CALLER.user_id,
        "admin",
        "dora",
    )
    assert (request_row["status_code"], request_row["outcome"]) == (200, "success")
    assert request_row["details"] == {"route": "/api/v1/_test/me"}


def test_a_secret_path_variable_is_redacted(routed: Flask, db: Database) -> None:
    response = routed.test_client().get("/api/v1/_test/reset/reset-token-secret-123")
    assert response.status_code == 200
    [row] = audit_rows(db)
    assert row["request_path"] == "/api/v1/_test/reset/[redacted]"
    assert "reset-token-secret-123" not in repr(row)


def test_an_unhandled_error_is_logged_as_500(routed: Flask, db: Database) -> None:
    response = routed.test_client().get("/api/v1/_test/explode")
    assert response.status_code == 500
    [row] = audit_rows(db)
    assert (row["status_code"], row["outcome"]) == (500, "failure")


def test_a_request_the_guard_refuses_is_logged(routed: Flask, db: Database) -> None:
    response = routed.test_client().get("/api/v1/_test/members")
    assert response.status_code == 401
    assert REQUEST_ID_HEADER in response.headers
    [row] = audit_rows(db)
    assert (row["request_path"], row["status_code"]) == ("/api/v1/_test/members", 401)


def test_nothing_is_written_when_request_auditing_is_off(
    database_url: str, tmp_path: Path, db: Database
) -> None:
    quiet = make_app(database_url, tmp_path / "quiet", AUDIT_REQUESTS=False)
    response = quiet.test_client().get("/api/v1/nope")
    assert response.status_code == 404
    assert REQUEST_ID_HEADER in response.headers
    assert audit_rows(db) == []
    get_database(quiet).dispose()


def test_a_failed_write_is_logged_not_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No `db init`: pf_audit_log does not exist, so every write fails.
    bare = make_app(f"sqlite:///{tmp_path / 'bare.db'}", tmp_path)
    with caplog.at_level(logging.ERROR, logger="pathfinder.audit.middleware"):
        response = bare.test_client().get("/api/v1/nope?token=query-secret-value")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    [record] = [r for r in caplog.records if r.name == "pathfinder.audit.middleware"]
    assert response.headers[REQUEST_ID_HEADER] in record.getMessage()
    assert "query-secret-value" not in caplog.text
    get_database(bare).dispose()


def test_a_hand_pushed_request_context_is_not_logged(app: Flask, db: Database) -> None:
    with app.test_request_context("/api/v1/anything"):
        pass
    assert audit_rows(db) == []
