"""Guessing the second factor: wrong codes count towards the lockout, and one MFA token
gives at most one session.

Measured on the previous code: 60 wrong codes on one mfa_token, no lock, then the right
code answered 200, and the same token gave a second session.
"""

from __future__ import annotations

import time

from flask.testing import FlaskClient

from pathfinder.security import totp
from tests.auth.test_flows import LOGIN, enrol_mfa
from tests.conftest import DEFAULT_PASSWORD, AuthActions

VERIFY = "/api/v1/auth/login/mfa"


def _challenge(client: FlaskClient, login: str) -> str:
    answer = client.post(LOGIN, json={"login": login, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["mfa_token"])


def test_wrong_codes_lock_the_account_then_even_the_right_code_fails(
    client: FlaskClient, auth: AuthActions
) -> None:
    secret, _ = enrol_mfa(client, auth.headers(auth.register("mona")))
    token = _challenge(client, "mona")
    threshold = int(client.application.config.get("LOCKOUT_THRESHOLD", 5))
    for n in range(threshold):
        wrong = client.post(VERIFY, json={"mfa_token": token, "code": f"{n:06d}"})
        assert wrong.status_code == 401
    right = totp.code_for(secret, now=time.time() + 30)
    assert client.post(VERIFY, json={"mfa_token": token, "code": right}).status_code == 401
    # Locked: the password step is refused too, until the lock expires.
    relogin = client.post(LOGIN, json={"login": "mona", "password": DEFAULT_PASSWORD})
    assert relogin.status_code == 401


def test_one_mfa_token_gives_one_session(client: FlaskClient, auth: AuthActions) -> None:
    secret, codes = enrol_mfa(client, auth.headers(auth.register("nils")))
    token = _challenge(client, "nils")
    first = client.post(
        VERIFY, json={"mfa_token": token, "code": totp.code_for(secret, now=time.time() + 30)}
    )
    assert first.status_code == 200
    second = client.post(VERIFY, json={"mfa_token": token, "recovery_code": codes[0]})
    assert second.status_code == 401
    assert "already used" in second.get_json()["detail"]


def test_a_forged_mfa_token_without_a_challenge_is_refused(
    client: FlaskClient, auth: AuthActions
) -> None:
    from flask_jwt_extended import create_access_token

    registered = auth.register("olga")
    enrol_mfa(client, auth.headers(registered))
    with client.application.app_context():
        user_id = auth.user_id("olga")
        token = create_access_token(identity=user_id, additional_claims={"type": "mfa"})
    assert client.post(VERIFY, json={"mfa_token": token, "code": "123456"}).status_code == 401


def test_enrolling_mfa_needs_the_current_password(client: FlaskClient, auth: AuthActions) -> None:
    """A stolen access token alone cannot enrol a factor and lock the owner out."""
    headers = auth.headers(auth.register("petra"))
    bare = client.post("/api/v1/auth/mfa/enroll", headers=headers)
    assert bare.status_code == 422  # the password is a required field
    wrong = client.post(
        "/api/v1/auth/mfa/enroll", headers=headers, json={"password": "not the password"}
    )
    assert wrong.status_code == 403
    assert wrong.get_json()["type"].endswith("reauthentication-failed")
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me.get("mfa_enabled") in (False, None)
    ok = client.post(
        "/api/v1/auth/mfa/enroll", headers=headers, json={"password": DEFAULT_PASSWORD}
    )
    assert ok.status_code == 201
