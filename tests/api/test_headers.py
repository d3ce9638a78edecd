"""Security headers: no caching of answers, no sniffing, a CSP, HSTS in production only."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import DEFAULT_PASSWORD, AuthActions


def test_token_answers_are_never_cached(auth: AuthActions, client: FlaskClient) -> None:
    auth.register("hedda")
    response = client.post(
        "/api/v1/auth/login", json={"login": "hedda", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # not production mode


def test_errors_carry_the_headers_too(client: FlaskClient) -> None:
    response = client.get("/api/v1/me/experiences")
    assert response.status_code == 401
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_docs_page_has_a_csp_that_lets_only_its_own_files_run(client: FlaskClient) -> None:
    page = client.get("/api/v1/docs")
    csp = page.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    with client.get("/api/v1/docs/swagger-ui.css") as asset:
        assert asset.status_code == 200
        assert "no-store" not in asset.headers.get("Cache-Control", "")  # static files cache


def test_hsts_in_production_mode(app: Flask) -> None:
    app.config["PRODUCTION"] = True
    response = app.test_client().get("/api/v1/health")
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    app.config["HSTS_SECONDS"] = 0
    assert "Strict-Transport-Security" not in app.test_client().get("/api/v1/health").headers
