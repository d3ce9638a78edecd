"""What a real provider's answers look like when someone tampers with them, end to end."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from pathfinder.sso.oidc import OidcClient
from tests.conftest import AuthActions
from tests.sso.helpers import SSO, SsoActions


def failure_reasons(sso: SsoActions) -> list[str]:
    return [r["details"]["reason"] for r in sso.audit_rows("authn_login_fail")]


def test_a_tampered_state_is_refused(sso: SsoActions) -> None:
    query = sso.at_provider(sso.start(), "tamper")
    forged = {
        **query,
        "state": query["state"][:-2] + ("AA" if query["state"][-2:] != "AA" else "BB"),
    }
    response = sso.callback(forged)
    assert response.status_code == 400
    assert response.get_json()["type"].endswith("sso-state-invalid")
    assert failure_reasons(sso) == ["sso_unknown_state"]
    # The genuine state still works: the forgery spent nothing.
    assert sso.callback(query).status_code == 200


def test_a_state_from_another_browser_is_refused(app: Flask, sso: SsoActions) -> None:
    """Login CSRF: a victim's browser brought to the attacker's callback URL lacks the
    attacker's binding cookie."""
    query = sso.at_provider(sso.start(), "csrf")
    victim = app.test_client()
    response = sso.callback(query, client=victim)
    assert response.status_code == 400
    assert response.get_json()["type"].endswith("sso-state-invalid")
    assert failure_reasons(sso) == ["sso_other_browser"]


def test_a_replayed_code_is_refused(sso: SsoActions) -> None:
    query = sso.at_provider(sso.start(), "replay")
    assert sso.callback(query).status_code == 200
    # The same answer again: its state is spent.
    again = sso.callback(query)
    assert again.status_code == 400 and again.get_json()["type"].endswith("sso-state-invalid")
    # The code with a fresh state: the provider refuses it (used, and not this verifier).
    fresh = sso.at_provider(sso.start(), "replay")
    replayed = sso.callback({**fresh, "code": query["code"]})
    assert replayed.status_code == 400
    assert replayed.get_json()["type"].endswith("sso-code-rejected")
    assert failure_reasons(sso)[-2:] == ["sso_state_reused", "sso_code_rejected:invalid_grant"]


def _replace_param(name: str, value: str) -> Callable[[str], str]:
    return lambda url: re.sub(rf"([?&]{name}=)[^&]*", rf"\g<1>{value}", url)


def test_a_wrong_nonce_is_refused(sso: SsoActions) -> None:
    query = sso.at_provider(sso.start(), "nonce", edit=_replace_param("nonce", "forged-nonce"))
    response = sso.callback(query)
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("sso-id-token-invalid")
    assert failure_reasons(sso) == ["sso_id_token:claims:invalid_claim:nonce"]


def test_a_changed_code_challenge_is_refused(sso: SsoActions) -> None:
    """PKCE: a code issued for another challenge cannot be redeemed with our verifier."""
    challenge = "A" * 43
    query = sso.at_provider(sso.start(), "pkce", edit=_replace_param("code_challenge", challenge))
    response = sso.callback(query)
    assert response.status_code == 400
    assert response.get_json()["type"].endswith("sso-code-rejected")


def test_an_expired_id_token_is_refused(make_sso_app: Callable[..., Flask], idp: Any) -> None:
    app = make_sso_app(SSO_CLOCK_SKEW_SECONDS=0)
    sso = SsoActions(app, app.test_client(), idp)
    # idp-short's client gets ID tokens valid for one second, and the provider answers the
    # code exchange 2.5 s after making them (tests/oidc/provider.json).
    query = sso.at_provider(sso.start("idp-short"), "late")
    response = sso.callback(query, provider="idp-short")
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("sso-id-token-invalid")
    assert failure_reasons(sso) == ["sso_id_token:claims:expired_token:exp"]


def test_an_unverified_email_creates_no_account_without_an_invitation(
    app: Flask, sso: SsoActions, auth: AuthActions
) -> None:
    offer = sso.sign_in("unverified").get_json()
    assert offer["email"] == "unverified@idp.test" and offer["email_verified"] is False
    refused = sso.client.post(
        f"{SSO}/register",
        json={"registration_token": offer["registration_token"], "username": "una"},
    )
    assert refused.status_code == 403
    assert refused.get_json()["type"].endswith("sso-email-unverified")

    # With an invitation the account gets the invited address, not the unverified one.
    from tests.admin.test_invitations import invite, token_for

    auth.register("boss")
    auth.set_role("boss", "admin")
    boss = auth.headers(auth.login("boss"))
    assert invite(sso.client, boss, {"email": "una@example.com"}).status_code == 201
    token = token_for(
        auth.app.extensions["pathfinder.database"] if False else _db(app), "una@example.com"
    )
    created = sso.client.post(
        f"{SSO}/register",
        json={
            "registration_token": offer["registration_token"],
            "username": "una",
            "invitation_token": token,
        },
    )
    assert created.status_code == 201, created.get_json()
    me = sso.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {created.get_json()['access_token']}"}
    ).get_json()
    assert me["email"] == "una@example.com" and me["email_verified"] is False


def _db(app: Flask) -> Any:
    from pathfinder.db import get_database

    return get_database(app)


def _client(app: Flask) -> OidcClient:
    return app.extensions["pathfinder.sso.clients"]["idp"]


@pytest.mark.slow
def test_a_rotated_signing_key_is_fetched_once(app: Flask, sso: SsoActions) -> None:
    assert sso.sign_in("rotation").status_code == 200
    assert sso.sign_in("rotation").status_code == 200
    client = _client(app)
    assert (client.metadata_fetches, client.jwks_fetches) == (1, 1)  # cached
    sso.idp.rotate_keys()
    after = sso.sign_in("rotation")
    assert after.status_code == 200, after.get_json()
    assert client.jwks_fetches == 2  # the new key id made one refetch
    assert sso.sign_in("rotation").status_code == 200
    assert client.jwks_fetches == 2


def test_a_token_signed_by_an_unknown_key_is_refused(app: Flask, sso: SsoActions) -> None:
    """A key id the provider does not publish, even after a refetch, is not trusted."""
    assert sso.sign_in("stranger").status_code == 200
    client = _client(app)
    rsa_key = __import__("joserfc.jwk", fromlist=["RSAKey"]).RSAKey.generate_key(
        2048, parameters={"kid": "not-published"}
    )
    from joserfc import jwt

    now = int(time.time())
    forged = jwt.encode(
        {"alg": "RS256", "kid": "not-published"},
        {
            "iss": sso.idp.base,
            "aud": "pathfinder",
            "sub": "stranger",
            "nonce": "n",
            "iat": now,
            "exp": now + 60,
        },
        rsa_key,
    )
    from pathfinder.sso.oidc import IdTokenRejected

    with app.app_context(), pytest.raises(IdTokenRejected) as caught:
        client.validate_id_token(forged, nonce="n", access_token=None)
    assert caught.value.reason == "unknown_signing_key"
