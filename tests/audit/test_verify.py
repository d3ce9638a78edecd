"""``audit verify`` catches each kind of tampering an attacker with database write access
but without the HMAC or signing key can do, and says which; an honest log verifies.

Each test seals an honest log first (rows, leaves, signed checkpoints, exported file), then
does what an attacker with SQL would do, in its own transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pathfinder.audit.checkpoints import SinkSettings
from pathfinder.audit.hashing import RowKeys, compute_row_hash
from pathfinder.audit.merkle import CompactRange, audit_leaf
from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_checkpoints, audit_leaves, audit_log
from tests.audit import audit_rows, execute, kinds, seal, verify, write_events

ROWS = 12


@pytest.fixture
def sealed(app: Flask, db: Database) -> list[dict[str, Any]]:
    """Twelve rows sealed in two checkpoints (8 and 12), then two rows not sealed yet."""
    write_events(app, db, 8)
    assert seal(app, db).tree_size == 8
    write_events(app, db, 4)
    assert seal(app, db).tree_size == ROWS
    write_events(app, db, 2)
    rows = audit_rows(db)
    assert len(rows) == ROWS + 2
    return rows


def exported_file(app: Flask) -> Path:
    return SinkSettings.from_config(app.config).file


def test_an_honest_log_verifies(app: Flask, db: Database, sealed: list[dict[str, Any]]) -> None:
    report = verify(app, db, batch_size=5)
    assert report.ok, report.findings
    assert (report.tree_size, report.leaves, report.rows_checked) == (ROWS, ROWS, ROWS)
    assert (report.checkpoints, report.exported, report.unsealed) == (2, 2, 2)
    assert report.gaps == []
    assert len(exported_file(app).read_text().splitlines()) == 2


def test_an_empty_log_verifies(app: Flask, db: Database) -> None:
    report = verify(app, db)
    assert report.ok and report.tree_size == 0 and report.root_hash is None


def test_a_deleted_tail_with_a_rewritten_head_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    """The attack the old chain missed: cut the log back to an earlier point and make the
    database's own bookkeeping agree. The exported checkpoint still says 12."""
    cut = sealed[7]["seq"]
    execute(db, audit_log.delete().where(audit_log.c.seq > cut))
    execute(db, audit_leaves.delete().where(audit_leaves.c.leaf_index >= 8))
    execute(db, audit_checkpoints.delete().where(audit_checkpoints.c.tree_size > 8))
    report = verify(app, db)
    assert ("checkpoint 12", "truncated") in kinds(report)
    assert not report.ok
    # Without the exported file the database alone looks consistent: that is what the
    # exported checkpoint is for.
    alone = verify(app, db, exported_file=exported_file(app).with_name("absent.jsonl"))
    assert ("absent", "export") not in kinds(alone)


def test_an_edited_middle_row_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    seq = sealed[4]["seq"]
    execute(db, audit_log.update().where(audit_log.c.seq == seq).values(outcome="failure"))
    assert kinds(verify(app, db)) == [(f"seq {seq}", "edited")]


def test_an_edited_unsealed_row_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    seq = sealed[-1]["seq"]
    execute(db, audit_log.update().where(audit_log.c.seq == seq).values(target_display="x"))
    assert kinds(verify(app, db)) == [(f"seq {seq}", "edited")]


def test_a_row_rehashed_with_another_key_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    row = dict(sealed[3])
    row["event_type"] = "user_deleted"
    forged = compute_row_hash(row, RowKeys.from_secret("an attacker's guess"))
    execute(
        db,
        audit_log.update()
        .where(audit_log.c.seq == row["seq"])
        .values(event_type="user_deleted", row_hash=forged),
    )
    assert kinds(verify(app, db)) == [(f"seq {row['seq']}", "edited")]


def test_a_deleted_middle_row_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    seq = sealed[5]["seq"]
    execute(db, audit_log.delete().where(audit_log.c.seq == seq))
    report = verify(app, db)
    assert kinds(report) == [(f"seq {seq}", "deleted")]
    assert "sealed as leaf 5" in report.findings[0].detail


def test_a_deleted_row_and_its_leaf_are_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    seq = sealed[5]["seq"]
    execute(db, audit_log.delete().where(audit_log.c.seq == seq))
    execute(db, audit_leaves.delete().where(audit_leaves.c.seq == seq))
    found = kinds(verify(app, db))
    assert ("leaf 5", "deleted") in found
    assert ("checkpoint 8", "tree") in found


def test_reordered_rows_are_found(app: Flask, db: Database, sealed: list[dict[str, Any]]) -> None:
    first, second = sealed[2], sealed[3]
    parking = 10**9
    execute(db, audit_log.update().where(audit_log.c.seq == first["seq"]).values(seq=parking))
    execute(
        db,
        audit_log.update().where(audit_log.c.seq == second["seq"]).values(seq=first["seq"]),
    )
    execute(db, audit_log.update().where(audit_log.c.seq == parking).values(seq=second["seq"]))
    report = verify(app, db)
    assert kinds(report) == [
        (f"seq {first['seq']}", "reordered"),
        (f"seq {second['seq']}", "reordered"),
    ]
    assert f"sealed at seq {second['seq']}" in report.findings[0].detail


def test_a_rewritten_leaf_table_does_not_match_the_signed_root(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    """Edit a row and make its leaf agree: the leaves no longer hash to the signed roots."""
    seq = sealed[1]["seq"]
    execute(db, audit_log.delete().where(audit_log.c.seq == seq))
    execute(
        db,
        audit_leaves.update()
        .where(audit_leaves.c.seq == seq)
        .values(row_hash=sealed[0]["row_hash"]),
    )
    found = kinds(verify(app, db))
    assert ("checkpoint 8", "tree") in found and ("checkpoint 12", "tree") in found


def test_a_checkpoint_forged_without_the_key_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    """Rewrite the database's head: new leaves and root for a log with a row removed."""
    cut = sealed[10]["seq"]
    execute(db, audit_log.delete().where(audit_log.c.seq == cut))
    execute(db, audit_leaves.delete().where(audit_leaves.c.leaf_index >= 8))
    execute(db, audit_checkpoints.delete().where(audit_checkpoints.c.tree_size == ROWS))
    compact = CompactRange()
    leaves = [r for r in sealed[:ROWS] if r["seq"] != cut]
    for row in leaves:
        compact.append(audit_leaf(row["seq"], row["row_hash"]))
    with db.transaction() as conn:
        conn.execute(
            audit_leaves.insert(),
            [
                {"leaf_index": i, "seq": r["seq"], "row_hash": r["row_hash"], "tree_size": 11}
                for i, r in enumerate(leaves)
                if i >= 8
            ],
        )
        stored = (
            conn.execute(sa.select(audit_checkpoints).where(audit_checkpoints.c.tree_size == 8))
            .mappings()
            .one()
        )
        conn.execute(
            audit_checkpoints.insert().values(
                {**stored, "tree_size": 11, "root_hash": compact.root().hex()}
            )
        )
    found = kinds(verify(app, db))
    assert ("checkpoint 12", "truncated") in found
    assert ("pf_audit_checkpoints", "checkpoint") in found  # its body still says 8


def test_a_truncated_checkpoint_file_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    path = exported_file(app)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0])
    report = verify(app, db)
    assert kinds(report) == [(str(path), "export")]
    assert "truncated" in report.findings[0].detail
    path.write_text(lines[0] + lines[1][:40])
    assert any("incomplete" in f.detail for f in verify(app, db).findings)


def test_a_line_removed_from_the_checkpoint_file_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    path = exported_file(app)
    write_events(app, db, 1)
    seal(app, db)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2])
    found = verify(app, db).findings
    assert any(f.kind == "export" and "a line is missing" in f.detail for f in found)


def test_a_deleted_checkpoint_file_is_found(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    exported_file(app).unlink()
    assert [f.kind for f in verify(app, db).findings] == ["export"]


def test_since_skips_old_rows_but_never_the_tree(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    old = sealed[1]["seq"]
    execute(db, audit_log.update().where(audit_log.c.seq == old).values(outcome="failure"))
    report = verify(app, db, since=sealed[4]["seq"])
    assert report.ok and report.rows_checked == ROWS - 4
    assert kinds(verify(app, db)) == [(f"seq {old}", "edited")]


def test_a_gap_on_sqlite_is_a_deletion(
    app: Flask, db: Database, sealed: list[dict[str, Any]]
) -> None:
    """An unsealed row deleted in the seal window: on SQLite numbers are never lost, so the
    gap it leaves once a later row exists is a deletion; elsewhere it is reported as a gap."""
    seq = sealed[-2]["seq"]
    execute(db, audit_log.delete().where(audit_log.c.seq == seq))
    report = verify(app, db)
    assert report.gaps == [(seq, seq)]
    if db.dialect_name == "sqlite":
        assert kinds(report) == [(f"seq {seq}", "deleted")]
    else:
        assert report.ok
