"""DBA commands leave audit rows naming the operator (``pathfinder.cli.operator``)."""

from __future__ import annotations

import getpass
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from pathfinder.cli.operator import dba_actor
from pathfinder.db import Database
from pathfinder.provisioning import Provisioner, registry
from pathfinder.schema.shared.jobs import job_locks, job_runs
from pathfinder.schema.shared.security import audit_log
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables
from pathfinder.security.keys import get_key_store
from tests.cli.conftest import AppFactory
from tests.security import add_user, insert_user_row, keyring, seed_user_data

OS_USER = "dba_jane"


@pytest.fixture
def dba_display(monkeypatch: pytest.MonkeyPatch) -> str:
    """The actor_display every DBA row must carry: a known login name on this host."""
    # getpass reads LOGNAME first: the environment is how the OS names the user to us.
    monkeypatch.setenv("LOGNAME", OS_USER)
    return f"{OS_USER}@{socket.gethostname()}"


def _rows(db: Database, event: str | None = None) -> list[dict[str, Any]]:
    """Audit rows, oldest first, optionally of one event."""
    query = sa.select(audit_log).order_by(audit_log.c.seq)
    if event is not None:
        query = query.where(audit_log.c.event_type == event)
    with db.transaction() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _dba_rows(db: Database, command: str) -> list[dict[str, Any]]:
    """The rows written for one DBA ``command`` (every DBA row names its command)."""
    return [
        r
        for r in _rows(db)
        if r["actor_role"] == "dba" and (r["details"] or {}).get("command") == command
    ]


def _assert_by_dba(rows: list[dict[str, Any]], display: str) -> None:
    assert rows
    for row in rows:
        assert row["actor_role"] == "dba"
        assert row["actor_display"] == display
        assert row["actor_id"] is None


# -- the actor ---------------------------------------------------------------------------


def test_dba_actor_is_the_os_user_at_the_host(dba_display: str) -> None:
    assert dba_actor() == {"role": "dba", "username": dba_display}


def test_dba_actor_falls_back_to_the_uid_when_the_user_has_no_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_name() -> str:
        raise KeyError("getpwuid(): uid not found: 4242")  # a container's unnamed uid

    monkeypatch.setattr(getpass, "getuser", no_name)
    assert dba_actor()["username"].startswith("uid")
    assert dba_actor()["username"].endswith(f"@{socket.gethostname()}")


# -- tenants -------------------------------------------------------------------------------


def test_provision_and_deprovision_write_one_row_per_user(
    runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    with db.transaction() as conn:
        alice_id = insert_user_row(conn, "alice")  # a registered user; bob is only a tenant

    result = runner.invoke(args=["tenants", "provision", "alice", "bob"])
    assert result.exit_code == 0, result.output

    rows = _rows(db, "tenant_provisioned")
    _assert_by_dba(rows, dba_display)
    alice, bob = rows
    assert (alice["target_type"], alice["target_id"], alice["target_display"]) == (
        "user",
        alice_id,
        "alice",
    )
    assert (bob["target_type"], bob["target_id"], bob["target_display"]) == ("tenant", None, "bob")
    for row in rows:
        assert row["outcome"] == "success"
        assert row["details"]["command"] == "tenants provision"
        assert row["details"]["result"] == "created"
        assert row["details"]["template_version"] == LATEST_TEMPLATE_VERSION
        assert row["details"]["steps_run"] > 0

    dropped = runner.invoke(args=["tenants", "deprovision", "alice", "--yes"])
    assert dropped.exit_code == 0, dropped.output
    (row,) = _rows(db, "tenant_deprovisioned")
    _assert_by_dba([row], dba_display)
    assert (row["target_type"], row["target_id"], row["outcome"]) == ("user", alice_id, "success")
    assert row["details"]["command"] == "tenants deprovision"
    assert row["details"]["result"] == "dropped"
    assert row["details"]["objects_dropped"] > 0


def test_a_user_that_fails_gets_a_failure_row_and_the_others_success(
    runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    Provisioner(db).provision("bob")
    with db.transaction() as conn:
        # An unfinished deprovisioning: provisioning bob again is refused until it is done.
        registry.set_state(conn, "bob", "deprovisioning")

    result = runner.invoke(args=["tenants", "provision", "alice", "bob"])

    assert result.exit_code == 1
    assert "1 of 2 user(s) failed" in result.output
    rows = _rows(db, "tenant_provisioned")
    _assert_by_dba(rows, dba_display)
    by_user = {r["target_display"]: r for r in rows}
    assert by_user["alice"]["outcome"] == "success"
    assert by_user["bob"]["outcome"] == "failure"
    # The class of the error, never its message (messages may quote SQL or values).
    assert by_user["bob"]["details"] == {
        "command": "tenants provision",
        "error": "ProvisioningError",
    }


def test_migrate_writes_a_row_per_migrated_user_and_dry_run_none(
    runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    Provisioner(db).provision("oldie", version=1)

    dry = runner.invoke(args=["tenants", "migrate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert _rows(db) == []

    migrate = runner.invoke(args=["tenants", "migrate"])
    assert migrate.exit_code == 0, migrate.output
    (row,) = _dba_rows(db, "tenants migrate")
    _assert_by_dba([row], dba_display)
    assert row["event_type"] == "tenant_provisioned"
    assert (row["target_type"], row["target_display"], row["outcome"]) == (
        "tenant",
        "oldie",
        "success",
    )
    assert row["details"]["result"] == "migrated"
    assert row["details"]["template_version"] == LATEST_TEMPLATE_VERSION


def test_repair_writes_success_when_clean_and_failure_when_drift_is_left(
    runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    Provisioner(db).provision("alice")
    assert runner.invoke(args=["tenants", "repair", "alice"]).exit_code == 0

    tables = tenant_tables("alice", schema=db.tenant_schema)
    with db.connect() as conn, db.attached(conn, "alice"):
        with conn.begin():
            from pathfinder.schema.ddl import AddColumn

            conn.execute(AddColumn(tables.skills, sa.Column("stray", sa.Integer())))
    assert runner.invoke(args=["tenants", "repair", "alice"]).exit_code == 1

    clean, left = _dba_rows(db, "tenants repair")
    _assert_by_dba([clean, left], dba_display)
    assert clean["event_type"] == left["event_type"] == "sys_dba_action"
    assert clean["target_display"] == left["target_display"] == "alice"
    assert (clean["outcome"], clean["details"]["drift_left"]) == ("success", 0)
    assert (left["outcome"], left["details"]["drift_left"]) == ("failure", 1)


# -- keys ------------------------------------------------------------------------------------


def test_rotate_kek_writes_one_row_per_run_with_counts(
    app_with: AppFactory, db: Database, dba_display: str
) -> None:
    keys: dict[int, str] = {}
    old = app_with(KEK_KEYRING=json.dumps(keyring(1, keys=keys)))
    for i in range(3):
        add_user(db, get_key_store(old), f"user{i}", provision=False)
    runner = app_with(KEK_KEYRING=json.dumps(keyring(1, 2, keys=keys))).test_cli_runner()

    stopped = runner.invoke(args=["keys", "rotate-kek", "--batch-size", "2", "--max-batches", "1"])
    assert stopped.exit_code == 3, stopped.output
    done = runner.invoke(args=["keys", "rotate-kek"])
    assert done.exit_code == 0, done.output

    first, second = _dba_rows(db, "keys rotate-kek")
    _assert_by_dba([first, second], dba_display)
    for row in (first, second):
        assert row["event_type"] == "sys_dba_action"
        assert (row["target_type"], row["target_display"]) == ("kek", "KEK v2")
        assert row["outcome"] == "success"
    assert first["details"] == {
        "command": "keys rotate-kek",
        "kek_version": 2,
        "rewrapped": 2,
        "batches": 1,
        "remaining": 1,
        "complete": False,
    }
    assert second["details"]["rewrapped"] == 1 and second["details"]["complete"] is True
    # The rows the key changes write themselves name the operator too.
    _assert_by_dba(_rows(db, "crypt_key_rotated"), dba_display)
    # No key material anywhere in the log.
    logged = json.dumps([r["details"] for r in _rows(db)])
    assert not any(kek in logged for kek in keys.values())


def test_rotate_kek_that_cannot_unwrap_writes_a_failure_row(
    app_with: AppFactory, db: Database, dba_display: str
) -> None:
    keys: dict[int, str] = {}
    old = app_with(KEK_KEYRING=json.dumps(keyring(1, keys=keys)))
    add_user(db, get_key_store(old), "alice", provision=False)
    # The old KEK left the keyring too early: nothing can be unwrapped.
    runner = app_with(KEK_KEYRING=json.dumps(keyring(2, keys=keys))).test_cli_runner()

    result = runner.invoke(args=["keys", "rotate-kek"])

    assert result.exit_code == 1
    (row,) = _dba_rows(db, "keys rotate-kek")
    _assert_by_dba([row], dba_display)
    assert row["outcome"] == "failure"
    assert row["details"] == {"command": "keys rotate-kek", "error": "KeyringError"}


def test_rotate_dek_writes_one_row_per_run_with_failures_counted(
    app: Flask, runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    from pathfinder.security.shredding import destroy_user_keys

    keys = get_key_store(app)
    alice = add_user(db, keys, "alice", provision=False)
    bob = add_user(db, keys, "bob")
    seed_user_data(db, keys, bob, rows=1)
    destroy_user_keys(db, alice.id)

    result = runner.invoke(args=["keys", "rotate-dek", "alice", "bob"])

    assert result.exit_code == 1
    (row,) = _dba_rows(db, "keys rotate-dek")
    _assert_by_dba([row], dba_display)
    assert (row["event_type"], row["target_type"], row["outcome"]) == (
        "sys_dba_action",
        "dek",
        "failure",
    )
    details = row["details"]
    assert (details["users"], details["users_rotated"], details["users_failed"]) == (2, 1, 1)
    assert details["rows_resealed"] > 0 and details["complete"] is False
    # bob's own key rows name the operator as well.
    bob_rows = [r for r in _rows(db, "crypt_key_rotated") if r["target_id"] == bob.id]
    _assert_by_dba(bob_rows, dba_display)


def test_rotate_dek_all_records_the_cutoff_and_an_unknown_user_a_failure(
    app: Flask, runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    add_user(db, get_key_store(app), "alice", provision=False)
    cutoff = datetime.now(UTC)

    done = runner.invoke(
        args=["keys", "rotate-dek", "--all", "--created-before", cutoff.isoformat()]
    )
    assert done.exit_code == 0, done.output
    unknown = runner.invoke(args=["keys", "rotate-dek", "nobody"])
    assert unknown.exit_code == 1

    run, failed = _dba_rows(db, "keys rotate-dek")
    _assert_by_dba([run, failed], dba_display)
    assert run["outcome"] == "success"
    assert run["details"]["users_rotated"] == 1 and run["details"]["complete"] is True
    assert run["details"]["created_before"] == cutoff.isoformat().replace("+00:00", "Z")
    assert failed["outcome"] == "failure"
    assert failed["details"] == {"command": "keys rotate-dek", "error": "UnknownUser"}


# -- jobs ------------------------------------------------------------------------------------


def test_jobs_run_writes_a_row_naming_the_job_and_its_run(
    runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    result = runner.invoke(args=["jobs", "run", "session_cleanup"])
    assert result.exit_code == 0, result.output

    (row,) = _dba_rows(db, "jobs run")
    _assert_by_dba([row], dba_display)
    assert (row["event_type"], row["target_type"], row["target_display"], row["outcome"]) == (
        "sys_dba_action",
        "job",
        "session_cleanup",
        "success",
    )
    with db.transaction() as conn:
        run_id = conn.execute(sa.select(job_runs.c.id)).scalar_one()
    assert row["details"]["run_id"] == run_id
    assert row["details"]["job"] == "session_cleanup"
    assert row["details"]["run_outcome"] == "succeeded"


def test_jobs_run_that_does_not_succeed_writes_a_failure_row(
    runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    with db.transaction() as conn:
        # Another process holds the job: this run is skipped, and the command exits 1.
        conn.execute(
            job_locks.insert().values(
                job_name="session_cleanup",
                holder="elsewhere",
                locked_until=datetime.now(UTC) + timedelta(hours=1),
            )
        )

    result = runner.invoke(args=["jobs", "run", "session_cleanup"])

    assert result.exit_code == 1
    (row,) = _dba_rows(db, "jobs run")
    _assert_by_dba([row], dba_display)
    assert row["outcome"] == "failure"
    assert row["details"]["run_outcome"] == "skipped"


def test_an_unknown_job_runs_nothing_and_writes_no_row(
    runner: FlaskCliRunner, db: Database, dba_display: str
) -> None:
    result = runner.invoke(args=["jobs", "run", "no_such_job"])
    assert result.exit_code == 1
    assert "unknown job 'no_such_job'" in result.output
    assert _dba_rows(db, "jobs run") == []
