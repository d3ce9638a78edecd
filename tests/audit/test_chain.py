"""The hash chain: every kind of tampering is found, and concurrent writers form one chain."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pathfinder import audit
from pathfinder.audit.chain import GENESIS_HASH, AuditChainError, _create_head, lock_head
from pathfinder.db import Database, get_database
from pathfinder.ids import new_id
from pathfinder.schema.shared.security import audit_chain, audit_log
from tests.audit import audit_rows, chain_head, execute, principal, verify, write_events
from tests.conftest import make_app

ROWS = 6


@pytest.fixture
def chain(app: Flask, db: Database) -> list[dict[str, Any]]:
    """Six committed rows, verified intact."""
    write_events(app, db, ROWS)
    report = verify(app, db)
    assert report.ok, report.broken
    assert (report.checked, report.first_seq, report.last_seq) == (ROWS, 1, ROWS)
    return audit_rows(db)


def test_an_untouched_chain_verifies_in_any_batch_size(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    for size in (1, 2, 5, 1000):
        assert verify(app, db, batch_size=size).ok
    assert chain[0]["prev_hash"] == GENESIS_HASH
    assert all(b["prev_hash"] == a["row_hash"] for a, b in zip(chain, chain[1:], strict=False))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("event_type", "sensitive_read"),
        ("outcome", "failure"),
        ("actor_role", "site_admin"),
        ("actor_id", "01HZZZZZZZZZZZZZZZZZZZZZZZ"),
        ("actor_display", "mallory"),
        ("target_display", None),
        ("ip_address", "203.0.113.66"),
        ("user_agent", None),
        ("request_path", "/api/v1/elsewhere"),
        ("status_code", 200),
        ("details", {"n": 999}),
        ("id", "01HAAAAAAAAAAAAAAAAAAAAAAA"),
    ],
)
def test_an_edited_row_is_found(
    app: Flask, db: Database, chain: list[dict[str, Any]], column: str, value: object
) -> None:
    execute(db, audit_log.update().where(audit_log.c.seq == 3).values({column: value}))
    broken = verify(app, db).broken
    assert broken is not None
    assert (broken.seq, broken.reason) == (3, "edited")


def test_an_edited_timestamp_is_found(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    moved = chain[3]["created_at"] + timedelta(microseconds=1)
    execute(db, audit_log.update().where(audit_log.c.seq == 4).values(created_at=moved))
    broken = verify(app, db).broken
    assert broken is not None and (broken.seq, broken.reason) == (4, "edited")


def test_a_row_rehashed_without_the_key_is_found(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    # An attacker who edits a row and recomputes a plain SHA-256 (they lack the HMAC key).
    forged = hashlib.sha256(b"forged content").hexdigest()
    execute(
        db,
        audit_log.update()
        .where(audit_log.c.seq == 2)
        .values(event_type="sensitive_read", row_hash=forged),
    )
    execute(db, audit_log.update().where(audit_log.c.seq == 3).values(prev_hash=forged))
    broken = verify(app, db).broken
    assert broken is not None and (broken.seq, broken.reason) == (2, "edited")


def test_a_deleted_row_is_found(app: Flask, db: Database, chain: list[dict[str, Any]]) -> None:
    execute(db, audit_log.delete().where(audit_log.c.seq == 3))
    broken = verify(app, db).broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "missing")


def test_a_deleted_and_renumbered_row_is_found(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    execute(db, audit_log.delete().where(audit_log.c.seq == 3))
    for seq in range(4, ROWS + 1):
        execute(db, audit_log.update().where(audit_log.c.seq == seq).values(seq=seq - 1))
    broken = verify(app, db).broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "link")


def test_a_deleted_tail_is_found(app: Flask, db: Database, chain: list[dict[str, Any]]) -> None:
    execute(db, audit_log.delete().where(audit_log.c.seq >= 5))
    broken = verify(app, db).broken
    assert broken is not None and (broken.seq, broken.reason) == (5, "missing")


def test_reordered_rows_are_found(app: Flask, db: Database, chain: list[dict[str, Any]]) -> None:
    parking = 10**9
    execute(db, audit_log.update().where(audit_log.c.seq == 3).values(seq=parking))
    execute(db, audit_log.update().where(audit_log.c.seq == 4).values(seq=3))
    execute(db, audit_log.update().where(audit_log.c.seq == parking).values(seq=4))
    broken = verify(app, db).broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "reordered")


@pytest.mark.parametrize(
    "change",
    [
        {"last_hash": "f" * 64},
        {"last_seq": ROWS - 1},
        {"last_seq": ROWS + 2},
    ],
)
def test_a_tampered_head_is_found(
    app: Flask, db: Database, chain: list[dict[str, Any]], change: dict[str, Any]
) -> None:
    execute(db, audit_chain.update().values(change))
    broken = verify(app, db).broken
    assert broken is not None
    assert broken.reason in ("head", "missing")


def test_a_head_moved_back_with_its_row_hash_is_found(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    # Pretending the last row never happened: the row is still there beyond the head.
    previous = chain[-2]
    execute(
        db, audit_chain.update().values(last_seq=previous["seq"], last_hash=previous["row_hash"])
    )
    broken = verify(app, db).broken
    assert broken is not None and (broken.seq, broken.reason) == (ROWS, "head")


def test_a_deleted_head_is_found_and_stops_writers(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    execute(db, audit_chain.delete())
    broken = verify(app, db).broken
    assert broken is not None and broken.reason == "head"
    with app.app_context(), pytest.raises(AuditChainError), db.transaction() as conn:
        audit.record(conn, "sys_config_changed")
    assert len(audit_rows(db)) == ROWS


def test_verify_since_checks_a_window_and_its_first_link(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    execute(db, audit_log.update().where(audit_log.c.seq == 2).values(outcome="failure"))
    assert not verify(app, db).ok
    window = verify(app, db, since=4)
    assert window.ok and (window.first_seq, window.last_seq, window.checked) == (4, ROWS, 3)
    assert verify(app, db, since=chain[4]["created_at"]).first_seq == 5
    assert verify(app, db, since=chain[-1]["created_at"] + timedelta(days=1)).checked == 0
    # The window's first row must still link to the stored row before it.
    execute(db, audit_log.update().where(audit_log.c.seq == 3).values(row_hash="a" * 64))
    broken = verify(app, db, since=4).broken
    assert broken is not None and (broken.seq, broken.reason) == (4, "link")


def test_another_key_does_not_verify(
    app: Flask, db: Database, chain: list[dict[str, Any]], database_url: str, tmp_path: Path
) -> None:
    other = make_app(database_url, tmp_path / "other", AUDIT_HMAC_KEY="not-the-real-key")
    broken = verify(other, get_database(other)).broken
    assert broken is not None and (broken.seq, broken.reason) == (1, "edited")
    get_database(other).dispose()


def test_a_rolled_back_transaction_leaves_no_row_and_keeps_the_head(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    before = chain_head(db)
    with app.app_context(), pytest.raises(RuntimeError), db.transaction() as conn:
        audit.record(conn, "user_deleted", target_type="user", target_id=new_id())
        raise RuntimeError("the change failed")
    assert chain_head(db) == before
    assert len(audit_rows(db)) == ROWS
    write_events(app, db, 1)
    rows = audit_rows(db)
    assert rows[-1]["seq"] == ROWS + 1 and rows[-1]["prev_hash"] == chain[-1]["row_hash"]
    assert verify(app, db).ok


def test_an_empty_log_verifies(app: Flask, db: Database) -> None:
    report = verify(app, db)
    assert report.ok and report.checked == 0 and report.head is None


WRITERS = 4
PER_WRITER = 15


def test_concurrent_writers_form_one_chain(app: Flask, db: Database) -> None:
    """Writers in their own transactions, starting together on an empty log (no head row yet:
    its lazy creation races too), end up as one gap-free chain."""
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            caller = principal(f"writer{number}")
            with app.app_context():
                start.wait(timeout=30)
                for n in range(PER_WRITER):
                    with db.transaction() as conn:
                        conn.execute(sa.select(1))  # some work of the change itself first
                        audit.record(
                            conn, "sensitive_update", actor=caller, details={"n": n, "w": number}
                        )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    rows = audit_rows(db)
    total = WRITERS * PER_WRITER
    assert [r["seq"] for r in rows] == list(range(1, total + 1))
    assert len({r["actor_id"] for r in rows}) == WRITERS
    assert chain_head(db) == (total, rows[-1]["row_hash"])
    report = verify(app, db, batch_size=7)
    assert report.ok, report.broken
    assert report.checked == total


def test_a_second_writer_waits_for_the_first_to_commit(app: Flask, db: Database) -> None:
    """The head lock lives in the database: a writer holding it (here: having created the
    head and appended, not yet committed) makes the other wait, then link to its row."""
    first_appended = threading.Event()
    second_done = threading.Event()
    results: dict[str, Any] = {}

    def second_writer() -> None:
        try:
            first_appended.wait(timeout=30)
            with app.app_context(), db.transaction() as conn:
                audit.record(conn, "sensitive_read")
        except BaseException as exc:  # reported by the main thread
            results["error"] = exc
        finally:
            second_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    with app.app_context(), db.transaction() as conn:
        audit.record(conn, "sensitive_create")
        first_appended.set()
        # The second writer is blocked on the head row (PostgreSQL) or on BEGIN IMMEDIATE
        # (SQLite) for as long as this transaction is open.
        assert not second_done.wait(timeout=0.5)
    thread.join(timeout=60)
    assert "error" not in results, results
    rows = audit_rows(db)
    assert [(r["seq"], r["event_type"]) for r in rows] == [
        (1, "sensitive_create"),
        (2, "sensitive_read"),
    ]
    assert rows[1]["prev_hash"] == rows[0]["row_hash"]
    assert verify(app, db).ok


def test_a_writer_that_found_no_head_accepts_the_rivals_head(app: Flask, db: Database) -> None:
    """The head-creation race, replayed in order: this writer saw no head, then a rival
    committed the head with its first row before this writer looked at the log."""
    write_events(app, db, 1)  # the rival's commit
    with app.app_context(), db.transaction() as conn:
        _create_head(conn)  # what lock_head does after its first read found no head
        assert lock_head(conn).seq == 1
        audit.record(conn, "sensitive_read")
    assert [r["seq"] for r in audit_rows(db)] == [1, 2]
    assert verify(app, db).ok


def test_an_archived_prefix_is_an_anchor_for_since_but_missing_for_a_full_run(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    execute(db, audit_log.delete().where(audit_log.c.seq <= 2))
    full = verify(app, db).broken
    assert full is not None and (full.seq, full.reason) == (1, "missing")
    window = verify(app, db, since=3)
    assert window.ok and window.checked == ROWS - 2
    assert window.anchor == chain[1]["row_hash"]
    # A row missing inside what is stored is never taken for an archive boundary.
    execute(db, audit_log.delete().where(audit_log.c.seq == 4))
    broken = verify(app, db, since=5).broken
    assert broken is not None and (broken.seq, broken.reason) == (4, "missing")
    again = verify(app, db, since=3).broken
    assert again is not None and (again.seq, again.reason) == (4, "missing")


def test_a_window_past_the_head_is_empty(
    app: Flask, db: Database, chain: list[dict[str, Any]]
) -> None:
    report = verify(app, db, since=ROWS + 10)
    assert report.ok and report.checked == 0
