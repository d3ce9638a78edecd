"""Linking, listing and unlinking providers, and MFA on a single sign-on, end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from pathfinder.security import totp
from tests.auth.test_flows import enrol_mfa
from tests.conftest import DEFAULT_PASSWORD, AuthActions
from tests.sso.helpers import SSO, SsoActions


def test_link_sign_in_and_unlink(sso: SsoActions, auth: AuthActions) -> None:
    auth.register("carol")
    headers = auth.headers(auth.login("carol"))
    # An access token alone cannot link: the password is needed.
    bare = sso.client.post(f"{SSO}/idp/link", headers=headers, json={})
    assert bare.status_code == 403 and bare.get_json()["type"].endswith("reauthentication-required")
    wrong = sso.client.post(f"{SSO}/idp/link", headers=headers, json={"password": "wrong" * 4})
    assert wrong.status_code == 403 and wrong.get_json()["type"].endswith("reauthentication-failed")

    linked = sso.link(headers, "carol-at-idp", password=DEFAULT_PASSWORD)
    assert linked.status_code == 201, linked.get_json()
    account = linked.get_json()
    assert account["provider"] == "idp" and account["is_primary"] is True

    # The provider now signs carol in, as carol.
    signed_in = sso.sign_in("carol-at-idp")
    assert signed_in.status_code == 200, signed_in.get_json()
    me = sso.client.get("/api/v1/me", headers=auth.headers(signed_in.get_json())).get_json()
    assert me["username"] == "carol"

    listed = sso.client.get(f"{SSO}/accounts", headers=headers).get_json()["items"]
    assert [a["id"] for a in listed] == [account["id"]] and listed[0]["last_used_at"]

    # Linking it again is a conflict, not a second row.
    again = sso.link(headers, "carol-at-idp", password=DEFAULT_PASSWORD)
    assert again.status_code == 409 and again.get_json()["type"].endswith("sso-already-linked")

    assert sso.client.delete(f"{SSO}/accounts/{account['id']}", headers=headers).status_code == 204
    assert sso.client.get(f"{SSO}/accounts", headers=headers).get_json()["items"] == []
    # Unlinked: the identity signs in to nothing any more.
    assert sso.sign_in("carol-at-idp").get_json()["registration_required"] is True

    linked_rows = sso.audit_rows("authn_sso_linked")
    assert [r["outcome"] for r in linked_rows] == ["success", "failure"]
    assert linked_rows[0]["actor_id"] == auth.user_id("carol")
    assert [r["outcome"] for r in sso.audit_rows("authn_sso_unlinked")] == ["success"]


def test_an_identity_linked_elsewhere_cannot_be_linked_again(
    sso: SsoActions, auth: AuthActions
) -> None:
    auth.register("dave")
    auth.register("erin")
    dave = auth.headers(auth.login("dave"))
    erin = auth.headers(auth.login("erin"))
    assert sso.link(dave, "shared-identity", password=DEFAULT_PASSWORD).status_code == 201
    taken = sso.link(erin, "shared-identity", password=DEFAULT_PASSWORD)
    assert taken.status_code == 409 and taken.get_json()["type"].endswith("sso-identity-in-use")
    assert sso.client.get(f"{SSO}/accounts", headers=erin).get_json()["items"] == []


def test_the_last_way_to_sign_in_is_never_unlinked(app: Flask, sso: SsoActions) -> None:
    AuthActions(app, sso.client).allow_self_registration()
    tokens = sso.register("solo", "solo").get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    first = sso.client.get(f"{SSO}/accounts", headers=headers).get_json()["items"][0]
    refused = sso.client.delete(f"{SSO}/accounts/{first['id']}", headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("sso-last-sign-in-method")
    # No password: a recent sign-in is the re-authentication for linking another provider.
    second = sso.link(headers, "solo-second")
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["is_primary"] is False
    assert sso.client.delete(f"{SSO}/accounts/{first['id']}", headers=headers).status_code == 204
    remaining = sso.client.get(f"{SSO}/accounts", headers=headers).get_json()["items"]
    assert [(a["id"], a["is_primary"]) for a in remaining] == [(second.get_json()["id"], True)]
    unlinked = sso.audit_rows("authn_sso_unlinked")
    assert [r["outcome"] for r in unlinked] == ["failure", "success"]


def test_one_link_is_primary(sso: SsoActions, auth: AuthActions) -> None:
    auth.register("kim")
    headers = auth.headers(auth.login("kim"))
    first = sso.link(headers, "kim-one", password=DEFAULT_PASSWORD).get_json()
    second = sso.link(headers, "kim-two", password=DEFAULT_PASSWORD).get_json()
    assert (first["is_primary"], second["is_primary"]) == (True, False)
    made = sso.client.post(f"{SSO}/accounts/{second['id']}/primary", headers=headers)
    assert made.status_code == 200 and made.get_json()["is_primary"] is True
    listed = sso.client.get(f"{SSO}/accounts", headers=headers).get_json()["items"]
    assert [(a["id"], a["is_primary"]) for a in listed] == [
        (first["id"], False),
        (second["id"], True),
    ]


def test_another_users_link_is_404(sso: SsoActions, auth: AuthActions) -> None:
    auth.register("frank")
    auth.register("grace")
    frank = auth.headers(auth.login("frank"))
    link = sso.link(frank, "frank-idp", password=DEFAULT_PASSWORD).get_json()
    grace = auth.headers(auth.login("grace"))
    assert sso.client.delete(f"{SSO}/accounts/{link['id']}", headers=grace).status_code == 404
    primary = sso.client.post(f"{SSO}/accounts/{link['id']}/primary", headers=grace)
    assert primary.status_code == 404
    assert len(sso.client.get(f"{SSO}/accounts", headers=frank).get_json()["items"]) == 1


def test_mfa_still_applies_to_a_single_sign_on(sso: SsoActions, auth: AuthActions) -> None:
    auth.register("heidi")
    headers = auth.headers(auth.login("heidi"))
    assert sso.link(headers, "heidi-idp", password=DEFAULT_PASSWORD).status_code == 201
    secret, _codes = enrol_mfa(sso.client, headers)

    # Even when the provider says it used a second factor: this provider is not trusted to.
    challenge = sso.sign_in("heidi-idp", amr=("pwd", "mfa"))
    assert challenge.status_code == 200 and challenge.get_json()["mfa_required"] is True
    import time

    finished = sso.client.post(
        "/api/v1/auth/login/mfa",
        json={
            "mfa_token": challenge.get_json()["mfa_token"],
            "code": totp.code_for(secret, now=time.time() + 30),
        },
    )
    assert finished.status_code == 200, finished.get_json()
    methods = [r["details"]["method"] for r in sso.audit_rows("authn_login_success")]
    assert methods[-1] == "sso:idp+totp"


def test_a_trusted_provider_asserting_mfa_skips_the_second_step(
    make_sso_app: Callable[..., Flask], idp: Any
) -> None:
    app = make_sso_app(providers={"idp": {"trust_mfa": True}})
    client = app.test_client()
    sso, auth = SsoActions(app, client, idp), AuthActions(app, client)
    auth.allow_self_registration()
    auth.register("ivan")
    headers = auth.headers(auth.login("ivan"))
    assert sso.link(headers, "ivan-idp", password=DEFAULT_PASSWORD).status_code == 201
    enrol_mfa(client, headers)
    # Only a password at the provider: Pathfinder's own second factor is still asked for.
    assert sso.sign_in("ivan-idp", amr=("pwd",)).get_json()["mfa_required"] is True
    direct = sso.sign_in("ivan-idp", amr=("pwd", "mfa"))
    assert direct.get_json()["token_type"] == "Bearer"
    methods = [r["details"]["method"] for r in sso.audit_rows("authn_login_success")]
    assert methods[-1] == "sso:idp+provider_mfa"


def test_a_locked_account_cannot_sign_in_with_a_provider(
    sso: SsoActions, auth: AuthActions
) -> None:
    auth.register("judy")
    headers = auth.headers(auth.login("judy"))
    assert sso.link(headers, "judy-idp", password=DEFAULT_PASSWORD).status_code == 201
    for _ in range(5):
        sso.client.post("/api/v1/auth/login", json={"login": "judy", "password": "x" * 12})
    refused = sso.sign_in("judy-idp")
    assert refused.status_code == 401 and refused.get_json()["type"].endswith("sso-sign-in-refused")
