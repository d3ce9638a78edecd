"""Roles, the last site admin, the first site admin from the CLI, and rate limits."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import DEFAULT_PASSWORD, AuthActions


def test_site_admin_promotes_and_demotes(client: FlaskClient, auth: AuthActions) -> None:
    root = auth.register("root_admin")
    auth.set_role("root_admin", "site_admin")
    auth.register("mia")
    mia_id = auth.user_id("mia")

    promoted = client.put(
        f"/api/v1/admin/users/{mia_id}/role", headers=auth.headers(root), json={"role": "admin"}
    )
    assert promoted.status_code == 200
    assert promoted.get_json()["role"] == "admin"

    mia = auth.login("mia")
    # An admin is not a site admin: role changes stay out of reach.
    denied = client.put(
        f"/api/v1/admin/users/{mia_id}/role", headers=auth.headers(mia), json={"role": "site_admin"}
    )
    assert denied.status_code == 403

    bad = client.put(
        f"/api/v1/admin/users/{mia_id}/role", headers=auth.headers(root), json={"role": "god"}
    )
    assert bad.status_code == 422
    missing = client.put(
        "/api/v1/admin/users/01J0000000000000000000000X/role",
        headers=auth.headers(root),
        json={"role": "user"},
    )
    assert missing.status_code == 404


def test_the_last_site_admin_cannot_be_demoted(client: FlaskClient, auth: AuthActions) -> None:
    root = auth.register("only_root")
    auth.set_role("only_root", "site_admin")
    root_id = auth.user_id("only_root")
    refused = client.put(
        f"/api/v1/admin/users/{root_id}/role", headers=auth.headers(root), json={"role": "user"}
    )
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("last-site-admin")

    auth.register("second_root")
    auth.set_role("second_root", "site_admin")
    allowed = client.put(
        f"/api/v1/admin/users/{root_id}/role", headers=auth.headers(root), json={"role": "user"}
    )
    assert allowed.status_code == 200
    # The demotion takes effect at once, on the same token.
    again = client.put(
        f"/api/v1/admin/users/{root_id}/role",
        headers=auth.headers(root),
        json={"role": "site_admin"},
    )
    assert again.status_code == 403


def test_cli_creates_the_first_site_admin(app: Flask, client: FlaskClient) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["admin", "create-site-admin", "Founder", "--email", "founder@example.com"]
    )
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].split(": ", 1)[1]
    login = client.post("/api/v1/auth/login", json={"login": "founder", "password": password})
    assert login.status_code == 200
    me = client.get("/api/v1/me", headers=AuthActions.headers(login.get_json())).get_json()
    assert me["role"] == "site_admin"

    stdin = runner.invoke(
        args=[
            "admin",
            "create-site-admin",
            "second",
            "--email",
            "s@example.com",
            "--password-stdin",
        ],
        input="a long enough passphrase\n",
    )
    assert stdin.exit_code == 0, stdin.output
    assert "One-time password" not in stdin.output

    bad = runner.invoke(args=["admin", "create-site-admin", "x-y", "--email", "x@example.com"])
    assert bad.exit_code == 1 and "invalid username" in bad.output
    taken = runner.invoke(
        args=["admin", "create-site-admin", "founder", "--email", "o@example.com"]
    )
    assert taken.exit_code == 1 and "already registered" in taken.output


def test_login_is_rate_limited(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    auth.register("nina")
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    statuses = [
        client.post(
            "/api/v1/auth/login", json={"login": "nina", "password": "wrong password!!"}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    limited = client.post("/api/v1/auth/login", json={"login": "nina", "password": "x"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["type"].endswith("rate-limited")


def test_admins_need_mfa_when_the_flag_says_so(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    import time

    from pathfinder.db import get_database
    from pathfinder.flags.system import set_system_flag
    from pathfinder.security import totp

    root = auth.register("strict_root")
    auth.set_role("strict_root", "site_admin")
    target = auth.user_id("strict_root")
    with get_database(app).transaction() as conn:
        set_system_flag(conn, "mfa_required_for_admins", True)
    body = {"role": "site_admin"}
    refused = client.put(
        f"/api/v1/admin/users/{target}/role", headers=auth.headers(root), json=body
    )
    assert refused.status_code == 403
    assert refused.get_json()["type"].endswith("mfa-required")
    # Ordinary routes still work, so the admin can enrol.
    start = client.post(
        "/api/v1/auth/mfa/enroll", headers=auth.headers(root), json={"password": DEFAULT_PASSWORD}
    ).get_json()
    client.post(
        "/api/v1/auth/mfa/confirm",
        headers=auth.headers(root),
        json={"code": totp.code_for(start["secret"], now=time.time())},
    )
    allowed = client.put(
        f"/api/v1/admin/users/{target}/role", headers=auth.headers(root), json=body
    )
    assert allowed.status_code == 200
