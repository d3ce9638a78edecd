"""Signing in to the console: the cookie, CSRF, MFA, lockout and rate limits shared with
the API, sign-out, idle and absolute timeouts, and who may sign in at all."""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import user_sessions, users
from pathfinder.security import totp
from tests.auth.test_flows import enrol_mfa
from tests.conftest import AuthActions
from tests.console import Browser, console_admin, text_of


def live_sessions(db: Database, user_id: str) -> int:
    with db.transaction() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(user_sessions)
                .where(user_sessions.c.user_id == user_id, user_sessions.c.revoked_at.is_(None))
            ).scalar_one()
        )


def test_pages_need_a_sign_in(client: FlaskClient) -> None:
    for path in ("/console/", "/console/users", "/console/tenants", "/console/audit"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/console/sign-in?next=")
    page = client.get("/console/sign-in")
    assert page.status_code == 200 and 'for="f-login"' in text_of(page)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    with client.get("/console/static/console.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert b"--danger" in css.get_data()
    assert client.get("/console/static/../__init__.py").status_code == 404


def test_cookie_flags_and_production_secure(app: Flask, client: FlaskClient) -> None:
    cookie = client.get("/console/sign-in").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    # The API never sets the console's cookie.
    assert "Set-Cookie" not in client.get("/api/v1/health").headers
    app.config["PRODUCTION"] = True
    fresh = app.test_client().get("/console/sign-in").headers["Set-Cookie"]
    assert "; Secure" in fresh


def test_sign_in_and_out(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    auth.register("boss")
    auth.set_role("boss", "admin")
    browser = Browser(client)
    wrong = browser.sign_in("boss", "not the password")
    assert wrong.status_code == 401 and 'role="alert"' in text_of(wrong)
    signed_in = browser.post(
        "/console/sign-in?next=/console/users", {"login": "boss", "password": auth_password()}
    )
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/console/users"
    assert live_sessions(db, auth.user_id("boss")) == 1 + 1  # the registration's, and this
    page = browser.get("/console/users")
    assert page.status_code == 200 and "boss (admin)" in text_of(page)
    out = browser.post("/console/sign-out")
    assert out.status_code == 302
    assert live_sessions(db, auth.user_id("boss")) == 1
    assert browser.get("/console/users").status_code == 302


def auth_password() -> str:
    from tests.conftest import DEFAULT_PASSWORD

    return DEFAULT_PASSWORD


def test_no_open_redirect(client: FlaskClient, auth: AuthActions) -> None:
    auth.register("boss")
    auth.set_role("boss", "admin")
    browser = Browser(client)
    browser.get("/console/sign-in")
    for target in ("//evil.example/", "https://evil.example/", "/api/v1/me", "/console\\x"):
        response = browser.post(
            f"/console/sign-in?next={target}", {"login": "boss", "password": auth_password()}
        )
        assert response.headers["Location"] == "/console/", target
        browser.get("/console/")


def test_a_user_cannot_use_the_console(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    auth.register("plain")
    response = Browser(client).sign_in("plain")
    assert response.status_code == 403 and "for administrators" in text_of(response)
    assert live_sessions(db, auth.user_id("plain")) == 1  # only the registration's
    assert client.get("/console/").status_code == 302


def test_cross_site_form_posts_are_refused(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    browser = console_admin(auth, client, "boss")
    auth.register("victim")
    victim = auth.user_id("victim")
    form = {"reason": "forged", "confirm": "yes"}
    # A page on another site can make the browser post the form with its cookie, but it
    # cannot read the token.
    no_token = client.post(f"/console/users/{victim}/suspend", data=form)
    assert no_token.status_code == 400 and "security token" in text_of(no_token)
    wrong = client.post(f"/console/users/{victim}/suspend", data={**form, "csrf_token": "x"})
    assert wrong.status_code == 400
    elsewhere = browser.post(
        f"/console/users/{victim}/suspend", form, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 400 and "another site" in text_of(elsewhere)
    with db.transaction() as conn:
        status = conn.execute(
            sa.select(users.c.account_status).where(users.c.id == victim)
        ).scalar_one()
    assert status == "active"
    same_site = browser.post(
        f"/console/users/{victim}/suspend", form, headers={"Origin": "http://localhost"}
    )
    assert same_site.status_code == 302
    # The sign-in form is protected too (login CSRF).
    assert (
        Browser(client).client.post("/console/sign-in", data={"login": "boss"}).status_code == 400
    )


def test_mfa_step(client: FlaskClient, auth: AuthActions) -> None:
    tokens = auth.register("guard")
    auth.set_role("guard", "admin")
    secret, recovery = enrol_mfa(client, auth.headers(tokens))
    browser = Browser(client)
    first = browser.sign_in("guard")
    assert first.status_code == 302 and first.headers["Location"].startswith(
        "/console/sign-in/code"
    )
    assert browser.get("/console/").status_code == 302  # not signed in yet
    page = browser.get("/console/sign-in/code")
    assert 'for="f-code"' in text_of(page)
    bad = browser.post("/console/sign-in/code", {"code": "000000"})
    assert bad.status_code in (400, 401, 422) and 'id="f-code-error"' in text_of(bad)
    good = browser.post(
        "/console/sign-in/code", {"code": totp.code_for(secret, now=time.time() + 30)}
    )
    assert good.status_code == 302 and good.headers["Location"] == "/console/"
    assert browser.get("/console/").status_code == 200
    # A recovery code works as the second step too.
    other = Browser(app_client(client))
    other.sign_in("guard")
    other.get("/console/sign-in/code")
    assert other.post("/console/sign-in/code", {"recovery_code": recovery[0]}).status_code == 302


def app_client(client: FlaskClient) -> FlaskClient:
    return client.application.test_client()


def test_lockout_and_rate_limit_are_the_apis(app: Flask, auth: AuthActions, db: Database) -> None:
    auth.register("boss")
    auth.set_role("boss", "admin")
    browser = Browser(app.test_client())
    for _ in range(5):  # LOCKOUT_THRESHOLD wrong passwords lock the account
        assert browser.sign_in("boss", "wrong password").status_code == 401
    with db.transaction() as conn:
        locked = conn.execute(
            sa.select(users.c.locked_until).where(users.c.username == "boss")
        ).scalar_one()
    assert locked is not None
    assert browser.sign_in("boss").status_code == 401  # the right password, still locked

    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    api = app.test_client()
    first = Browser(app.test_client())
    assert first.sign_in("nobody", "x").status_code == 401
    assert api.post("/api/v1/auth/login", json={"login": "n", "password": "x"}).status_code == 401
    assert first.sign_in("nobody", "x").status_code == 401
    limited = first.sign_in("nobody", "x")
    assert limited.status_code == 429 and "try again" in text_of(limited)
    assert api.post("/api/v1/auth/login", json={"login": "n", "password": "x"}).status_code == 429


def test_idle_and_absolute_timeouts(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    browser = console_admin(auth, client, "boss")
    before = live_sessions(db, auth.user_id("boss"))
    app.config["CONSOLE_IDLE_MINUTES"] = 0
    time.sleep(1.1)
    idle = browser.get("/console/users")
    assert idle.status_code == 302 and "without+activity" in idle.headers["Location"]
    assert live_sessions(db, auth.user_id("boss")) == before - 1
    app.config["CONSOLE_IDLE_MINUTES"] = 30
    browser.sign_in("boss")
    assert browser.get("/console/users").status_code == 200
    app.config["CONSOLE_ABSOLUTE_HOURS"] = 0
    time.sleep(1.1)
    ended = browser.get("/console/users")
    assert ended.status_code == 302 and "hours+after" in ended.headers["Location"]


def test_signing_out_everywhere_ends_the_console_session(
    client: FlaskClient, auth: AuthActions
) -> None:
    browser = console_admin(auth, client, "boss")
    chief = auth.headers(auth.register("chief"))
    auth.set_role("chief", "site_admin")
    chief = auth.headers(auth.login("chief"))
    ended = client.delete(f"/api/v1/admin/users/{auth.user_id('boss')}/sessions", headers=chief)
    assert ended.status_code == 200, ended.get_json()
    response = browser.get("/console/users")
    assert response.status_code == 302 and "session+has+ended" in response.headers["Location"]


def test_roles_of_pages(client: FlaskClient, auth: AuthActions) -> None:
    admin = console_admin(auth, client, "boss")
    auth.register("someone")
    someone = auth.user_id("someone")
    assert admin.get(f"/console/users/{someone}").status_code == 200
    refused = admin.post(f"/console/users/{someone}/role", {"role": "admin", "confirm": "yes"})
    assert refused.status_code == 403
    assert admin.post("/console/tenants/someone/verify").status_code == 403
    assert admin.post("/console/jobs/session_cleanup/run").status_code == 403
    assert 'action="/console/users/' + someone + '/role"' not in text_of(
        admin.get(f"/console/users/{someone}")
    )


def test_mfa_required_for_admins(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    from pathfinder.flags.system import set_system_flag

    browser = console_admin(auth, client, "boss")
    with db.transaction() as conn:
        set_system_flag(conn, "mfa_required_for_admins", True)
    response = browser.get("/console/users")
    assert response.status_code == 403 and "Enrol in MFA" in text_of(response)


def test_sign_in_works_in_maintenance(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    from pathfinder.flags.system import set_system_flag

    auth.register("boss")
    auth.set_role("boss", "admin")
    with db.transaction() as conn:
        set_system_flag(conn, "maintenance_mode", True)
    browser = Browser(client)
    assert browser.get("/console/sign-in").status_code == 200
    assert browser.sign_in("boss").status_code == 302
    assert browser.get("/console/").status_code == 200
    assert client.post("/api/v1/auth/register", json={}).status_code == 503
