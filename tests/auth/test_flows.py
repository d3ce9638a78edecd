"""Identity flows end to end through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token

from pathfinder.db import Database
from pathfinder.schema.shared.identity import user_sessions, users
from pathfinder.schema.shared.messaging import outbox
from pathfinder.schema.shared.security import encryption_keys
from pathfinder.security import totp
from tests.conftest import DEFAULT_PASSWORD, AuthActions
from tests.provisioning.helpers import catalog_objects, expected_objects

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"


def problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def enrol_mfa(client: FlaskClient, headers: dict[str, str]) -> tuple[str, list[str]]:
    start = client.post(
        "/api/v1/auth/mfa/enroll", headers=headers, json={"password": DEFAULT_PASSWORD}
    )
    assert start.status_code == 201
    secret = start.get_json()["secret"]
    assert start.get_json()["otpauth_uri"].startswith("otpauth://totp/")
    confirm = client.post(
        "/api/v1/auth/mfa/confirm", headers=headers, json={"code": totp.code_for(secret)}
    )
    assert confirm.status_code == 200, confirm.get_json()
    codes = confirm.get_json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def test_full_flow(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    """register -> login -> refresh -> reuse (family revoked) -> MFA login -> recovery -> logout."""
    registered = auth.register("alice")
    assert registered["token_type"] == "Bearer"
    assert client.get("/api/v1/me", headers=auth.headers(registered)).status_code == 200

    tokens = auth.login("alice")
    rotated = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert client.get("/api/v1/me", headers=auth.headers(new)).status_code == 200

    reuse = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401
    assert problem(reuse)["type"].endswith("token-reuse")
    # The whole family is gone: the newer refresh token and its access token too.
    assert client.post(REFRESH, json={"refresh_token": new["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/me", headers=auth.headers(new)).status_code == 401
    # The registration session (another family) still works.
    assert client.get("/api/v1/me", headers=auth.headers(registered)).status_code == 200

    secret, codes = enrol_mfa(client, auth.headers(registered))
    challenge = client.post(LOGIN, json={"login": "alice", "password": DEFAULT_PASSWORD})
    assert challenge.status_code == 200
    body = challenge.get_json()
    assert body["mfa_required"] is True and "access_token" not in body
    # The MFA token is not an access token.
    mfa_headers = {"Authorization": f"Bearer {body['mfa_token']}"}
    assert client.get("/api/v1/me", headers=mfa_headers).status_code == 401
    wrong = client.post(
        "/api/v1/auth/login/mfa", json={"mfa_token": body["mfa_token"], "code": "000000"}
    )
    assert wrong.status_code == 401
    # The enrolment consumed the current step, so use the next one (as a clock would).
    import time

    next_code = totp.code_for(secret, now=time.time() + 30)
    verified = client.post(
        "/api/v1/auth/login/mfa", json={"mfa_token": body["mfa_token"], "code": next_code}
    )
    assert verified.status_code == 200, verified.get_json()
    mfa_tokens = verified.get_json()

    challenge2 = client.post(
        LOGIN, json={"login": "alice@example.com", "password": DEFAULT_PASSWORD}
    )
    recovery = client.post(
        "/api/v1/auth/login/mfa",
        json={"mfa_token": challenge2.get_json()["mfa_token"], "recovery_code": codes[0].upper()},
    )
    assert recovery.status_code == 200
    again = client.post(
        "/api/v1/auth/login/mfa",
        json={"mfa_token": challenge2.get_json()["mfa_token"], "recovery_code": codes[0]},
    )
    assert again.status_code == 401

    logout = client.post("/api/v1/auth/logout", headers=auth.headers(mfa_tokens))
    assert logout.status_code == 204
    assert client.get("/api/v1/me", headers=auth.headers(mfa_tokens)).status_code == 401


def test_registration_creates_tables_and_a_data_key(auth: AuthActions, db: Database) -> None:
    auth.register("bob")
    assert catalog_objects(db, "bob") == expected_objects(db, "bob")
    with db.transaction() as conn:
        user_id = conn.execute(sa.select(users.c.id).where(users.c.username == "bob")).scalar_one()
        keys = (
            conn.execute(
                sa.select(encryption_keys.c.status).where(encryption_keys.c.user_id == user_id)
            )
            .scalars()
            .all()
        )
        password_hash = conn.execute(
            sa.select(users.c.password_hash).where(users.c.id == user_id)
        ).scalar_one()
    assert keys == ["active"]
    assert password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in password_hash


def test_registration_is_closed_without_the_flag(client: FlaskClient, app: Flask) -> None:
    response = client.post(
        "/api/v1/auth/register",
        json={"username": "carol", "email": "c@example.com", "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 403
    assert problem(response)["type"].endswith("registration-closed")


def test_registration_rejects_bad_input_clearly(client: FlaskClient, auth: AuthActions) -> None:
    bad = client.post(
        "/api/v1/auth/register",
        json={"username": "bad-name", "email": "not-an-email", "password": DEFAULT_PASSWORD},
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in problem(bad)["errors"]}
    assert fields == {"username", "email"}
    assert DEFAULT_PASSWORD not in bad.get_data(as_text=True)

    weak = client.post(
        "/api/v1/auth/register",
        json={"username": "dave", "email": "d@example.com", "password": "short"},
    )
    assert weak.status_code == 422
    # Checked with the other fields (schema minLength), so it comes with their errors.
    assert [e["field"] for e in problem(weak)["errors"]] == ["password"]

    not_json = client.post("/api/v1/auth/register", data="x", content_type="text/plain")
    assert not_json.status_code == 415
    assert problem(not_json)["type"].endswith("unsupported-media-type")

    extra = client.post(
        "/api/v1/auth/register",
        json={
            "username": "dave",
            "email": "d@example.com",
            "password": DEFAULT_PASSWORD,
            "role": "site_admin",
        },
    )
    assert extra.status_code == 422


def test_usernames_and_emails_are_unique_case_folded(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register("erin")
    for username, email in (("ERIN", "other@example.com"), ("erin2", "ERIN@example.com")):
        response = client.post(
            "/api/v1/auth/register",
            json={"username": username, "email": email, "password": DEFAULT_PASSWORD},
        )
        assert response.status_code == 409
        assert problem(response)["type"].endswith("already-taken")


def test_failed_provisioning_leaves_nothing_and_a_retry_works(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    from pathfinder.provisioning import Provisioner

    def failing(database: Database) -> Provisioner:
        def hook(phase: str, step: object) -> None:
            if phase == "before" and getattr(step, "kind", "") == "index":
                raise RuntimeError("disk full (injected)")

        return Provisioner(database, on_step=hook, commit_each_step=True)

    app.extensions["pathfinder.provisioner_factory"] = failing
    body = {"username": "frank", "email": "f@example.com", "password": DEFAULT_PASSWORD}
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert problem(response)["type"].endswith("provisioning-failed")
    with db.transaction() as conn:
        assert (
            conn.execute(sa.select(users.c.id).where(users.c.username == "frank")).first() is None
        )
    assert catalog_objects(db, "frank") == set()

    del app.extensions["pathfinder.provisioner_factory"]
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    assert catalog_objects(db, "frank") == expected_objects(db, "frank")


def test_login_errors_are_uniform_and_lockout_engages(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    app.config["LOCKOUT_THRESHOLD"] = 3
    auth.register("gina")
    unknown = client.post(LOGIN, json={"login": "nobody_here", "password": DEFAULT_PASSWORD})
    wrong = client.post(LOGIN, json={"login": "gina", "password": "wrong password!!"})
    assert unknown.status_code == wrong.status_code == 401
    assert problem(unknown) == problem(wrong)

    for _ in range(2):
        client.post(LOGIN, json={"login": "gina", "password": "wrong password!!"})
    locked = client.post(LOGIN, json={"login": "gina", "password": DEFAULT_PASSWORD})
    assert locked.status_code == 401
    assert problem(locked) == problem(wrong)
    with db.transaction() as conn:
        row = conn.execute(sa.select(users.c.locked_until).where(users.c.username == "gina")).one()
        mails = (
            conn.execute(
                sa.select(outbox.c.template).where(outbox.c.recipient == "gina@example.com")
            )
            .scalars()
            .all()
        )
    assert row.locked_until is not None
    assert "account_locked" in mails

    # When the lock has run out, the right password works again.
    with db.transaction() as conn:
        conn.execute(
            users.update()
            .where(users.c.username == "gina")
            .values(locked_until=row.locked_until - timedelta(hours=1))
        )
    assert (
        client.post(LOGIN, json={"login": "gina", "password": DEFAULT_PASSWORD}).status_code == 200
    )


def test_concurrent_refresh_with_one_token_rotates_once(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    tokens = auth.register("hank")
    results: list[int] = []
    barrier = threading.Barrier(2)

    def refresh() -> None:
        with app.test_client() as own:
            barrier.wait()
            results.append(
                own.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).status_code
            )

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [200, 401]
    with db.transaction() as conn:
        live = conn.execute(
            sa.select(sa.func.count()).where(
                user_sessions.c.family_id == tokens["session_id"],
                user_sessions.c.revoked_at.is_(None),
            )
        ).scalar_one()
    assert live == 0  # the second use counted as reuse and ended the family


def test_sessions_list_and_revoke(client: FlaskClient, auth: AuthActions) -> None:
    first = auth.register("ivan")
    second = auth.login("ivan")
    other = auth.register("judy")
    listing = client.get("/api/v1/auth/sessions", headers=auth.headers(first)).get_json()["items"]
    assert len(listing) == 2
    assert sum(1 for s in listing if s["current"]) == 1
    assert {"ip_address", "user_agent", "created_at", "last_activity_at"} <= set(listing[0])

    # Another user's session id is not found, not forbidden.
    foreign = client.delete(
        f"/api/v1/auth/sessions/{other['session_id']}", headers=auth.headers(first)
    )
    assert foreign.status_code == 404
    ended = client.delete(
        f"/api/v1/auth/sessions/{second['session_id']}", headers=auth.headers(first)
    )
    assert ended.status_code == 204
    assert client.get("/api/v1/me", headers=auth.headers(second)).status_code == 401
    assert client.get("/api/v1/me", headers=auth.headers(other)).status_code == 200


def test_token_forgeries_are_refused(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    tokens = auth.register("kate")
    access = tokens["access_token"]
    head, payload, signature = access.split(".")
    tampered = (
        f"{head}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    )
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    )

    import base64
    import json

    def b64(data: dict) -> str:  # type: ignore[type-arg]
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "site_admin"
    none_token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {none_token}"})
    assert response.status_code == 401
    assert problem(response)["status"] == 401

    with app.app_context():
        expired = create_access_token(
            identity=claims["sub"],
            additional_claims={"type": "access", "sid": claims["sid"]},
            expires_delta=timedelta(seconds=-5),
        )
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in problem(response)["detail"]
    assert client.get("/api/v1/me").status_code == 401


def test_totp_codes_cannot_be_replayed(client: FlaskClient, auth: AuthActions) -> None:
    tokens = auth.register("liam")
    secret, _ = enrol_mfa(client, auth.headers(tokens))
    import time

    code = totp.code_for(secret, now=time.time() + 30)
    first = client.post(LOGIN, json={"login": "liam", "password": DEFAULT_PASSWORD}).get_json()
    ok = client.post("/api/v1/auth/login/mfa", json={"mfa_token": first["mfa_token"], "code": code})
    assert ok.status_code == 200
    second = client.post(LOGIN, json={"login": "liam", "password": DEFAULT_PASSWORD}).get_json()
    replay = client.post(
        "/api/v1/auth/login/mfa", json={"mfa_token": second["mfa_token"], "code": code}
    )
    assert replay.status_code == 401


def test_concurrent_registrations_of_one_name_give_one_account(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    results: list[int] = []
    barrier = threading.Barrier(2)

    def register(email: str) -> None:
        with app.test_client() as own:
            barrier.wait()
            body = {"username": "twin", "email": email, "password": DEFAULT_PASSWORD}
            results.append(own.post("/api/v1/auth/register", json=body).status_code)

    threads = [threading.Thread(target=register, args=(f"twin{i}@example.com",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [201, 409]
    assert catalog_objects(db, "twin") == expected_objects(db, "twin")
