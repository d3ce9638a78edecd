"""``pathfinder keys ...`` through Flask's CLI runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_log, encryption_keys
from pathfinder.security.fields import token_version
from pathfinder.security.keys import get_key_store
from pathfinder.security.rotation import UserRef
from tests.cli.conftest import AppFactory
from tests.security import add_user, keyring, raw_values, read_plaintexts, seed_user_data


def _kek_versions(db: Database) -> list[int]:
    with db.transaction() as conn:
        return sorted(conn.execute(sa.select(encryption_keys.c.kek_version)).scalars())


def test_rotate_kek_rewraps_and_then_has_nothing_to_do(app_with: AppFactory, db: Database) -> None:
    keys: dict[int, str] = {}
    old = app_with(KEK_KEYRING=json.dumps(keyring(1, keys=keys)))
    people = [add_user(db, get_key_store(old), f"user{i}", provision=False) for i in range(5)]
    written = seed_user_data(db, get_key_store(old), people[0], per_user=False, rows=1)

    new = app_with(KEK_KEYRING=json.dumps(keyring(1, 2, keys=keys)))
    runner = new.test_cli_runner()
    stopped = runner.invoke(args=["keys", "rotate-kek", "--batch-size", "2", "--max-batches", "1"])
    assert stopped.exit_code == 3, stopped.output
    assert "Re-wrapped 2 data key(s) under KEK version 2" in stopped.output
    assert "3 data key(s) still under older KEKs" in stopped.output

    done = runner.invoke(args=["keys", "rotate-kek", "--batch-size", "2"])
    assert done.exit_code == 0, done.output
    assert "Re-wrapped 3 data key(s)" in done.output
    assert "KEK version(s) 1 wrap no key any more" in done.output
    assert _kek_versions(db) == [2] * 5

    again = runner.invoke(args=["keys", "rotate-kek"])
    assert again.exit_code == 0
    assert "nothing to do" in again.output
    # One audit row per committed batch: 2 + 2 + 1 keys.
    assert [d["count"] for d in _audit_details(db, "kek")] == [2, 2, 1]

    only_new = app_with(KEK_KEYRING=json.dumps(keyring(2, keys=keys)))
    assert read_plaintexts(db, get_key_store(only_new), people[0]) == written


def test_rotate_dek_for_named_users(app: Flask, runner: FlaskCliRunner, db: Database) -> None:
    keys = get_key_store(app)
    alice = add_user(db, keys, "alice")
    written = seed_user_data(db, keys, alice, rows=2)

    result = runner.invoke(args=["keys", "rotate-dek", "Alice"])

    assert result.exit_code == 0, result.output
    assert "alice: now v2" in result.output and "retired v1" in result.output
    assert {token_version(t) for t in raw_values(db, alice).values()} == {2}
    assert read_plaintexts(db, keys, alice) == written

    assert [d["operation"] for d in _audit_details(db, "user", alice.id)] == [
        "dek_version_created",
        "dek_rotation_completed",
    ]

    status = runner.invoke(args=["keys", "status", "alice"])
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0].startswith("user: alice (")
    v1 = next(line.split() for line in lines if line.split()[:2] == ["1", "retired"])
    v2 = next(line.split() for line in lines if line.split()[:2] == ["2", "active"])
    assert v1[4] == "0" and int(v2[4]) == len(written)  # VALUES column: tokens per version


def test_rotate_dek_all_stops_and_resumes_with_the_same_cutoff(
    app: Flask, runner: FlaskCliRunner, db: Database
) -> None:
    keys = get_key_store(app)
    people = [add_user(db, keys, f"member{i}") for i in range(3)]
    for person in people:
        seed_user_data(db, keys, person, rows=1)
    cutoff = datetime.now(UTC).isoformat()

    stopped = runner.invoke(
        args=["keys", "rotate-dek", "--all", "--created-before", cutoff, "--max-batches", "4"]
    )
    assert stopped.exit_code == 3, stopped.output
    assert "Stopped by --max-batches" in stopped.output
    assert "--created-before" in stopped.output

    resumed = runner.invoke(args=["keys", "rotate-dek", "--all", "--created-before", cutoff])
    assert resumed.exit_code == 0, resumed.output
    for person in people:
        assert {token_version(t) for t in raw_values(db, person).values()} == {2}
        assert _max_version(db, person) == 2  # nobody rotated twice

    status = runner.invoke(args=["keys", "status"])
    assert status.exit_code == 0, status.output
    assert "data keys: 3 active, 3 retired, 0 destroyed" in status.output
    assert "users mid-rotation (rotate-dek unfinished): 0" in status.output
    assert "awaiting rotate-kek: 0" in status.output


def _audit_details(db: Database, target_type: str, target_id: str | None = None) -> list[dict]:
    """Details of the crypt_key_rotated audit rows about ``target_type`` (oldest first)."""
    log = audit_log.c
    query = (
        sa.select(log.details)
        .where(log.event_type == "crypt_key_rotated", log.target_type == target_type)
        .order_by(log.seq)
    )
    if target_id is not None:
        query = query.where(log.target_id == target_id)
    with db.transaction() as conn:
        return list(conn.execute(query).scalars())


def _max_version(db: Database, user: UserRef) -> int:
    with db.transaction() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.max(encryption_keys.c.key_version)).where(
                    encryption_keys.c.user_id == user.id
                )
            ).scalar_one()
        )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["keys", "rotate-dek", "nobody"], 1, "Error: no user 'nobody'"),
        (["keys", "rotate-dek"], 2, "name USERNAMEs or give --all"),
        (["keys", "rotate-dek", "alice", "--all"], 2, "name USERNAMEs or give --all"),
        (["keys", "rotate-dek", "alice", "--created-before", "2020-01-01"], 2, "goes with --all"),
        (["keys", "rotate-dek", "--all", "--created-before", "soon"], 2, "ISO 8601"),
        (["keys", "status", "nobody"], 1, "Error: no user 'nobody'"),
    ],
)
def test_usage_and_lookup_errors_are_one_line(
    app: Flask, runner: FlaskCliRunner, db: Database, args: list[str], code: int, message: str
) -> None:
    add_user(db, get_key_store(app), "alice", provision=False)
    result = runner.invoke(args=args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_rotate_dek_reports_a_shredded_user_and_goes_on(
    app: Flask, runner: FlaskCliRunner, db: Database
) -> None:
    from pathfinder.security.shredding import destroy_user_keys

    keys = get_key_store(app)
    alice = add_user(db, keys, "alice", provision=False)
    add_user(db, keys, "bob", provision=False)
    destroy_user_keys(db, alice.id)
    result = runner.invoke(args=["keys", "rotate-dek", "alice", "bob"])
    assert result.exit_code == 1
    assert "bob: now v2" in result.output
    assert "error: alice: the data keys of user alice were destroyed" in result.output
    assert "1 of 2 user(s) failed" in result.output


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"KEK_KEYRING": "{not json"}, "Error: KEK_KEYRING is not valid JSON"),
        ({"KEY_PROVIDER": "oci-vault"}, "Error: unknown KEY_PROVIDER 'oci-vault'"),
    ],
)
def test_configuration_errors_are_one_line(
    app_with: AppFactory, db: Database, config: dict[str, object], message: str
) -> None:
    broken = app_with(**config)
    result = broken.test_cli_runner().invoke(args=["keys", "status"])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
