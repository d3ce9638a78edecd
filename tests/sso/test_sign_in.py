"""Signing in and registering with a real OpenID Connect provider, end to end.

The provider is ``oidc-provider`` (tests/oidc), driven over HTTP; the app is called through
the Flask test client, which keeps the browser-binding cookie like a browser.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import get_database
from pathfinder.schema.shared.identity import sso_accounts, sso_flows, users
from tests.conftest import AuthActions
from tests.sso.helpers import SSO, SsoActions


def test_start_redirects_with_pkce_state_and_nonce(app: Flask, sso: SsoActions) -> None:
    response = sso.client.get(f"{SSO}/idp/start")
    assert response.status_code == 302 and response.get_data() == b""
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["response_type"] == "code" and params["client_id"] == "pathfinder"
    assert set(params["scope"].split()) == {"openid", "email", "profile"}
    assert params["redirect_uri"] == "http://localhost/api/v1/auth/sso/idp/callback"
    assert params["state"] and params["nonce"] and params["state"] != params["nonce"]
    cookie = response.headers["Set-Cookie"]
    assert "pf_sso_binding=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with get_database(app).transaction() as conn:
        row = conn.execute(sa.select(sso_flows)).mappings().one()
    # Only hashes are stored: neither the state, nor the nonce, nor the verifier.
    assert row["state_hash"] == hashlib.sha256(params["state"].encode()).hexdigest()
    assert params["state"] not in str(dict(row)) and params["nonce"] not in str(dict(row))


def test_providers_are_listed(client: FlaskClient) -> None:
    names = [p["name"] for p in client.get(f"{SSO}/providers").get_json()["items"]]
    assert names == ["idp", "idp-short"]


def test_a_new_identity_registers_and_then_signs_in(app: Flask, sso: SsoActions) -> None:
    sso_login = "newcomer"
    AuthActions(app, sso.client).allow_self_registration()
    created = sso.register(sso_login, "newcomer")
    assert created.status_code == 201, created.get_json()
    headers = {"Authorization": f"Bearer {created.get_json()['access_token']}"}
    me = sso.client.get("/api/v1/me", headers=headers).get_json()
    assert me["username"] == "newcomer" and me["email"] == "newcomer@idp.test"
    accounts = sso.client.get(f"{SSO}/accounts", headers=headers).get_json()["items"]
    assert [(a["provider"], a["is_primary"], a["email"]) for a in accounts] == [
        ("idp", True, "newcomer@idp.test")
    ]
    assert accounts[0]["display_name"] == "Test newcomer"

    again = sso.sign_in(sso_login)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["token_type"] == "Bearer"
    with get_database(app).transaction() as conn:
        user = conn.execute(sa.select(users).where(users.c.username == "newcomer")).mappings().one()
        link = conn.execute(sa.select(sso_accounts)).mappings().one()
    assert user["password_hash"] is None and user["email_verified"] is True
    # Provider tokens are not kept.
    assert link["access_token"] is None and link["refresh_token"] is None
    assert link["issuer"] == sso.idp.base and link["provider_user_id"] == sso_login
    methods = [r["details"]["method"] for r in sso.audit_rows("authn_login_success")]
    assert methods == ["sso_registration", "sso:idp"]
    assert [r["details"]["via"] for r in sso.audit_rows("user_created")] == ["sso:idp"]
    assert len(sso.audit_rows("authn_sso_linked")) == 1


def test_an_identity_never_attaches_by_email(
    app: Flask, sso: SsoActions, auth: AuthActions
) -> None:
    # alice registered with a password under the address the provider also asserts.
    auth.register("alice", email="mallory@idp.test")
    offer = sso.sign_in("mallory")
    assert offer.status_code == 200
    assert offer.get_json()["registration_required"] is True
    assert "access_token" not in offer.get_json()
    taken = sso.client.post(
        f"{SSO}/register",
        json={"registration_token": offer.get_json()["registration_token"], "username": "mal"},
    )
    assert taken.status_code == 409 and taken.get_json()["type"].endswith("already-taken")
    with get_database(app).transaction() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sso_accounts)).scalar() == 0


def test_registration_needs_open_registration_or_an_invitation(sso: SsoActions) -> None:
    closed = sso.register("closed-door", "closed")
    assert closed.status_code == 403
    assert closed.get_json()["type"].endswith("registration-closed")


def test_a_registration_token_works_once(app: Flask, sso: SsoActions) -> None:
    AuthActions(app, sso.client).allow_self_registration()
    offer = sso.sign_in("twice").get_json()
    body = {"registration_token": offer["registration_token"], "username": "twice"}
    assert sso.client.post(f"{SSO}/register", json=body).status_code == 201
    again = sso.client.post(f"{SSO}/register", json={**body, "username": "twice_again"})
    assert again.status_code == 401
    assert again.get_json()["type"].endswith("sso-registration-invalid")


def test_the_provider_refusing_is_a_clear_problem(sso: SsoActions) -> None:
    query = sso.at_provider(sso.start(), "refuser", consent=False)
    assert query["error"] == "access_denied"
    response = sso.callback(query)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("sso-denied")
    assert response.get_json()["error"] == "access_denied"


def test_unknown_provider_is_404(client: FlaskClient) -> None:
    for path in ("nope/start", "nope/callback?state=x&code=y"):
        response = client.get(f"{SSO}/{path}")
        assert response.status_code == 404
        assert response.get_json()["type"].endswith("sso-provider-unknown")
