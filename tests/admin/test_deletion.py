"""Account deletion: cooling-off, cancellation, the queue, and an erasure that touches
nobody else (users whose names are prefixes of each other: ``john`` and ``john_doe``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder import audit
from pathfinder.admin.deletion import process_due_deletions
from pathfinder.db import Database
from pathfinder.provisioning import registry
from pathfinder.schema.shared import cpa, cpa_sharing
from pathfinder.schema.shared.identity import sso_accounts, user_sessions, users
from pathfinder.schema.shared.messaging import outbox
from pathfinder.schema.shared.security import audit_log, encryption_keys
from pathfinder.security.keys import get_key_store
from pathfinder.security.rotation import UserRef
from pathfinder.security.shredding import user_keys_destroyed
from tests.admin import admin, audit_events, mails, problem
from tests.conftest import DEFAULT_PASSWORD, AuthActions
from tests.provisioning.helpers import catalog_objects, expected_objects, registered
from tests.security import raw_values, read_plaintexts, seed_user_data

DELETION = "/api/v1/me/deletion"


def test_schedule_see_and_cancel(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    me = auth.headers(auth.register("kim"))
    assert client.get(DELETION, headers=me).get_json() == {
        "scheduled": False,
        "requested_at": None,
        "scheduled_for": None,
    }
    assert client.post(DELETION, headers=me, json={}).status_code == 422
    wrong = client.post(DELETION, headers=me, json={"password": "not my password at all"})
    assert wrong.status_code == 401
    assert client.get(DELETION, headers=me).get_json()["scheduled"] is False
    assert audit_events(db, "user_deletion_requested")[-1]["outcome"] == "failure"

    scheduled = client.post(DELETION, headers=me, json={"password": DEFAULT_PASSWORD})
    assert scheduled.status_code == 202, scheduled.get_json()
    when = datetime.fromisoformat(scheduled.get_json()["scheduled_for"])
    assert timedelta(days=6, hours=23) < when - datetime.now(UTC) <= timedelta(days=7)
    notice = mails(db, "kim@example.com", "account_deletion_scheduled")
    assert (
        len(notice) == 1 and "DELETE http://127.0.0.1:5000/api/v1/me/deletion" in notice[0]["body"]
    )
    assert client.get(DELETION, headers=me).get_json()["scheduled"] is True
    twice = client.post(DELETION, headers=me, json={"password": DEFAULT_PASSWORD})
    assert twice.status_code == 409
    assert problem(twice)["type"].endswith("deletion-already-scheduled")
    # The account keeps working during the cooling-off, so it can cancel.
    assert client.get("/api/v1/me", headers=me).status_code == 200

    cancelled = client.delete(DELETION, headers=me)
    assert cancelled.status_code == 200 and cancelled.get_json()["scheduled"] is False
    again = client.delete(DELETION, headers=me)
    assert again.status_code == 404
    assert problem(again)["type"].endswith("deletion-not-scheduled")
    actions = [
        r["details"]["action"]
        for r in audit_events(db, "user_deletion_requested")
        if r["outcome"] == "success"
    ]
    assert actions == ["scheduled", "cancelled"]


def test_the_last_site_admin_cannot_leave(client: FlaskClient, auth: AuthActions) -> None:
    top = admin(auth, "top", "site_admin")
    refused = client.post(DELETION, headers=top, json={"password": DEFAULT_PASSWORD})
    assert refused.status_code == 409 and problem(refused)["type"].endswith("last-site-admin")


def test_queue_and_job_timing(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "boss")
    for name in ("lea", "max"):
        headers = auth.headers(auth.register(name))
        assert (
            client.post(DELETION, headers=headers, json={"password": DEFAULT_PASSWORD}).status_code
            == 202
        )
    first = client.get("/api/v1/admin/deletions?limit=1", headers=boss)
    assert first.status_code == 200
    page = first.get_json()
    rest = client.get(
        f"/api/v1/admin/deletions?limit=1&cursor={page['next_cursor']}", headers=boss
    ).get_json()
    assert [i["username"] for i in page["items"] + rest["items"]] == ["lea", "max"]
    assert rest["next_cursor"] is None
    bad = client.get("/api/v1/admin/deletions?cursor=WyJ4IiwieSJd", headers=boss)
    assert bad.status_code == 422

    now = datetime.now(UTC)
    with app.app_context():
        assert process_due_deletions(db, now) == 0  # still cooling off
        assert process_due_deletions(db, now + timedelta(days=8)) == 2
        assert process_due_deletions(db, now + timedelta(days=8)) == 0
    assert client.get("/api/v1/admin/deletions", headers=boss).get_json()["items"] == []
    login = client.post("/api/v1/auth/login", json={"login": "lea", "password": DEFAULT_PASSWORD})
    assert login.status_code == 401


def _snapshot(db: Database, user: UserRef) -> dict[str, Any]:
    """Everything of ``user`` a deletion of someone else must leave exactly as it was."""
    with db.transaction() as conn:
        user_row = dict(
            conn.execute(sa.select(users).where(users.c.id == user.id)).mappings().one()
        )
        keys = [
            dict(r)
            for r in conn.execute(
                sa.select(encryption_keys)
                .where(encryption_keys.c.user_id == user.id)
                .order_by(encryption_keys.c.key_version)
            ).mappings()
        ]
        audit_rows = [
            dict(r)
            for r in conn.execute(
                sa.select(audit_log)
                .where(sa.or_(audit_log.c.actor_id == user.id, audit_log.c.target_id == user.id))
                .order_by(audit_log.c.seq)
            ).mappings()
        ]
        sessions = conn.execute(
            sa.select(sa.func.count()).where(user_sessions.c.user_id == user.id)
        ).scalar_one()
        tenant = registry.get_tenant(conn, user.username)
    return {
        "user": user_row,
        "keys": keys,
        "audit": audit_rows,
        "sessions": sessions,
        "tenant": tenant,
        "registered": registered(db, user.username),
        "catalog": catalog_objects(db, user.username),
        "raw": raw_values(db, user),
    }


def test_deleting_john_leaves_john_doe_untouched(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database, runner: FlaskCliRunner
) -> None:
    keys = get_key_store(app)
    john_tokens = auth.register("john")
    doe_tokens = auth.register("john_doe")
    john = UserRef(auth.user_id("john"), "john")
    doe = UserRef(auth.user_id("john_doe"), "john_doe")
    john_values = seed_user_data(db, keys, john, rows=2)
    doe_values = seed_user_data(db, keys, doe, rows=2)
    assert client.get("/api/v1/me", headers=auth.headers(doe_tokens)).status_code == 200
    scheduled = client.post(
        DELETION, headers=auth.headers(john_tokens), json={"password": DEFAULT_PASSWORD}
    )
    assert scheduled.status_code == 202
    assert read_plaintexts(db, keys, john) == john_values
    before = _snapshot(db, doe)
    assert before["catalog"] == expected_objects(db, "john_doe")

    with app.app_context():
        assert process_due_deletions(db, datetime.now(UTC) + timedelta(days=8)) == 1

    # Nothing of john_doe changed: tables, rows, keys, audit rows, sessions, account.
    after = _snapshot(db, doe)
    assert after == before
    assert read_plaintexts(db, keys, doe) == doe_values
    assert client.get("/api/v1/me", headers=auth.headers(doe_tokens)).status_code == 200

    # john is gone: tables, registry, keys, personal rows; the account is a tombstone.
    assert catalog_objects(db, "john") == set() and registered(db, "john") == set()
    with db.transaction() as conn:
        assert registry.get_tenant(conn, "john") is None
        assert user_keys_destroyed(conn, john.id)
        tomb = conn.execute(sa.select(users).where(users.c.id == john.id)).mappings().one()
        for table in (
            user_sessions,
            sso_accounts,
            cpa.reports,
            cpa.experiences,
            cpa_sharing.shares,
            cpa_sharing.comments,
            cpa_sharing.mentor_meetings,
            cpa_sharing.verifications,
        ):
            assert (
                conn.execute(
                    sa.select(sa.func.count()).where(table.c.user_id == john.id)
                ).scalar_one()
                == 0
            ), table.name
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(outbox.c.recipient == "john@example.com")
            ).scalar_one()
            == 0
        )
    assert tomb["account_status"] == "deleted" and tomb["username"].startswith("deleted_")
    assert "john" not in tomb["username"] and "john" not in tomb["email"]
    for field in ("first_name", "phone_number", "date_of_birth", "mfa_secret", "password_hash"):
        assert tomb[field] is None, field

    # The audit trail keeps john's rows, under a pseudonym, and still verifies.
    with app.app_context():
        pseudonym = audit.user_pseudonym(john.id)
    with db.transaction() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(audit_log)).mappings()]
    assert not [r for r in rows if john.id in str(r)]
    johns = [r for r in rows if pseudonym in (r["actor_id"], r["target_id"])]
    assert {
        "user_created",
        "user_deletion_requested",
        "user_deleted",
        "crypt_key_destroyed",
        "tenant_deprovisioned",
    } <= {r["event_type"] for r in johns}
    assert all(
        r["actor_display"] is None or r["actor_display"].startswith("~")
        for r in johns
        if r["actor_id"] == pseudonym
    )
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output

    # The name is free again, with brand-new tables and keys.
    auth.register("john")
    assert auth.user_id("john") != john.id
    assert catalog_objects(db, "john") == expected_objects(db, "john")


def test_site_admin_deletes_at_once(
    client: FlaskClient, auth: AuthActions, db: Database, runner: FlaskCliRunner
) -> None:
    top = admin(auth, "top", "site_admin")
    boss = admin(auth, "boss")
    auth.register("nina")
    nina = auth.user_id("nina")
    url = f"/api/v1/admin/users/{nina}"
    assert (
        client.delete(
            url, headers=boss, json={"confirm_username": "nina", "reason": "r"}
        ).status_code
        == 403
    )
    assert client.delete(url, headers=top, json={}).status_code == 422
    mismatch = client.delete(url, headers=top, json={"confirm_username": "nino", "reason": "r"})
    assert mismatch.status_code == 422
    assert problem(mismatch)["errors"][0]["field"] == "confirm_username"
    selfish = client.delete(
        f"/api/v1/admin/users/{auth.user_id('top')}",
        headers=top,
        json={"confirm_username": "top", "reason": "r"},
    )
    assert selfish.status_code == 409

    done = client.delete(url, headers=top, json={"confirm_username": "Nina", "reason": "GDPR 17"})
    assert done.status_code == 200, done.get_json()
    report = done.get_json()
    assert report["deleted"] is True and report["keys_destroyed"] == 1
    assert report["objects_dropped"] == len(expected_objects(db, "nina"))
    deleted = audit_events(db, "user_deleted")[-1]
    assert deleted["actor_id"] == auth.user_id("top")
    assert deleted["details"]["mode"] == "immediate" and deleted["details"]["reason"] == "GDPR 17"
    with db.transaction() as conn:
        leftovers = conn.execute(
            sa.select(audit_log.c.seq).where(
                sa.or_(
                    audit_log.c.request_path.contains(nina),
                    audit_log.c.actor_id == nina,
                    audit_log.c.target_id == nina,
                )
            )
        ).all()
    assert leftovers == []  # this very request's own row included
    # Later requests naming the id are about a tombstone that identifies nobody.
    assert client.get(url, headers=top).status_code == 404
    assert (
        client.delete(
            url, headers=top, json={"confirm_username": "nina", "reason": "r"}
        ).status_code
        == 404
    )
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
