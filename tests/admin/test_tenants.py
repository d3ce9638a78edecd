"""The provisioning registry over HTTP: list with filters, one user's objects, verify,
repair (audited) and the migration's progress; reading is for admins, repair for site admins."""

from __future__ import annotations

from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.provisioning.verify import verify_user
from pathfinder.schema.shared.system import tenant_provisioning
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables
from tests.admin import admin, audit_events, problem
from tests.conftest import AuthActions

TENANTS = "/api/v1/admin/tenants"


def test_list_filters_and_pages(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "boss")
    for name in ("tina", "tino", "tom"):
        auth.register(name)
    with db.transaction() as conn:
        conn.execute(
            tenant_provisioning.update()
            .where(tenant_provisioning.c.username == "tom")
            .values(state="failed", last_error="disk full")
        )

    def names(query: str) -> list[str]:
        response = client.get(f"{TENANTS}?{query}", headers=boss)
        assert response.status_code == 200, response.get_json()
        return [t["username"] for t in response.get_json()["items"]]

    assert names("") == ["boss", "tina", "tino", "tom"]
    assert names("q=TI") == ["tina", "tino"]
    assert names("q=%25") == []  # LIKE wildcards are literal
    assert names("state=failed") == ["tom"]
    assert names(f"below_version={LATEST_TEMPLATE_VERSION}") == []
    failed = client.get(f"{TENANTS}?state=failed", headers=boss).get_json()["items"][0]
    assert failed["last_error"] == "disk full"
    first = client.get(f"{TENANTS}?limit=3", headers=boss).get_json()
    assert [t["username"] for t in first["items"]] == ["boss", "tina", "tino"]
    rest = client.get(f"{TENANTS}?limit=3&cursor={first['next_cursor']}", headers=boss)
    assert [t["username"] for t in rest.get_json()["items"]] == ["tom"]
    assert rest.get_json()["next_cursor"] is None
    for bad in ("state=lost", "limit=0", "cursor=%%%", "below_version=0"):
        assert client.get(f"{TENANTS}?{bad}", headers=boss).status_code == 422, bad


def test_one_users_objects(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "boss")
    auth.register("nora")
    response = client.get(f"{TENANTS}/NORA", headers=boss)
    assert response.status_code == 200
    body = response.get_json()
    assert body["state"] == "ready" and body["template_version"] == LATEST_TEMPLATE_VERSION
    names = {o["object_name"] for o in body["objects"]}
    expected = {t.name for t in tenant_tables("nora").tables.values()}
    assert expected <= names
    assert all(name.startswith("pf_user_nora_") for name in names)
    for missing in ("nobody", "01J00000000000000000000000", "a"):
        assert problem(client.get(f"{TENANTS}/{missing}", headers=boss))["status"] == 404


def test_verify_and_repair_a_dropped_table(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "boss", role="site_admin")
    auth.register("rita")
    clean = client.post(f"{TENANTS}/rita/verify", headers=boss)
    assert clean.status_code == 200 and clean.get_json()["clean"] is True
    assert clean.get_json()["findings"] == []
    tables = tenant_tables("rita", schema=db.tenant_schema)
    victim = next(iter(tables.indexes()))[1]
    with db.connect() as conn, db.attached(conn, "rita"):
        victim.drop(conn)
        conn.commit()
    drift = client.post(f"{TENANTS}/rita/verify", headers=boss).get_json()
    assert drift["clean"] is False and drift["missing_indexes"] == [victim.name]
    repaired = client.post(f"{TENANTS}/rita/repair", headers=boss)
    assert repaired.status_code == 200 and repaired.get_json()["clean"] is True
    assert verify_user(db, "rita").clean
    rows = audit_events(db, "sys_dba_action")
    assert rows[-1]["target_display"] == "rita" and rows[-1]["actor_id"] == auth.user_id("boss")
    assert rows[-1]["details"]["command"] == "tenants repair"
    assert problem(client.post(f"{TENANTS}/nobody/repair", headers=boss))["status"] == 404


def test_repair_is_for_site_admins(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "boss")
    auth.register("rita")
    assert client.get(f"{TENANTS}/rita", headers=boss).status_code == 200
    assert client.post(f"{TENANTS}/rita/verify", headers=boss).status_code == 403
    assert client.post(f"{TENANTS}/rita/repair", headers=boss).status_code == 403
    user = auth.headers(auth.login("rita"))
    assert client.get(TENANTS, headers=user).status_code == 403


def test_migration_status(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "boss")
    auth.register("old_one")
    with db.transaction() as conn:
        conn.execute(
            tenant_provisioning.update()
            .where(tenant_provisioning.c.username == "old_one")
            .values(template_version=LATEST_TEMPLATE_VERSION - 1)
        )
    body = client.get(f"{TENANTS}/migration-status", headers=boss).get_json()
    assert body["latest_version"] == LATEST_TEMPLATE_VERSION
    assert body["ready_users"] == 2 and body["pending_migration"] == 1
    assert body["progress_percent"] == 50.0
    assert {"template_version": LATEST_TEMPLATE_VERSION - 1, "users": 1} in body["by_version"]
    assert body["by_state"] == {"ready": 2}
