"""User administration through the API: search, view, suspend, reset, sessions, groups."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import users
from tests.admin import admin, audit_events, link_token, mails, problem
from tests.conftest import DEFAULT_PASSWORD, AuthActions

USERS = "/api/v1/admin/users"


def test_search_filter_and_paginate(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "boss")
    for name in ("anna", "annabel", "bruno", "carla"):
        auth.register(name)
    with db.transaction() as conn:
        conn.execute(
            users.update()
            .where(users.c.username == "carla")
            .values(first_name="Annika", account_status="suspended")
        )

    def names(query: str) -> list[str]:
        response = client.get(f"{USERS}?{query}", headers=boss)
        assert response.status_code == 200, response.get_json()
        return [u["username"] for u in response.get_json()["items"]]

    assert names("q=ANN") == ["anna", "annabel", "carla"]  # username, e-mail or name
    assert names("q=bruno%40example") == ["bruno"]
    assert names("q=ann&status=suspended") == ["carla"]
    assert names("role=admin") == ["boss"]
    assert names("q=%25") == []  # LIKE wildcards are literal
    first = client.get(f"{USERS}?limit=2", headers=boss).get_json()
    assert [u["username"] for u in first["items"]] == ["anna", "annabel"]
    second = client.get(f"{USERS}?limit=2&cursor={first['next_cursor']}", headers=boss).get_json()
    assert [u["username"] for u in second["items"]] == ["boss", "bruno"]
    item = first["items"][0]
    assert "password_hash" not in item and "phone_number" not in item
    assert item["email"] == "anna@example.com" and item["role"] == "user"
    for bad in ("limit=0", "limit=101", "status=gone", "cursor=%%%", "sort=name"):
        response = client.get(f"{USERS}?{bad}", headers=boss)
        assert response.status_code == 422, bad


def test_view_one_user(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "boss")
    auth.register("dora")
    auth.login("dora")
    detail = client.get(f"{USERS}/{auth.user_id('dora')}", headers=boss)
    assert detail.status_code == 200
    body = detail.get_json()
    assert body["username"] == "dora" and body["live_sessions"] == 2
    assert body["account_status"] == "active" and body["total_logins"] == 2
    assert client.get(f"{USERS}/01J00000000000000000000000", headers=boss).status_code == 404


def test_suspend_and_reactivate(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "boss")
    tokens = auth.register("eve")
    eve = auth.user_id("eve")
    assert client.post(f"{USERS}/{eve}/suspend", headers=boss, json={}).status_code == 422
    done = client.post(f"{USERS}/{eve}/suspend", headers=boss, json={"reason": "abuse report 7"})
    assert done.status_code == 200 and done.get_json()["account_status"] == "suspended"
    assert done.get_json()["live_sessions"] == 0
    assert client.get("/api/v1/me", headers=auth.headers(tokens)).status_code == 401
    login = client.post("/api/v1/auth/login", json={"login": "eve", "password": DEFAULT_PASSWORD})
    assert login.status_code == 401
    again = client.post(f"{USERS}/{eve}/suspend", headers=boss, json={"reason": "x"})
    assert again.status_code == 409
    row = audit_events(db, "user_suspended")[-1]
    assert row["target_id"] == eve and row["details"]["reason"] == "abuse report 7"
    assert row["details"]["devices_signed_out"] == 1

    back = client.post(f"{USERS}/{eve}/reactivate", headers=boss, json={})
    assert back.status_code == 200 and back.get_json()["account_status"] == "active"
    auth.login("eve")
    assert client.post(f"{USERS}/{eve}/reactivate", headers=boss, json={}).status_code == 409
    assert audit_events(db, "user_reactivated")[-1]["target_id"] == eve


def test_who_may_act_on_whom(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "boss")
    top = admin(auth, "top", "site_admin")
    admin(auth, "peer")
    peer = auth.user_id("peer")
    refused = client.post(f"{USERS}/{peer}/suspend", headers=boss, json={"reason": "r"})
    assert refused.status_code == 403 and problem(refused)["type"].endswith("insufficient-rank")
    selfish = client.post(
        f"{USERS}/{auth.user_id('boss')}/suspend", headers=boss, json={"reason": "r"}
    )
    assert selfish.status_code == 409 and problem(selfish)["type"].endswith("self-action")
    assert (
        client.post(f"{USERS}/{peer}/suspend", headers=top, json={"reason": "r"}).status_code == 200
    )
    unknown = client.post(
        f"{USERS}/01J00000000000000000000000/suspend", headers=top, json={"reason": "r"}
    )
    assert unknown.status_code == 404


def test_force_password_reset(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "boss")
    tokens = auth.register("finn")
    finn = auth.user_id("finn")
    assert client.post(f"{USERS}/{finn}/password-reset", headers=boss, json={}).status_code == 422
    reset = client.post(
        f"{USERS}/{finn}/password-reset", headers=boss, json={"reason": "credential leak"}
    )
    assert reset.status_code == 200 and reset.get_json()["sessions_ended"] == 1
    assert client.get("/api/v1/me", headers=auth.headers(tokens)).status_code == 401
    old = client.post("/api/v1/auth/login", json={"login": "finn", "password": DEFAULT_PASSWORD})
    assert old.status_code == 401
    token = link_token(mails(db, "finn@example.com", "password_reset")[-1]["body"], "x")
    new_password = "a brand new passphrase here"
    done = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": new_password}
    )
    assert done.status_code == 204
    auth.login("finn", new_password)
    row = audit_events(db, "authn_password_reset_request")[-1]
    assert row["actor_id"] == auth.user_id("boss") and row["details"]["forced"] is True


def test_revoke_sessions(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "boss")
    first = auth.register("gil")
    second = auth.login("gil")
    gil = auth.user_id("gil")
    ended = client.delete(f"{USERS}/{gil}/sessions", headers=boss, json={"reason": "lost phone"})
    assert ended.status_code == 200 and ended.get_json()["sessions_ended"] == 2
    for tokens in (first, second):
        assert client.get("/api/v1/me", headers=auth.headers(tokens)).status_code == 401
    auth.login("gil")  # the account itself still works


def test_group_assignment(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "boss")
    auth.register("hana")
    hana = auth.user_id("hana")
    group = client.post("/api/v1/admin/groups", headers=boss, json={"name": "beta"}).get_json()
    assert client.put(f"{USERS}/{hana}/group", headers=boss, json={}).status_code == 422
    missing = client.put(
        f"{USERS}/{hana}/group", headers=boss, json={"group_id": "01J00000000000000000000000"}
    )
    assert missing.status_code == 422 and problem(missing)["errors"][0]["field"] == "group_id"
    put = client.put(f"{USERS}/{hana}/group", headers=boss, json={"group_id": group["id"]})
    assert put.status_code == 200 and put.get_json()["feature_group_name"] == "beta"
    listed = client.get(f"{USERS}?group_id={group['id']}", headers=boss).get_json()
    assert [u["username"] for u in listed["items"]] == ["hana"]
    cleared = client.put(f"{USERS}/{hana}/group", headers=boss, json={"group_id": None})
    assert cleared.get_json()["feature_group_id"] is None
    changes = [r["details"] for r in audit_events(db, "user_updated") if r["target_id"] == hana]
    assert changes[-2:] == [
        {"feature_group_id": {"old": None, "new": group["id"]}},
        {"feature_group_id": {"old": group["id"], "new": None}},
    ]
    with db.transaction() as conn:
        assert (
            conn.execute(sa.select(users.c.feature_group_id).where(users.c.id == hana)).scalar()
            is None
        )
