"""Request audit rows, written in batches by each worker.

A ``request`` row describes a request whose own work has already committed (or rolled
back): it never shares a transaction with a change, so nothing ties its insert to the
request's. Inserting it alone costs a round trip, a pooled connection and the server's
work on one row for every request, which under gunicorn on PostgreSQL cost light endpoints
a quarter of their throughput. So each worker process prepares the row in the request
(checked, sanitised, stamped and signed as any other row) and a background thread inserts
what has gathered every ``AUDIT_REQUEST_FLUSH_SECONDS`` (default 0.1) in one statement,
or sooner when ``AUDIT_REQUEST_BATCH_ROWS`` are waiting.

The price, stated in ``docs/audit.md``: a worker killed without warning (SIGKILL, the OOM
killer, a power cut) loses the request rows of at most its last flush interval. A normal
stop (gunicorn's graceful shutdown, interpreter exit) flushes first. Change rows are never
buffered: they commit with their change. ``AUDIT_REQUEST_FLUSH_SECONDS = 0`` writes each
request row at once, as before, in its own single-statement commit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask

from pathfinder.audit.record import insert_row, insert_rows
from pathfinder.db import Database

log = logging.getLogger("pathfinder.audit")

_EXTENSION_KEY = "pathfinder.audit_request_rows"
_create_lock = threading.Lock()


class RequestRowWriter:
    """One worker's buffer of prepared request rows and the thread that flushes it."""

    def __init__(self, db: Database, flush_seconds: float, batch_rows: int) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self.batch_rows = max(1, batch_rows)
        self._rows: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()
        # Held for a whole flush, insert included: the exit flush must wait for a batch the
        # background thread has taken but not yet written, or the interpreter ends that
        # (daemon) thread mid-insert and the batch is lost.
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.lost = 0
        if flush_seconds > 0:
            atexit.register(self.flush)

    def add(self, row: Mapping[str, Any]) -> None:
        """Queue a prepared row (or write it now when buffering is off)."""
        if self.flush_seconds <= 0:
            with self.db.single_statement() as conn:
                insert_row(conn, row)
            return
        with self._lock:
            if self._pid != os.getpid():  # forked after a row was queued: start afresh
                self._rows, self._thread, self._pid = [], None, os.getpid()
            self._rows.append(row)
            waiting = len(self._rows)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="pathfinder-audit-request-rows", daemon=True
                )
                self._thread.start()
        if waiting >= self.batch_rows:
            self._wake.set()

    @property
    def queued(self) -> int:
        """Rows waiting for the next flush (not yet taken by one)."""
        with self._lock:
            return len(self._rows)

    def flush(self) -> int:
        """Insert every queued row now, in one statement; return how many were written."""
        with self._flushing:
            return self._flush_taken()

    def _flush_taken(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            with self.db.single_statement() as conn:
                insert_rows(conn, rows)
        except Exception as error:  # an audit outage must not stop the worker
            self.lost += len(rows)
            log.error(
                "could not write %d request audit row(s) (request_ids=%s...): %s",
                len(rows),
                ",".join(str(r.get("row_request_id")) for r in rows[:5]),
                type(error).__name__,
                exc_info=True,
            )
            return 0
        return len(rows)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()


def request_row_writer(app: Flask, db: Database) -> RequestRowWriter:
    """The app's writer, made on first use (after gunicorn has forked its workers)."""
    writer = app.extensions.get(_EXTENSION_KEY)
    if writer is None:
        with _create_lock:
            writer = app.extensions.get(_EXTENSION_KEY)
            if writer is None:
                writer = RequestRowWriter(
                    db,
                    float(app.config.get("AUDIT_REQUEST_FLUSH_SECONDS", 0.1)),
                    int(app.config.get("AUDIT_REQUEST_BATCH_ROWS", 500)),
                )
                app.extensions[_EXTENSION_KEY] = writer
    return writer
