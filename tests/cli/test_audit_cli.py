"""``pathfinder audit verify`` through Flask's CLI runner."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskCliRunner

from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_log
from tests.audit import audit_rows, execute, write_events


def test_an_empty_log_verifies(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit chain ok: 0 row(s) verified (no rows); head seq 0" in result.stdout


def test_an_intact_log_verifies(app: Flask, db: Database, runner: FlaskCliRunner) -> None:
    write_events(app, db, 4)
    head_hash = audit_rows(db)[-1]["row_hash"]
    result = runner.invoke(args=["audit", "verify", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert f"4 row(s) verified (seq 1..4); head seq 4 hash {head_hash}" in result.stdout


def test_a_broken_log_exits_1_naming_the_first_broken_seq(
    app: Flask, db: Database, runner: FlaskCliRunner
) -> None:
    write_events(app, db, 5)
    execute(db, audit_log.update().where(audit_log.c.seq == 2).values(target_display="forged"))
    execute(db, audit_log.delete().where(audit_log.c.seq == 4))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "audit chain broken at seq 2: edited: the row's content does not match its row_hash"
    ]
    assert "forged" not in result.output


def test_since_limits_the_window(app: Flask, db: Database, runner: FlaskCliRunner) -> None:
    write_events(app, db, 5)
    execute(db, audit_log.update().where(audit_log.c.seq == 1).values(outcome="failure"))
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1

    by_seq = runner.invoke(args=["audit", "verify", "--since", "3"])
    assert by_seq.exit_code == 0, by_seq.output
    assert "3 row(s) verified (seq 3..5)" in by_seq.stdout

    fourth = audit_rows(db)[3]["created_at"]
    naive_utc = fourth.replace(tzinfo=None).isoformat()
    by_time = runner.invoke(args=["audit", "verify", "--since", naive_utc])
    assert by_time.exit_code == 0, by_time.output
    assert "2 row(s) verified (seq 4..5)" in by_time.stdout

    later = (fourth + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    empty = runner.invoke(args=["audit", "verify", "--since", later])
    assert empty.exit_code == 0 and "0 row(s) verified" in empty.stdout


def test_a_bad_since_is_a_usage_error(runner: FlaskCliRunner) -> None:
    for value in ("yesterday", "0"):
        result = runner.invoke(args=["audit", "verify", "--since", value])
        assert result.exit_code == 2, result.output
        assert "--since" in result.output


def test_an_archived_prefix_is_reported_as_the_anchor(
    app: Flask, db: Database, runner: FlaskCliRunner
) -> None:
    write_events(app, db, 4)
    archived_last = audit_rows(db)[1]["row_hash"]
    execute(db, audit_log.delete().where(audit_log.c.seq <= 2))
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1
    result = runner.invoke(args=["audit", "verify", "--since", "3"])
    assert result.exit_code == 0, result.output
    assert f"anchored on prev_hash {archived_last}" in result.stdout
    assert "2 row(s) verified (seq 3..4)" in result.stdout
