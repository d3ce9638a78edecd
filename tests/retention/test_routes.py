"""``GET/PUT /api/v1/admin/retention-policies`` on SQLite and PostgreSQL."""

from __future__ import annotations

from flask.testing import FlaskClient

from pathfinder.db import Database
from tests.admin import admin, audit_events, problem
from tests.conftest import AuthActions

URL = "/api/v1/admin/retention-policies"


def _by_key(body: dict) -> dict[str, dict]:
    return {p["policy_key"]: p for p in body["items"]}


def test_admins_read_the_policies_users_do_not(client: FlaskClient, auth: AuthActions) -> None:
    user = auth.headers(auth.register("plain"))
    assert client.get(URL, headers=user).status_code == 403
    response = client.get(URL, headers=admin(auth, "boss"))
    assert response.status_code == 200
    policies = _by_key(response.get_json())
    assert set(policies) == {"analytics_events", "audit_log", "experiences", "sessions"}
    assert policies["audit_log"]["allowed_actions"] == ["archive"]
    assert policies["audit_log"]["retention_days"] == 2555
    assert response.headers["ETag"]


def test_only_site_admins_change_them(client: FlaskClient, auth: AuthActions) -> None:
    body = {"policies": [{"policy_key": "sessions", "retention_days": 30}]}
    assert client.put(URL, headers=admin(auth, "boss"), json=body).status_code == 403


def test_a_change_is_applied_and_audited(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    root = admin(auth, "chief", role="site_admin")
    body = {
        "policies": [
            {"policy_key": "sessions", "retention_days": 30},
            {"policy_key": "analytics_events", "is_active": False},
        ]
    }
    response = client.put(URL, headers=root, json=body)
    assert response.status_code == 200, response.get_json()
    policies = _by_key(response.get_json())
    assert policies["sessions"]["retention_days"] == 30
    assert policies["analytics_events"]["is_active"] is False
    rows = [
        r for r in audit_events(db, "sys_config_changed") if r["target_type"] == "retention_policy"
    ]
    assert sorted((r["target_display"], r["details"]["after"]) for r in rows) == [
        ("analytics_events", {"is_active": False}),
        ("sessions", {"retention_days": 30}),
    ]
    assert rows[0]["actor_role"] == "site_admin"


def test_the_audit_log_can_only_be_archived(client: FlaskClient, auth: AuthActions) -> None:
    root = admin(auth, "chief", role="site_admin")
    body = {
        "policies": [
            {"policy_key": "sessions", "retention_days": 10},
            {"policy_key": "audit_log", "action": "delete"},
        ]
    }
    response = client.put(URL, headers=root, json=body)
    assert response.status_code == 422
    assert problem(response)["errors"][0]["field"] == "policies.1.action"
    # All or nothing: the valid change before it was not applied either.
    assert _by_key(client.get(URL, headers=root).get_json())["sessions"]["retention_days"] == 90


def test_client_mistakes_are_problems_not_errors(client: FlaskClient, auth: AuthActions) -> None:
    root = admin(auth, "chief", role="site_admin")
    cases = [
        ({"policies": [{"policy_key": "nope", "retention_days": 5}]}, "policies.0.policy_key"),
        ({"policies": [{"policy_key": "sessions", "retention_days": 0}]}, None),
        ({"policies": []}, None),
        ({"policies": [{"policy_key": "sessions", "action": "shred"}]}, None),
        (
            {"policies": [{"policy_key": "sessions"}, {"policy_key": "sessions"}]},
            "policies.1.policy_key",
        ),
    ]
    for body, field in cases:
        response = client.put(URL, headers=root, json=body)
        assert response.status_code == 422, body
        if field is not None:
            assert problem(response)["errors"][0]["field"] == field


def test_a_stale_if_match_is_refused(client: FlaskClient, auth: AuthActions) -> None:
    root = admin(auth, "chief", role="site_admin")
    tag = client.get(URL, headers=root).headers["ETag"]
    change = {"policies": [{"policy_key": "sessions", "retention_days": 45}]}
    assert client.put(URL, headers={**root, "If-Match": tag}, json=change).status_code == 200
    again = {"policies": [{"policy_key": "sessions", "retention_days": 60}]}
    assert client.put(URL, headers={**root, "If-Match": tag}, json=again).status_code == 412
