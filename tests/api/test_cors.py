"""Browsers can call the API: OPTIONS answers every route, CORS only for allowed origins.

Before: ``OPTIONS`` on every route that needs sign-in was a 500 with a stack trace (the guard
read JWT claims flask-jwt-extended never loads for OPTIONS), and no answer carried CORS
headers, so every browser preflight failed.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder import create_app
from pathfinder.config import ConfigurationError
from pathfinder.db import get_database
from pathfinder.db.setup import init_database
from pathfinder.schema.shared.security import audit_log
from tests.api.foreign_resources import unknown_path
from tests.conftest import AuthActions, make_app
from tests.live import live_server, prepare_database
from tests.test_production import production

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"
ACAO = "Access-Control-Allow-Origin"


@pytest.fixture
def cors_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(
        database_url, tmp_path / "instance", CORS_ORIGINS=f"{ALLOWED}, http://localhost:5173"
    )
    database = get_database(application)
    init_database(database)
    yield application
    database.dispose()


def every_route(app: Flask) -> list[tuple[str, list[str]]]:
    """(a concrete path, its methods other than OPTIONS/HEAD) for every API rule of the app.

    The CORS policy covers the API only: ``/metrics`` is for a scraper, and the console's
    pages under /console are same-origin HTML.
    """
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = unknown_path(rule.rule)
        methods = sorted(set(rule.methods or ()) - {"OPTIONS", "HEAD"})
        found.append((path, methods))
    return sorted(found)


def preflight(method: str, origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


def test_options_answers_every_route_with_or_without_a_token(cors_app: Flask) -> None:
    client = cors_app.test_client()
    auth = AuthActions(cors_app, client)
    auth.allow_self_registration()
    token = auth.headers(auth.register("cors_user"))
    failures = []
    routes = every_route(cors_app)
    assert len(routes) > 50
    for path, methods in routes:
        for headers in ({}, token):
            for method in methods:
                allowed = client.options(path, headers={**headers, **preflight(method, ALLOWED)})
                if allowed.status_code >= 300:
                    failures.append(f"OPTIONS {path}: {allowed.status_code}")
                    continue
                if allowed.headers.get(ACAO) != ALLOWED:
                    failures.append(f"OPTIONS {path} from {ALLOWED}: no {ACAO}")
                allowed_methods = allowed.headers.get("Access-Control-Allow-Methods", "")
                if method not in allowed_methods:
                    failures.append(f"OPTIONS {path}: {method} not in {allowed_methods!r}")
                if "authorization" not in allowed.headers.get("Access-Control-Allow-Headers", ""):
                    failures.append(f"OPTIONS {path}: Authorization not allowed")
                if method not in allowed.headers.get("Allow", ""):
                    failures.append(f"OPTIONS {path}: Allow lacks {method}")
                other = client.options(path, headers={**headers, **preflight(method, OTHER)})
                if other.status_code >= 300:
                    failures.append(f"OPTIONS {path} from {OTHER}: {other.status_code}")
                if any(h.startswith("Access-Control-") for h in other.headers.keys()):
                    failures.append(f"OPTIONS {path} from {OTHER}: CORS headers sent")
    assert failures == []


def test_the_console_answers_no_cross_origin_request(cors_app: Flask) -> None:
    client = cors_app.test_client()
    for path in ("/console/", "/console/sign-in"):
        answer = client.options(path, headers=preflight("GET", ALLOWED))
        assert answer.status_code == 200 and "GET" in answer.headers["Allow"]
        assert not any(h.startswith("Access-Control-") for h in answer.headers.keys())


def test_answers_expose_the_headers_a_browser_client_reads(cors_app: Flask) -> None:
    client = cors_app.test_client()
    answer = client.get("/api/v1/me", headers={"Origin": ALLOWED})
    assert answer.status_code == 401
    assert answer.headers[ACAO] == ALLOWED
    assert answer.mimetype == "application/problem+json"
    exposed = {h.strip() for h in answer.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Retry-After", "Location", "ETag", "X-Request-Id"} <= exposed
    assert "Origin" in answer.headers["Vary"]
    # Credentials are off by default: the API reads bearer tokens, not cookies.
    assert "Access-Control-Allow-Credentials" not in answer.headers
    # A second allowed origin is echoed, not the first one.
    local = client.get("/api/v1/health", headers={"Origin": "http://localhost:5173"})
    assert local.headers[ACAO] == "http://localhost:5173"
    # Without an Origin (curl, a server) nothing CORS is added.
    plain = client.get("/api/v1/health")
    assert not [h for h in plain.headers.keys() if h.startswith("Access-Control-")]


def test_no_origin_is_allowed_by_default(client: FlaskClient) -> None:
    answer = client.get("/api/v1/health", headers={"Origin": ALLOWED})
    assert ACAO not in answer.headers
    pre = client.options("/api/v1/me", headers=preflight("GET", ALLOWED))
    assert pre.status_code == 200
    assert not [h for h in pre.headers.keys() if h.startswith("Access-Control-")]


def test_a_preflight_under_maintenance_passes_and_is_not_audited(cors_app: Flask) -> None:
    from pathfinder.flags.system import set_system_flag

    with get_database(cors_app).transaction() as conn:
        set_system_flag(conn, "maintenance_mode", True)
    client = cors_app.test_client()
    pre = client.options("/api/v1/me/experiences", headers=preflight("POST", ALLOWED))
    assert pre.status_code == 200 and pre.headers[ACAO] == ALLOWED
    # The request it announces gets the 503, readable by the browser.
    real = client.post("/api/v1/me/experiences", headers={"Origin": ALLOWED}, json={})
    assert real.status_code in (401, 503) and real.headers[ACAO] == ALLOWED
    with get_database(cors_app).transaction() as conn:
        methods = set(conn.execute(sa.select(audit_log.c.http_method)).scalars())
    assert "OPTIONS" not in methods and "POST" in methods


@pytest.mark.parametrize("origins", ["https://app.example.com/", "app.example.com", "https://a/b"])
def test_a_malformed_origin_is_a_start_up_error(origins: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="scheme://host"):
        create_app({"INSTANCE_PATH": str(tmp_path), "CORS_ORIGINS": origins})


def test_production_refuses_any_origin_with_credentials(tmp_path: Path) -> None:
    settings = {"INSTANCE_PATH": str(tmp_path), "CORS_ORIGINS": "*"}
    with pytest.raises(ConfigurationError, match="CORS_ORIGINS is \\* with"):
        create_app({**production(), **settings, "CORS_ALLOW_CREDENTIALS": True})
    # Any origin without credentials (a public read API) and a list with credentials start.
    create_app({**production(), **settings})
    create_app(
        {
            **production(),
            "INSTANCE_PATH": str(tmp_path),
            "CORS_ORIGINS": ALLOWED,
            "CORS_ALLOW_CREDENTIALS": "true",
        }
    )


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_browser_preflight_through_gunicorn(database_url: str, tmp_path: Path) -> None:
    prepare_database(database_url, tmp_path / "instance")
    settings = {"CORS_ORIGINS": ALLOWED}
    with live_server(database_url, tmp_path / "instance", settings, workers=2) as server:
        status, tokens = server.call(
            "POST",
            "/auth/register",
            {"username": "browser", "email": "b@example.com", "password": "a long passphrase ok"},
        )
        assert status == 201, tokens
        host, port = server.base.removeprefix("http://").split("/")[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("OPTIONS", "/api/v1/me/experiences", headers=preflight("POST", ALLOWED))
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200
        assert answer.getheader(ACAO) == ALLOWED
        assert "POST" in (answer.getheader("Access-Control-Allow-Methods") or "")
        assert answer.getheader("Access-Control-Allow-Headers") == "authorization, content-type"
        # The request the preflight announced, as the browser then sends it.
        conn.request(
            "GET",
            "/api/v1/me",
            headers={"Origin": ALLOWED, "Authorization": f"Bearer {tokens['access_token']}"},
        )
        me = conn.getresponse()
        me.read()
        assert me.status == 200 and me.getheader(ACAO) == ALLOWED
        conn.request("OPTIONS", "/api/v1/me", headers=preflight("GET", OTHER))
        refused = conn.getresponse()
        refused.read()
        assert refused.status == 200 and refused.getheader(ACAO) is None
        conn.close()
        log = server.log()
    assert "Traceback" not in log
