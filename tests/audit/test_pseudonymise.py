"""``pseudonymise_user``: a deleted user's rows lose what identifies them, the sealed log
still verifies (rows, leaves and signed checkpoints untouched)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from pathfinder import audit
from pathfinder.audit.hashing import is_token
from pathfinder.auth.principal import Principal
from pathfinder.db import Database
from pathfinder.ids import new_id
from pathfinder.schema.shared.security import audit_log
from tests.audit import audit_rows, execute, kinds, principal, seal, verify

ALICE = principal("alice")
BOB = principal("bob", "admin")
CAROL = principal("carol")


def _record(app: Flask, db: Database, actor: Principal | None, **kwargs: Any) -> None:
    with app.app_context(), db.transaction() as conn:
        audit.record(conn, kwargs.pop("event", "sensitive_update"), actor=actor, **kwargs)


@pytest.fixture
def history(app: Flask, db: Database) -> dict[str, list[dict[str, Any]]]:
    """Rows by alice, by an admin about alice, and by carol, interleaved."""
    alice_meta = {"ip_address": "198.51.100.1", "user_agent": "alice-browser/1"}
    bob_meta = {"ip_address": "203.0.113.2", "user_agent": "bob-browser/2"}
    carol_meta = {"ip_address": "192.0.2.3", "user_agent": "carol-browser/3"}
    _record(app, db, CAROL, target_type="experience", target_id=new_id(), request_meta=carol_meta)
    _record(
        app,
        db,
        ALICE,
        event="request",
        details={"route": "/api/v1/users/<user_id>/experiences"},
        request_meta={
            **alice_meta,
            "http_method": "GET",
            "request_path": f"/api/v1/users/{ALICE.user_id}/experiences",
            "status_code": 200,
        },
    )
    _record(
        app,
        db,
        BOB,
        event="user_suspended",
        target_type="user",
        target_id=ALICE.user_id,
        target_display="alice",
        details={"user_ids": [ALICE.user_id, CAROL.user_id], "reason": "abuse"},
        request_meta={**bob_meta, "request_path": f"/api/v1/admin/users/{ALICE.user_id}"},
    )
    _record(app, db, CAROL, event="authn_login_success", request_meta=carol_meta)
    _record(app, db, ALICE, event="authn_login_fail", outcome="failure", request_meta=alice_meta)
    _record(
        app,
        db,
        BOB,
        event="user_updated",
        target_type="user",
        target_id=CAROL.user_id,
        target_display="carol",
        request_meta=bob_meta,
    )
    assert verify(app, db).ok
    rows = audit_rows(db)
    assert seal(app, db).tree_size == len(rows)  # pseudonymising must not break a sealed log
    return {"before": rows}


def _pseudonymise(app: Flask, db: Database, user_id: str) -> int:
    with app.app_context(), db.transaction() as conn:
        return audit.pseudonymise_user(conn, user_id)


def test_verify_stays_green_and_alice_is_gone(
    app: Flask, db: Database, history: dict[str, list[dict[str, Any]]]
) -> None:
    assert _pseudonymise(app, db, ALICE.user_id) == 3
    report = verify(app, db)
    assert report.ok, report.findings
    assert report.unsealed == 1  # only the audit_pseudonymised row itself
    rows = audit_rows(db)
    for clear in (ALICE.user_id, "alice-browser/1", "198.51.100.1"):
        assert clear not in repr(rows)
    alice_rows = [r for r in rows[:5] if r["actor_id"] and is_token(r["actor_id"])]
    assert len(alice_rows) == 2
    # One pseudonym for all of alice's rows: her actions stay grouped, not identified.
    assert len({r["actor_id"] for r in alice_rows}) == 1
    for row in alice_rows:
        for column in ("actor_display", "ip_address", "user_agent"):
            assert is_token(row[column])
    # Row-bound tokens: the same IP in two rows does not give the same token.
    assert alice_rows[0]["ip_address"] != alice_rows[1]["ip_address"]


def test_other_users_rows_and_columns_are_untouched(
    app: Flask, db: Database, history: dict[str, list[dict[str, Any]]]
) -> None:
    before = history["before"]
    _pseudonymise(app, db, ALICE.user_id)
    after = audit_rows(db)[: len(before)]
    pseudonym = after[1]["actor_id"]
    changed = {}
    for old, new in zip(before, after, strict=True):
        diff = {k for k in old if old[k] != new[k]}
        if diff:
            changed[old["seq"]] = diff
    assert changed == {
        2: {"actor_id", "actor_display", "ip_address", "user_agent", "request_path"},
        3: {"target_id", "target_display", "request_path", "details"},
        5: {"actor_id", "actor_display", "ip_address", "user_agent"},
    }
    admin_row = after[2]
    # The admin's own fields stay: only the reference to alice changed.
    assert (admin_row["actor_id"], admin_row["actor_display"]) == (BOB.user_id, "bob")
    assert (admin_row["ip_address"], admin_row["user_agent"]) == ("203.0.113.2", "bob-browser/2")
    assert admin_row["target_id"] == pseudonym
    assert admin_row["details"] == {"user_ids": [pseudonym, CAROL.user_id], "reason": "abuse"}
    assert admin_row["request_path"] == f"/api/v1/admin/users/{pseudonym}"
    # The pseudonymisation itself is on the record, under the pseudonym only.
    last = audit_rows(db)[-1]
    assert (last["event_type"], last["target_id"], last["details"]) == (
        "audit_pseudonymised",
        pseudonym,
        {"rows": 3},
    )


def test_it_is_idempotent(
    app: Flask, db: Database, history: dict[str, list[dict[str, Any]]]
) -> None:
    _pseudonymise(app, db, ALICE.user_id)
    first = audit_rows(db)
    assert _pseudonymise(app, db, ALICE.user_id) == 0
    assert audit_rows(db)[: len(first)] == first
    assert verify(app, db).ok


@pytest.mark.parametrize(
    "tamper",
    [
        {"actor_id": None},
        {"ip_address": None},
        {"actor_display": "~aaaaaaaaaaaaaaaaaaaaaaaaa"},
        {"actor_display": "mallory"},
        {"user_agent": "alice-browser/2"},
    ],
)
def test_other_edits_of_pseudonymised_rows_still_fail(
    app: Flask,
    db: Database,
    history: dict[str, list[dict[str, Any]]],
    tamper: dict[str, Any],
) -> None:
    _pseudonymise(app, db, ALICE.user_id)
    execute(db, audit_log.update().where(audit_log.c.seq == 2).values(tamper))
    assert kinds(verify(app, db)) == [("seq 2", "edited")]


def test_only_the_true_original_value_can_be_put_back(
    app: Flask, db: Database, history: dict[str, list[dict[str, Any]]]
) -> None:
    """The hash commits to the original value, so the one edit besides pseudonymising that
    verifies is restoring exactly what was recorded: nothing false can be written."""
    _pseudonymise(app, db, ALICE.user_id)
    execute(db, audit_log.update().where(audit_log.c.seq == 2).values(actor_display="alice"))
    assert verify(app, db).ok
    execute(db, audit_log.update().where(audit_log.c.seq == 2).values(actor_display="alicia"))
    assert kinds(verify(app, db)) == [("seq 2", "edited")]


def test_a_pseudonym_from_another_user_does_not_verify(
    app: Flask, db: Database, history: dict[str, list[dict[str, Any]]]
) -> None:
    _pseudonymise(app, db, ALICE.user_id)
    with app.app_context():
        carol_pseudonym = audit.user_pseudonym(CAROL.user_id)
    execute(db, audit_log.update().where(audit_log.c.seq == 2).values(actor_id=carol_pseudonym))
    assert kinds(verify(app, db)) == [("seq 2", "edited")]


def test_rows_written_later_in_the_same_request_carry_the_pseudonym(
    app: Flask, db: Database, history: dict[str, list[dict[str, Any]]]
) -> None:
    path = f"/api/v1/admin/users/{ALICE.user_id}"
    with app.test_request_context(path, method="DELETE"), db.transaction() as conn:
        audit.pseudonymise_user(conn, ALICE.user_id)
        audit.record(
            conn,
            "user_deleted",
            actor=ALICE,  # a self-deletion: the actor is the user being forgotten
            target_type="user",
            target_id=ALICE.user_id,
            target_display="alice",
            details={"user_id": ALICE.user_id},
        )
    rows = audit_rows(db)
    assert ALICE.user_id not in repr(rows)
    deleted = rows[-1]
    assert is_token(deleted["actor_id"]) and deleted["actor_id"] == deleted["target_id"]
    assert deleted["actor_display"] is None and deleted["target_display"] is None
    assert deleted["ip_address"] is None and deleted["user_agent"] is None
    assert verify(app, db).ok


def test_it_needs_a_real_id(app: Flask, db: Database) -> None:
    with app.app_context(), db.transaction() as conn:
        with pytest.raises(ValueError):
            audit.pseudonymise_user(conn, "")
        with pytest.raises(ValueError):
            audit.pseudonymise_user(conn, "~aaaaaaaaaaaaaaaaaaaaaaaaa")
