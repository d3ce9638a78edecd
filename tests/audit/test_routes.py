"""The audit log through the API: admin filters and paging, and a user's own events."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import AuthActions


def test_admin_audit_filters_and_pages(client: FlaskClient, auth: AuthActions) -> None:
    admin = auth.register("auditor")
    auth.set_role("auditor", "admin")
    auth.register("alice")
    auth.login("alice")
    alice = auth.user_id("alice")
    headers = auth.headers(admin)

    logins = client.get(
        f"/api/v1/admin/audit?user_id={alice}&event_type=authn_login_success", headers=headers
    ).get_json()
    assert [e["event_type"] for e in logins["items"]] == ["authn_login_success"] * 2
    assert all(alice in (e["actor_id"], e["target_id"]) for e in logins["items"])

    first = client.get("/api/v1/admin/audit?limit=2", headers=headers).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = client.get(
        f"/api/v1/admin/audit?limit=2&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    assert max(e["seq"] for e in second["items"]) < min(e["seq"] for e in first["items"])

    bad = client.get("/api/v1/admin/audit?limit=1000&since=yesterday", headers=headers)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"limit", "since"}
    user = auth.login("alice")
    assert client.get("/api/v1/admin/audit", headers=auth.headers(user)).status_code == 403


def test_my_security_events_are_mine_only(client: FlaskClient, auth: AuthActions) -> None:
    tokens = auth.register("bob")
    auth.register("carol")
    auth.login("carol")
    client.post("/api/v1/auth/login", json={"login": "bob", "password": "wrong password!!"})
    events = client.get("/api/v1/me/security-events", headers=auth.headers(tokens)).get_json()
    types = [e["event_type"] for e in events["items"]]
    assert "authn_login_fail" in types and "user_created" in types
    assert "request" not in types
    bob = auth.user_id("bob")
    assert all(bob in (e["actor_id"], e["target_id"]) for e in events["items"])
