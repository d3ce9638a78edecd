"""Feature flags through the HTTP API and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder.db import Database, get_database
from pathfinder.flags.evaluator import rollout_bucket
from pathfinder.flags.system import system_flag
from tests.admin import admin, audit_events, problem
from tests.conftest import AuthActions, make_app

FLAGS = "/api/v1/admin/flags"


def create_flag(client: FlaskClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"name": body.get("flag_key", "x"), "flag_type": "boolean", "default_value": False}
    payload.update(body)
    response = client.post(FLAGS, headers=headers, json=payload)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def my_flags(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/me/flags", headers=headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["flags"])


def create_group(
    client: FlaskClient, headers: dict[str, str], name: str, priority: int, **extra: Any
) -> str:
    response = client.post(
        "/api/v1/admin/groups", headers=headers, json={"name": name, "priority": priority, **extra}
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def override(client: FlaskClient, headers: dict[str, str], key: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"{FLAGS}/{key}/overrides", headers=headers, json={"reason": "test", **body}
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def test_every_precedence_step_through_the_api(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "flag_admin")
    alice = auth.headers(auth.register("alice"))
    bob = auth.headers(auth.register("bob"))
    alice_id = auth.user_id("alice")
    create_flag(client, boss, flag_key="beta_feature")

    seen = my_flags(client, alice)
    assert seen["beta_feature"] == {"value": False, "reason": "default"}
    assert seen["maintenance_mode"] == {"value": False, "reason": "default"}
    assert set(seen) >= {"self_registration_enabled", "mfa_required_for_admins"}

    # The default group's override is the "everyone" setting.
    everyone = create_group(client, boss, "everyone", 1, is_default=True)
    override(client, boss, "beta_feature", group_id=everyone, value=True)
    assert my_flags(client, alice)["beta_feature"] == {"value": True, "reason": "group_override"}

    # A group with a higher priority beats it, for its members only.
    testers = create_group(client, boss, "testers", 10)
    override(client, boss, "beta_feature", group_id=testers, value=False)
    assigned = client.put(
        f"/api/v1/admin/users/{alice_id}/group", headers=boss, json={"group_id": testers}
    )
    assert assigned.status_code == 200, assigned.get_json()
    assert my_flags(client, alice)["beta_feature"] == {"value": False, "reason": "group_override"}
    assert my_flags(client, bob)["beta_feature"] == {"value": True, "reason": "group_override"}

    # The user's own override beats every group, until it expires.
    expires = datetime.now(UTC) + timedelta(seconds=2)
    override(
        client, boss, "beta_feature", user_id=alice_id, value=True, expires_at=expires.isoformat()
    )
    assert my_flags(client, alice)["beta_feature"] == {"value": True, "reason": "user_override"}
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    assert my_flags(client, alice)["beta_feature"] == {"value": False, "reason": "group_override"}


def test_rollout_disabled_and_window(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "flag_admin")
    carol = auth.headers(auth.register("carol"))
    carol_id = auth.user_id("carol")
    create_flag(client, boss, flag_key="half", rollout_percentage=50)
    expected = rollout_bucket("half", carol_id) < 50
    for _ in range(3):  # the same answer on every request
        assert my_flags(client, carol)["half"] == (
            {"value": True, "reason": "rollout"}
            if expected
            else {"value": False, "reason": "default"}
        )
    assert (
        client.patch(f"{FLAGS}/half", headers=boss, json={"rollout_percentage": 100}).status_code
        == 200
    )
    assert my_flags(client, carol)["half"] == {"value": True, "reason": "rollout"}
    assert client.patch(f"{FLAGS}/half", headers=boss, json={"enabled": False}).status_code == 200
    assert my_flags(client, carol)["half"] == {"value": False, "reason": "disabled"}
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    create_flag(client, boss, flag_key="later", default_value=True, active_from=future)
    assert my_flags(client, carol)["later"] == {"value": True, "reason": "inactive"}


def test_flag_definitions_are_validated(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "flag_admin")

    def refused(body: dict[str, Any], field: str) -> None:
        response = client.post(FLAGS, headers=boss, json=body)
        assert response.status_code == 422, response.get_json()
        assert field in {e["field"] for e in problem(response)["errors"]}, problem(response)

    base = {"flag_key": "ok_key", "name": "n"}
    refused({**base, "flag_type": "boolean", "default_value": "yes"}, "default_value")
    refused({**base, "flag_type": "number", "default_value": True}, "default_value")
    refused({**base, "flag_type": "string", "default_value": 5}, "default_value")
    refused({**base, "flag_type": "colour", "default_value": 5}, "flag_type")
    refused({**base, "flag_key": "Bad-Key", "flag_type": "boolean", "default_value": 1}, "flag_key")
    refused(
        {**base, "flag_type": "boolean", "default_value": True, "allowed_values": [True]},
        "allowed_values",
    )
    refused(
        {**base, "flag_type": "string", "default_value": "c", "allowed_values": ["a", "b"]},
        "default_value",
    )
    refused(
        {**base, "flag_type": "string", "default_value": "a", "allowed_values": ["a", "a"]},
        "allowed_values.1",
    )
    refused(
        {**base, "flag_type": "string", "default_value": "a", "rollout_percentage": 10},
        "rollout_percentage",
    )
    refused(
        {**base, "flag_type": "boolean", "default_value": True, "rollout_percentage": 101},
        "rollout_percentage",
    )
    refused({**base, "flag_type": "boolean"}, "default_value")
    refused({**base, "flag_type": "json", "default_value": None}, "default_value")
    refused({**base, "flag_type": "boolean", "default_value": True, "surprise": 1}, "surprise")

    create_flag(
        client,
        boss,
        flag_key="colour",
        flag_type="string",
        default_value="red",
        allowed_values=["red", "green"],
    )
    duplicate = client.post(
        FLAGS,
        headers=boss,
        json={"flag_key": "colour", "name": "n", "flag_type": "boolean", "default_value": True},
    )
    assert duplicate.status_code == 409
    wrong = client.patch(f"{FLAGS}/colour", headers=boss, json={"default_value": "blue"})
    assert wrong.status_code == 422
    assert (
        client.patch(f"{FLAGS}/colour", headers=boss, json={"flag_type": "number"}).status_code
        == 422
    )
    assert client.get(f"{FLAGS}/nope", headers=boss).status_code == 404
    assert client.post(FLAGS, headers=boss, data="not json").status_code == 415
    assert client.post(FLAGS, headers=boss, json="not an object").status_code == 400


def test_changes_are_audited_with_old_and_new_values(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "flag_admin")
    flag = create_flag(
        client,
        boss,
        flag_key="colour",
        flag_type="string",
        default_value="red",
        allowed_values=["red", "green", "blue"],
    )
    changed = client.patch(f"{FLAGS}/colour", headers=boss, json={"default_value": "green"})
    assert changed.status_code == 200 and changed.get_json()["default_value"] == "green"
    dave_id = (auth.register("dave"), auth.user_id("dave"))[1]
    made = override(client, boss, "colour", user_id=dave_id, value="blue")
    patched = client.patch(
        f"{FLAGS}/colour/overrides/{made['id']}",
        headers=boss,
        json={"value": "red", "reason": "support ticket 42"},
    )
    assert patched.status_code == 200 and patched.get_json()["value"] == "red"
    # An allowed-values change that would strand the override is refused.
    stranded = client.patch(
        f"{FLAGS}/colour", headers=boss, json={"allowed_values": ["green", "blue"]}
    )
    assert stranded.status_code == 409
    assert problem(stranded)["override_ids"] == [made["id"]]
    assert client.delete(f"{FLAGS}/colour/overrides/{made['id']}", headers=boss).status_code == 204
    assert client.delete(f"{FLAGS}/colour/overrides/{made['id']}", headers=boss).status_code == 404
    assert client.delete(f"{FLAGS}/colour", headers=boss).status_code == 204
    assert client.get(f"{FLAGS}/colour", headers=boss).status_code == 404

    rows = [r for r in audit_events(db, "sys_config_changed") if r["target_id"] == flag["id"]]
    changes = [r["details"]["change"] for r in rows]
    assert changes == [
        "created",
        "updated",
        "override_created",
        "override_updated",
        "override_deleted",
        "deleted",
    ]
    updated = rows[1]["details"]
    assert updated["old"] == {"default_value": "red"} and updated["new"] == {
        "default_value": "green"
    }
    assert rows[3]["details"]["old"]["value"] == "blue"
    assert rows[3]["details"]["new"]["value"] == "red"
    assert all(r["actor_id"] == auth.user_id("flag_admin") for r in rows)


def test_override_rules(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "flag_admin")
    erin_id = (auth.register("erin"), auth.user_id("erin"))[1]
    group_id = create_group(client, boss, "g", 0)
    create_flag(
        client,
        boss,
        flag_key="limit",
        flag_type="number",
        default_value=10,
        allowed_values=[10, 20],
    )

    def attempt(body: dict[str, Any]) -> Any:
        return client.post(f"{FLAGS}/limit/overrides", headers=boss, json={"reason": "r", **body})

    both = attempt({"user_id": erin_id, "group_id": group_id, "value": 20})
    assert both.status_code == 422
    assert attempt({"value": 20}).status_code == 422
    assert attempt({"user_id": "01J00000000000000000000000", "value": 20}).status_code == 422
    assert attempt({"group_id": "01J00000000000000000000000", "value": 20}).status_code == 422
    assert attempt({"user_id": erin_id, "value": 30}).status_code == 422
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert attempt({"user_id": erin_id, "value": 20, "expires_at": past}).status_code == 422
    assert attempt({"user_id": erin_id, "value": 20, "reason": ""}).status_code == 422
    assert attempt({"user_id": erin_id, "value": 20}).status_code == 201
    assert attempt({"user_id": erin_id, "value": 10}).status_code == 409
    assert attempt({"group_id": group_id, "value": 20}).status_code == 201
    assert (
        client.post(
            f"{FLAGS}/nope/overrides",
            headers=boss,
            json={"user_id": erin_id, "value": 1, "reason": "r"},
        ).status_code
        == 404
    )

    listed = client.get(f"{FLAGS}/limit/overrides?limit=1", headers=boss).get_json()
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    rest = client.get(
        f"{FLAGS}/limit/overrides?limit=1&cursor={listed['next_cursor']}", headers=boss
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["id"] != listed["items"][0]["id"]
    only_groups = client.get(f"{FLAGS}/limit/overrides?target=group", headers=boss).get_json()
    assert [i["group_id"] for i in only_groups["items"]] == [group_id]
    bad = client.get(f"{FLAGS}/limit/overrides?cursor=garbage!!", headers=boss)
    assert bad.status_code == 422 and problem(bad)["errors"][0]["field"] == "cursor"
    assert client.get(f"{FLAGS}/limit/overrides?limit=1000", headers=boss).status_code == 422


def test_system_flags_are_switches_not_experiments(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "flag_admin", "site_admin")
    frank_id = (auth.register("frank"), auth.user_id("frank"))[1]
    key = "self_registration_enabled"
    assert client.delete(f"{FLAGS}/{key}", headers=boss).status_code == 409
    refused = client.patch(f"{FLAGS}/{key}", headers=boss, json={"enabled": False})
    assert refused.status_code == 422
    assert (
        client.patch(f"{FLAGS}/{key}", headers=boss, json={"rollout_percentage": 5}).status_code
        == 422
    )
    assert (
        client.patch(f"{FLAGS}/{key}", headers=boss, json={"default_value": "no"}).status_code
        == 422
    )
    system_override = client.post(
        f"{FLAGS}/{key}/overrides",
        headers=boss,
        json={"user_id": frank_id, "value": False, "reason": "r"},
    )
    assert system_override.status_code == 409
    closed = client.patch(f"{FLAGS}/{key}", headers=boss, json={"default_value": False})
    assert closed.status_code == 200
    with db.transaction() as conn:
        assert system_flag(conn, key) is False
    register = client.post(
        "/api/v1/auth/register",
        json={
            "username": "grace",
            "email": "grace@example.com",
            "password": "correct horse battery staple",
        },
    )
    assert register.status_code == 403


def test_maintenance_mode(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "flag_admin")
    user = auth.headers(auth.register("henry"))
    on = client.patch(f"{FLAGS}/maintenance_mode", headers=boss, json={"default_value": True})
    assert on.status_code == 200

    down = client.get("/api/v1/me", headers=user)
    assert down.status_code == 503
    assert problem(down)["type"].endswith(":maintenance")
    assert int(down.headers["Retry-After"]) > 0
    assert client.get("/api/v1/me/flags", headers=user).status_code == 503
    assert client.post("/api/v1/auth/register", json={}).status_code == 503
    assert client.get("/api/v1/invitations/whatever").status_code == 503
    # Health, signing in, admin routes, and an admin on any route keep working.
    assert client.get("/api/v1/health").status_code == 200
    admin_again = auth.headers(auth.login("flag_admin"))
    assert client.get("/api/v1/me", headers=admin_again).status_code == 200
    assert client.get(FLAGS, headers=admin_again).status_code == 200

    off = client.patch(f"{FLAGS}/maintenance_mode", headers=boss, json={"default_value": False})
    assert off.status_code == 200
    assert client.get("/api/v1/me", headers=user).status_code == 200


def test_cli_sets_flags_and_refuses_bad_values(
    client: FlaskClient, auth: AuthActions, runner: FlaskCliRunner, db: Database
) -> None:
    user = auth.headers(auth.register("ivan"))
    result = runner.invoke(args=["flags", "set", "maintenance_mode", "true"])
    assert result.exit_code == 0, result.output
    assert "maintenance_mode = true" in result.output
    assert client.get("/api/v1/me", headers=user).status_code == 503
    listing = runner.invoke(args=["flags", "list"])
    assert "maintenance_mode\ttrue\tdefault" in listing.output

    bad = runner.invoke(args=["flags", "set", "maintenance_mode", "perhaps"])
    assert bad.exit_code == 1 and "true or false" in bad.output
    missing = runner.invoke(args=["flags", "set", "no_such_flag", "1"])
    assert missing.exit_code == 1 and "No such feature flag" in missing.output

    assert runner.invoke(args=["flags", "set", "maintenance_mode", "false"]).exit_code == 0
    assert client.get("/api/v1/me", headers=user).status_code == 200
    cli_rows = [
        r for r in audit_events(db, "sys_config_changed") if r["details"].get("via") == "cli"
    ]
    assert len(cli_rows) == 2 and cli_rows[0]["actor_id"] is None
    assert cli_rows[0]["details"]["new"] == {"default_value": True}


def test_other_processes_see_a_change_within_the_cache_lifetime(
    app: Flask, client: FlaskClient, auth: AuthActions, database_url: str, tmp_path: Path
) -> None:
    """A second app on the same database stands in for another worker process."""
    boss = admin(auth, "flag_admin")
    create_flag(client, boss, flag_key="shared")
    other = make_app(database_url, tmp_path / "instance", FLAG_CACHE_SECONDS=1)
    try:
        with other.app_context():
            other_db = get_database(other)
            from pathfinder.flags.evaluator import evaluator_for_engine

            assert evaluator_for_engine(other_db.engine).one("shared").value is False
            changed = client.patch(f"{FLAGS}/shared", headers=boss, json={"default_value": True})
            assert changed.status_code == 200
            # Still cached over there, and fresh again once the lifetime has passed.
            assert evaluator_for_engine(other_db.engine).one("shared").value is False
            time.sleep(1.1)
            assert evaluator_for_engine(other_db.engine).one("shared").value is True
    finally:
        get_database(other).dispose()


def test_only_a_site_admin_changes_a_flag_that_guards_security(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    """A plain admin (a stolen admin token, say) cannot open registration or drop admin MFA."""
    plain = admin(auth, "plain_admin")
    site = admin(auth, "site_boss", "site_admin")
    for key, value in (("mfa_required_for_admins", False), ("self_registration_enabled", True)):
        refused = client.patch(f"{FLAGS}/{key}", headers=plain, json={"default_value": value})
        assert refused.status_code == 403, refused.get_json()
        assert refused.get_json()["type"].endswith("forbidden")
    with db.transaction() as conn:
        assert system_flag(conn, "mfa_required_for_admins") is False  # unchanged default
    # Maintenance mode switches no control off: an admin may still use it.
    ok = client.patch(f"{FLAGS}/maintenance_mode", headers=plain, json={"default_value": False})
    assert ok.status_code == 200
    done = client.patch(
        f"{FLAGS}/mfa_required_for_admins", headers=site, json={"default_value": True}
    )
    assert done.status_code == 200


def test_production_starts_with_mfa_required_for_admins(tmp_path: Path) -> None:
    from pathfinder.db.setup import init_database

    for production, expected in ((False, False), (True, True)):
        instance = tmp_path / f"p{int(production)}"
        app = make_app(f"sqlite:///{instance / 'pf.db'}", instance)
        database = get_database(app)
        init_database(database, production=production)
        with database.transaction() as conn:
            assert system_flag(conn, "mfa_required_for_admins") is expected
        database.dispose()
