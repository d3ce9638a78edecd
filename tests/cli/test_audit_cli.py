"""``pathfinder audit seal|verify|prove`` through Flask's CLI runner."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from pathfinder.audit.merkle import verify_inclusion
from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_log
from tests.audit import audit_rows, execute, seal, write_events


def test_an_empty_log_verifies(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit log ok: tree size 0; 0 sealed row(s) checked" in result.stdout


def test_an_intact_log_verifies(app: Flask, db: Database, runner: FlaskCliRunner) -> None:
    write_events(app, db, 4)
    seal(app, db)
    write_events(app, db, 1)
    result = runner.invoke(args=["audit", "verify", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "audit log ok: tree size 4 root " in result.stdout
    assert "4 sealed row(s) checked; 1 checkpoint(s), 1 exported" in result.stdout
    assert "1 row(s) not sealed yet" in result.stdout


def test_a_broken_log_exits_1_naming_every_finding(
    app: Flask, db: Database, runner: FlaskCliRunner
) -> None:
    write_events(app, db, 5)
    seal(app, db)
    execute(db, audit_log.update().where(audit_log.c.seq == 2).values(target_display="forged"))
    execute(db, audit_log.delete().where(audit_log.c.seq == 4))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "audit log broken at seq 2: edited: the row's content does not match its row_hash",
        "audit log broken at seq 4: deleted: the row sealed as leaf 3 is gone",
    ]
    assert "forged" not in result.output


def test_since_limits_the_row_checks(app: Flask, db: Database, runner: FlaskCliRunner) -> None:
    write_events(app, db, 5)
    seal(app, db)
    execute(db, audit_log.update().where(audit_log.c.seq == 1).values(outcome="failure"))
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1

    by_seq = runner.invoke(args=["audit", "verify", "--since", "3"])
    assert by_seq.exit_code == 0, by_seq.output
    assert "3 sealed row(s) checked" in by_seq.stdout

    fourth = audit_rows(db)[3]["created_at"]
    naive_utc = fourth.replace(tzinfo=None).isoformat()
    by_time = runner.invoke(args=["audit", "verify", "--since", naive_utc])
    assert by_time.exit_code == 0, by_time.output
    assert "2 sealed row(s) checked" in by_time.stdout

    later = (fourth + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    empty = runner.invoke(args=["audit", "verify", "--since", later])
    assert empty.exit_code == 0 and "0 sealed row(s) checked" in empty.stdout


def test_a_bad_since_is_a_usage_error(runner: FlaskCliRunner) -> None:
    for value in ("yesterday", "0"):
        result = runner.invoke(args=["audit", "verify", "--since", value])
        assert result.exit_code == 2, result.output
        assert "--since" in result.output


def test_an_archived_prefix_verifies_with_since(
    app: Flask, db: Database, runner: FlaskCliRunner
) -> None:
    """Rows archived and purged: their leaves still prove the tree, --since skips the rows."""
    write_events(app, db, 4)
    seal(app, db)
    execute(db, audit_log.delete().where(audit_log.c.seq <= 2))
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1
    result = runner.invoke(args=["audit", "verify", "--since", "3"])
    assert result.exit_code == 0, result.output
    assert "tree size 4" in result.stdout and "2 sealed row(s) checked" in result.stdout


def test_prove_prints_an_inclusion_proof_that_verifies(
    app: Flask, db: Database, runner: FlaskCliRunner
) -> None:
    ids = write_events(app, db, 6)
    seal(app, db)
    result = runner.invoke(args=["audit", "prove", ids[4]])
    assert result.exit_code == 0, result.output
    proof = json.loads(result.stdout)
    assert (proof["leaf_index"], proof["tree_size"], proof["verified"]) == (4, 6, True)
    assert verify_inclusion(
        4,
        6,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["inclusion_path"]],
        bytes.fromhex(proof["root_hash"]),
    )
    unsealed = write_events(app, db, 1)[0]
    missing = runner.invoke(args=["audit", "prove", unsealed])
    assert missing.exit_code == 1 and "not sealed yet" in missing.output


def test_db_init_refuses_a_version_1_audit_log(db: Database, runner: FlaskCliRunner) -> None:
    with db.transaction() as conn:
        conn.execute(sa.text("CREATE TABLE pf_audit_chain (chain_key VARCHAR(30))"))
    result = runner.invoke(args=["db", "init"])
    assert result.exit_code == 1
    assert "version 1 audit log (pf_audit_chain)" in result.output
    assert "Traceback" not in result.output
