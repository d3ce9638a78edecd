"""User groups through the API: CRUD, one default group, members, deletion."""

from __future__ import annotations

from flask.testing import FlaskClient

from pathfinder.db import Database
from tests.admin import admin, audit_events, problem
from tests.conftest import AuthActions

GROUPS = "/api/v1/admin/groups"


def test_group_crud_and_one_default(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "boss")
    first = client.post(
        GROUPS, headers=boss, json={"name": "alpha", "priority": 5, "is_default": True}
    )
    assert first.status_code == 201, first.get_json()
    alpha = first.get_json()
    assert alpha["is_default"] is True and alpha["members"] == 0
    dup = client.post(GROUPS, headers=boss, json={"name": "alpha"})
    assert dup.status_code == 409 and problem(dup)["type"].endswith("already-taken")
    for bad in ({}, {"name": ""}, {"name": "x", "priority": 5000}, {"name": "x", "colour": 1}):
        assert client.post(GROUPS, headers=boss, json=bad).status_code == 422, bad

    beta = client.post(GROUPS, headers=boss, json={"name": "beta", "is_default": True}).get_json()
    assert client.get(f"{GROUPS}/{alpha['id']}", headers=boss).get_json()["is_default"] is False
    assert beta["is_default"] is True
    renamed = client.patch(
        f"{GROUPS}/{alpha['id']}",
        headers=boss,
        json={"name": "alpha2", "priority": 9, "is_default": True},
    )
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "alpha2"
    listed = client.get(GROUPS, headers=boss).get_json()["items"]
    assert [(g["name"], g["is_default"]) for g in listed] == [("alpha2", True), ("beta", False)]
    taken = client.patch(f"{GROUPS}/{alpha['id']}", headers=boss, json={"name": "beta"})
    assert taken.status_code == 409
    page = client.get(f"{GROUPS}?limit=1", headers=boss).get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    unknown = "01J00000000000000000000000"
    assert client.get(f"{GROUPS}/{unknown}", headers=boss).status_code == 404
    assert (
        client.patch(f"{GROUPS}/{unknown}", headers=boss, json={"priority": 1}).status_code == 404
    )

    changes = [
        r["details"]["change"]
        for r in audit_events(db, "sys_config_changed")
        if r["target_type"] == "user_group"
    ]
    assert changes == ["created", "created", "updated"]
    update = [
        r for r in audit_events(db, "sys_config_changed") if r["target_type"] == "user_group"
    ][-1]["details"]
    assert update["old"] == {"name": "alpha", "priority": 5, "is_default": False}
    assert update["new"] == {"name": "alpha2", "priority": 9, "is_default": True}


def test_members_and_deletion(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "boss")
    auth.register("ivy")
    auth.register("jay")
    ivy, jay = auth.user_id("ivy"), auth.user_id("jay")
    group = client.post(GROUPS, headers=boss, json={"name": "cohort"}).get_json()
    unknown = "01J00000000000000000000000"
    added = client.post(
        f"{GROUPS}/{group['id']}/members", headers=boss, json={"user_ids": [ivy, jay, unknown, ivy]}
    )
    assert added.status_code == 200
    assert sorted(added.get_json()["assigned"]) == sorted([ivy, jay])
    assert added.get_json()["not_found"] == [unknown]
    assert client.get(f"{GROUPS}/{group['id']}", headers=boss).get_json()["members"] == 2
    assert (
        client.post(
            f"{GROUPS}/{group['id']}/members", headers=boss, json={"user_ids": []}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"{GROUPS}/{unknown}/members", headers=boss, json={"user_ids": [ivy]}
        ).status_code
        == 404
    )

    flag = client.post(
        "/api/v1/admin/flags",
        headers=boss,
        json={
            "flag_key": "cohort_feature",
            "name": "c",
            "flag_type": "boolean",
            "default_value": False,
        },
    )
    assert flag.status_code == 201
    made = client.post(
        "/api/v1/admin/flags/cohort_feature/overrides",
        headers=boss,
        json={"group_id": group["id"], "value": True, "reason": "pilot"},
    )
    assert made.status_code == 201
    ivy_flags = client.get("/api/v1/me/flags", headers=auth.headers(auth.login("ivy")))
    assert ivy_flags.get_json()["flags"]["cohort_feature"]["value"] is True

    assert client.delete(f"{GROUPS}/{group['id']}", headers=boss).status_code == 204
    assert client.delete(f"{GROUPS}/{group['id']}", headers=boss).status_code == 404
    detail = client.get(f"/api/v1/admin/users/{ivy}", headers=boss).get_json()
    assert detail["feature_group_id"] is None
    overrides = client.get("/api/v1/admin/flags/cohort_feature/overrides", headers=boss)
    assert overrides.get_json()["items"] == []
    ivy_flags = client.get("/api/v1/me/flags", headers=auth.headers(auth.login("ivy")))
    assert ivy_flags.get_json()["flags"]["cohort_feature"] == {"value": False, "reason": "default"}
