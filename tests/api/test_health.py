"""``GET /api/v1/health`` and the problem+json error format."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from pathfinder.schema.shared import SHARED_SCHEMA_VERSION
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION
from tests.conftest import make_app


def test_health_reports_dialect_and_versions(client: FlaskClient, backend: str) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == {"dialect": backend, "reachable": True, "initialised": True}
    assert body["shared_schema_version"] == SHARED_SCHEMA_VERSION
    assert body["template_version"] == LATEST_TEMPLATE_VERSION


def test_health_is_503_before_db_init(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'blank.db'}", tmp_path)
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["database"]["initialised"] is False


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    app = make_app("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path)
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.get_json()["database"]["reachable"] is False


def test_unknown_route_is_problem_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "about:blank"
    assert body["status"] == 404
    assert body["title"] == "Not Found"


def test_wrong_method_is_problem_json_with_allow(client: FlaskClient) -> None:
    response = client.post("/api/v1/health")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"]
