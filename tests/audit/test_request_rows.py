"""The batched request-row writer: rows arrive within the flush interval, in one
statement per batch, every row still verifies, and a failed batch is logged, not raised."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from pathfinder.audit.request_rows import RequestRowWriter, request_row_writer
from pathfinder.config import DatabaseSettings
from pathfinder.db import Database, get_database
from tests.audit import audit_rows, seal, verify


def _request_rows(db: Database) -> list[dict[str, object]]:
    return [r for r in audit_rows(db) if r["event_type"] == "request"]


def test_request_rows_are_written_in_batches_within_the_interval(app: Flask, db: Database) -> None:
    app.config.update(AUDIT_REQUEST_FLUSH_SECONDS=0.2, AUDIT_REQUEST_BATCH_ROWS=1000)
    client = app.test_client()
    for _ in range(5):
        assert client.get("/api/v1/openapi.json").status_code == 200
    writer = request_row_writer(app, db)
    deadline = time.monotonic() + 10
    while len(_request_rows(db)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = _request_rows(db)
    assert len(rows) == 5
    assert {r["request_path"] for r in rows} == {"/api/v1/openapi.json"}
    assert writer.lost == 0
    seal(app, db)
    assert verify(app, db).ok


def test_a_full_batch_is_written_before_the_interval(app: Flask, db: Database) -> None:
    app.config.update(AUDIT_REQUEST_FLUSH_SECONDS=60, AUDIT_REQUEST_BATCH_ROWS=3)
    client = app.test_client()
    for _ in range(3):
        client.get("/api/v1/openapi.json")
    deadline = time.monotonic() + 10
    while len(_request_rows(db)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_request_rows(db)) == 3


def test_flush_writes_what_is_queued_at_once(app: Flask, db: Database) -> None:
    app.config.update(AUDIT_REQUEST_FLUSH_SECONDS=60, AUDIT_REQUEST_BATCH_ROWS=1000)
    client = app.test_client()
    client.get("/api/v1/openapi.json")
    client.get("/api/v1/openapi.json")
    assert request_row_writer(app, db).flush() == 2  # what atexit does at a clean stop
    assert len(_request_rows(db)) == 2


def test_the_exit_flush_waits_for_a_batch_being_written(app: Flask, db: Database) -> None:
    """A stop must not end the process while the background thread is mid-insert."""
    if db.is_sqlite:
        pytest.skip(
            "on SQLite every transaction takes the one write lock, so the blocker would stall "
            "the requests themselves; the flush code under test is the same on every back-end"
        )
    app.config.update(AUDIT_REQUEST_FLUSH_SECONDS=60, AUDIT_REQUEST_BATCH_ROWS=2)
    writer = request_row_writer(app, db)
    blocker = db.engine.connect()
    # Another transaction holds the log's write lock, so the background insert waits on it.
    blocker.begin()
    blocker.exec_driver_sql("LOCK TABLE pf_audit_log IN EXCLUSIVE MODE")
    release = threading.Timer(0.5, blocker.rollback)
    try:
        client = app.test_client()
        client.get("/api/v1/openapi.json")
        client.get("/api/v1/openapi.json")  # a full batch: the thread takes both rows
        deadline = time.monotonic() + 10
        while writer.queued and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.queued == 0
        release.start()
        writer.flush()  # what atexit runs at a clean stop
        assert len(_request_rows(db)) == 2
    finally:
        # The insert can finish while the timer's rollback is still returning: wait for it
        # rather than roll back the same connection from two threads at once.
        if release.is_alive():
            release.join()
        if blocker.in_transaction():
            blocker.rollback()
        blocker.close()


def test_a_failed_batch_is_logged_and_counted(
    app: Flask, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Database(
        DatabaseSettings(
            url=f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}",
            instance_path=tmp_path / "missing",
            provisioning_wait_seconds=1,
            sqlite_busy_timeout_ms=100,
        )
    )
    writer = RequestRowWriter(broken, 60, 1000)
    real = RequestRowWriter(get_database(app), 60, 1000)
    app.config["AUDIT_REQUEST_FLUSH_SECONDS"] = 60
    with app.test_request_context("/api/v1/x"):
        from pathfinder.audit.record import prepare_row

        row = prepare_row("request", request_meta={"status_code": 200})
    writer.add(row)
    with caplog.at_level(logging.ERROR, logger="pathfinder.audit"):
        assert writer.flush() == 0
    assert writer.lost == 1
    assert "could not write 1 request audit row(s)" in caplog.text
    real.add(row)
    assert real.flush() == 1
