"""``GET /metrics``: who may scrape it, and that it parses as Prometheus text with the
request, pool, job, tenant and audit-sealing metrics (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from pathfinder.config import ConfigurationError, check_production
from pathfinder.db import Database
from pathfinder.jobs.runner import run_job
from tests.admin import audit_events
from tests.conftest import AuthActions

EXTERNAL = {"REMOTE_ADDR": "203.0.113.9"}


def scrape(client: FlaskClient, **kwargs: Any) -> dict[str, Any]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}


def samples(family: Any, name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_a_scrape_parses_and_carries_every_kind_of_metric(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("metered"))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    assert run_job(app, "refresh_user_stats").outcome == "succeeded"
    families = scrape(client)

    requests = families["pathfinder_http_requests"]
    assert samples(requests, "pathfinder_http_requests_total", route="/api/v1/me", status="200")
    assert samples(requests, "pathfinder_http_requests_total", route="/api/v1/me", status="401")
    latency = families["pathfinder_http_request_duration_seconds"]
    assert samples(
        latency, "pathfinder_http_request_duration_seconds_count", route="/api/v1/me", method="GET"
    )
    assert "pathfinder_db_pool_checked_out" in families
    assert "pathfinder_db_pool_overflow" in families
    jobs = families["pathfinder_job_runs"]
    assert samples(jobs, "pathfinder_job_runs_total", job="refresh_user_stats", outcome="succeeded")
    assert "pathfinder_job_last_success_timestamp_seconds" in families
    tenants = families["pathfinder_tenants"]
    assert samples(tenants, "pathfinder_tenants", state="ready") >= 1
    assert "pathfinder_tenant_migrations_pending" in families
    assert (
        samples(families["pathfinder_tenant_provisions"], "pathfinder_tenant_provisions_total") >= 1
    )
    lag = families["pathfinder_audit_seal_lag_seconds"]
    assert samples(lag, "pathfinder_audit_seal_lag_seconds") > 0  # nothing sealed yet
    assert samples(families["pathfinder_audit_unsealed_rows"], "pathfinder_audit_unsealed_rows")
    assert samples(families["pathfinder_database_up"], "pathfinder_database_up") == 1
    # Prometheus polls every few seconds: scrapes leave no audit row.
    assert not [r for r in audit_events(db, "request") if r["request_path"] == "/metrics"]


def test_unmatched_paths_share_one_label(client: FlaskClient) -> None:
    client.get("/api/v1/no/such/thing/01J00000000000000000000000")
    requests = scrape(client)["pathfinder_http_requests"]
    routes = {s.labels["route"] for s in requests.samples}
    assert "unmatched" in routes
    assert not any("01J0000" in route for route in routes)


def test_an_external_address_is_refused_without_the_token(client: FlaskClient) -> None:
    response = client.get("/metrics", environ_base=EXTERNAL)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("metrics-forbidden")


def test_with_a_token_only_the_token_opens_it(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = "m" * 40
    assert client.get("/metrics").status_code == 401  # loopback is not enough any more
    wrong = {"Authorization": "Bearer " + "x" * 40}
    assert client.get("/metrics", headers=wrong, environ_base=EXTERNAL).status_code == 401
    right = {"Authorization": "Bearer " + "m" * 40}
    assert scrape(client, headers=right, environ_base=EXTERNAL)


def test_metrics_can_be_switched_off(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_ENABLED"] = False
    assert client.get("/metrics").status_code == 404


def test_production_refuses_a_weak_metrics_token() -> None:
    config = {
        "JWT_SECRET_KEY": "j" * 40,
        "AUDIT_HMAC_KEY": "h" * 40,
        "AUDIT_SIGNING_KEY": "s" * 40,
        "KEK_KEYRING": "k",
        "RATELIMIT_STORAGE_URI": "redis://localhost/0",
        "DATABASE_URL": "postgresql://x/y",
        "METRICS_TOKEN": "secret",
    }
    with pytest.raises(ConfigurationError, match="METRICS_TOKEN"):
        check_production(config)
    check_production({**config, "METRICS_TOKEN": "t" * 40})
