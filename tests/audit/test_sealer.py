"""The sealer, and appending without a shared lock: concurrent writers, late commits,
rolled-back numbers, concurrent sealers, and a sealer that refuses a rewritten head."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from pathfinder import audit
from pathfinder.audit.checkpoints import SinkSettings, read_exported
from pathfinder.audit.sealer import SealRefused
from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_checkpoints, audit_leaves
from tests.audit import audit_rows, execute, seal, verify, write_events
from tests.concurrency import run_at_once

pg_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _leaf_seqs(db: Database) -> list[int]:
    with db.connect() as conn:
        seqs = conn.execute(
            sa.select(audit_leaves.c.seq).order_by(audit_leaves.c.leaf_index)
        ).scalars()
        return [int(s) for s in seqs]


def test_nothing_to_seal_makes_no_checkpoint(app: Flask, db: Database) -> None:
    report = seal(app, db)
    assert (report.rows, report.checkpoints, report.tree_size) == (0, 0, 0)
    write_events(app, db, 3)
    assert seal(app, db).checkpoints == 1
    again = seal(app, db)
    assert (again.rows, again.checkpoints, again.tree_size) == (0, 0, 3)


def test_a_backlog_is_sealed_in_checkpoints_of_the_batch_size(app: Flask, db: Database) -> None:
    write_events(app, db, 7)
    app.config["AUDIT_SEAL_BATCH_SIZE"] = 3
    report = seal(app, db)
    assert (report.rows, report.checkpoints, report.tree_size) == (7, 3, 7)
    sizes = [
        c.tree_size for c in read_exported(SinkSettings.from_config(app.config).file).checkpoints
    ]
    assert sizes == [3, 6, 7]
    assert verify(app, db).ok


@pg_only
def test_writers_do_not_wait_for_each_other(app: Flask, db: Database) -> None:
    """Two open transactions append at once: neither blocks (no shared row is locked)."""
    with app.app_context(), db.transaction() as first:
        audit.record(first, "sensitive_update", details={"writer": 1})
        with db.transaction() as second:
            second.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            audit.record(second, "sensitive_update", details={"writer": 2})
    assert len(audit_rows(db)) == 2


@pg_only
def test_a_row_committed_after_a_higher_one_was_sealed_is_sealed_later(
    app: Flask, db: Database
) -> None:
    write_events(app, db, 1)
    with app.app_context(), db.transaction() as slow:
        audit.record(slow, "sensitive_update", details={"slow": True})  # takes seq 2
        write_events(app, db, 1)  # seq 3 commits first
        report = seal(app, db)
        assert (report.tree_size, report.open_gaps) == (2, 1)
    assert seal(app, db).tree_size == 3
    rows = audit_rows(db)
    assert _leaf_seqs(db) == [rows[0]["seq"], rows[2]["seq"], rows[1]["seq"]]
    report = verify(app, db)
    assert report.ok and report.gaps == [] and report.unsealed == 0


@pg_only
def test_a_rolled_back_number_is_settled_as_a_gap(app: Flask, db: Database) -> None:
    write_events(app, db, 1)
    with pytest.raises(RuntimeError), app.app_context(), db.transaction() as conn:
        audit.record(conn, "sensitive_update")
        raise RuntimeError("rolled back")
    write_events(app, db, 1)
    assert seal(app, db).open_gaps == 1
    later = datetime.now(UTC) + timedelta(hours=2)
    with app.app_context():
        write_events(app, db, 1)
        assert audit.seal(db, app.config, now=later).open_gaps == 0
    report = verify(app, db)
    assert report.ok and report.gaps == [(2, 2)]


def test_concurrent_sealers_build_one_tree(app: Flask, db: Database) -> None:
    write_events(app, db, 30)
    app.config["AUDIT_SEAL_BATCH_SIZE"] = 4
    run_at_once(lambda: seal(app, db), 3)
    assert sorted(_leaf_seqs(db)) == [r["seq"] for r in audit_rows(db)]
    report = verify(app, db)
    assert report.ok and report.tree_size == 30, report.findings


def test_the_sealer_exports_what_the_file_lacks(app: Flask, db: Database) -> None:
    write_events(app, db, 2)
    seal(app, db)
    write_events(app, db, 2)
    seal(app, db)
    path = SinkSettings.from_config(app.config).file
    path.write_text(path.read_text().splitlines(keepends=True)[0])
    assert not verify(app, db).ok
    assert seal(app, db).rows == 0
    assert verify(app, db).ok
    assert len(path.read_text().splitlines()) == 2


def test_the_sealer_refuses_to_seal_over_a_rewritten_head(app: Flask, db: Database) -> None:
    write_events(app, db, 4)
    seal(app, db)
    write_events(app, db, 2)
    seal(app, db)
    execute(db, audit_leaves.delete().where(audit_leaves.c.leaf_index >= 4))
    execute(db, audit_checkpoints.delete().where(audit_checkpoints.c.tree_size == 6))
    with pytest.raises(SealRefused, match="rewritten"):
        seal(app, db)


def test_the_sealer_refuses_a_damaged_state(app: Flask, db: Database) -> None:
    write_events(app, db, 3)
    seal(app, db)
    with db.transaction() as conn:
        state = conn.execute(sa.select(audit_checkpoints.c.state)).scalar_one()
        state["peaks"] = ["00" * 32, "11" * 32]
        conn.execute(audit_checkpoints.update().values(state=state))
    write_events(app, db, 1)
    with pytest.raises(SealRefused):
        seal(app, db)


def test_seal_and_verify_from_the_cli(app: Flask, db: Database) -> None:
    runner = app.test_cli_runner()
    write_events(app, db, 3)
    sealed = runner.invoke(args=["audit", "seal"])
    assert sealed.exit_code == 0, sealed.output
    assert "sealed 3 row(s) in 1 checkpoint(s); tree size 3" in sealed.stdout
    checked = runner.invoke(args=["audit", "verify"])
    assert checked.exit_code == 0, checked.output
    assert "audit log ok: tree size 3" in checked.stdout
    key = runner.invoke(args=["audit", "public-key"])
    assert key.exit_code == 0 and "public key (base64url, Ed25519)" in key.stdout
