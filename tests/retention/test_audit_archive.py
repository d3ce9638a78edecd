"""The audit log's retention: sealed rows copied to compressed JSON lines, never deleted.

Rows are recent in a test, so the cutoff is put in the future; what matters is which rows
a run takes (sealed, contiguous, after the last archive) and that ``audit verify`` stays
clean because nothing leaves ``pf_audit_log``.
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from pathfinder.audit.archive import archive_audit_log, archive_directory, read_archive
from pathfinder.db import Database
from pathfinder.jobs.retention import apply_retention
from pathfinder.schema.shared.security import audit_archives
from tests.audit import audit_rows, seal, verify, write_events
from tests.concurrency import run_at_once

LATER = datetime.now(UTC) + timedelta(days=1)


def _archives(db: Database) -> list[dict]:
    with db.transaction() as conn:
        rows = conn.execute(sa.select(audit_archives).order_by(audit_archives.c.seq_from))
        return [dict(r) for r in rows.mappings()]


def _archive(app: Flask, db: Database, **kwargs: object):
    with app.app_context():
        return archive_audit_log(
            db, LATER, directory=archive_directory(app), now=datetime.now(UTC), **kwargs
        )


def test_sealed_rows_go_to_a_file_and_stay_in_the_log(app: Flask, db: Database) -> None:
    write_events(app, db, 5)
    seal(app, db)
    before = audit_rows(db)
    preview = _archive(app, db, dry_run=True)
    assert (preview.rows, preview.seq_from, preview.seq_to) == (5, 1, 5)
    assert _archives(db) == [] and not list(archive_directory(app).iterdir())

    report = _archive(app, db)

    assert report.rows == 5
    (record,) = _archives(db)
    assert (record["seq_from"], record["seq_to"], record["row_count"]) == (1, 5, 5)
    path = archive_directory(app) / record["file_name"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["file_sha256"]
    assert len(data) == record["file_bytes"]
    lines = read_archive(path)
    assert [r["seq"] for r in lines] == [1, 2, 3, 4, 5]
    assert [r["row_hash"] for r in lines] == [r["row_hash"] for r in before]
    assert [r["leaf_index"] for r in lines] == [0, 1, 2, 3, 4]
    assert gzip.decompress(data).decode().count("\n") == 5
    # The rows are still there (plus the archive's own audit row) and verify is clean.
    after = audit_rows(db)
    assert [r["row_hash"] for r in after[:5]] == [r["row_hash"] for r in before]
    assert after[-1]["event_type"] == "audit_archived"
    assert after[-1]["details"]["seq_to"] == 5
    seal(app, db)
    assert verify(app, db).ok


def test_the_next_run_continues_after_the_last_range(app: Flask, db: Database) -> None:
    write_events(app, db, 3)
    seal(app, db)
    _archive(app, db)
    write_events(app, db, 2)
    # Not sealed yet: nothing may be archived past the first unsealed row.
    assert _archive(app, db, dry_run=True).rows == 0
    seal(app, db)
    report = _archive(app, db)
    ranges = [(a["seq_from"], a["seq_to"]) for a in _archives(db)]
    assert ranges[0] == (1, 3)
    assert ranges[1][0] == 4 and report.rows == ranges[1][1] - 3
    assert _archive(app, db).rows == 0
    seal(app, db)
    assert verify(app, db).ok


def test_files_are_cut_at_the_configured_size(app: Flask, db: Database) -> None:
    write_events(app, db, 5)
    seal(app, db)
    report = _archive(app, db, rows_per_file=2)
    assert [(f.seq_from, f.seq_to) for f in report.files or []] == [(1, 2), (3, 4), (5, 5)]


def test_the_retention_policy_archives_the_audit_log(
    app: Flask, db: Database, tmp_path: Path
) -> None:
    write_events(app, db, 4)
    seal(app, db)
    folder = tmp_path / "archive"
    folder.mkdir()
    with app.app_context():
        report = apply_retention(db, LATER + timedelta(days=2555), archive_dir=folder)
    assert report.applied["audit_log"] == 4
    assert report.details["audit_log"]["seq_from"] == 1
    assert [p.name for p in folder.iterdir()] == ["audit-000000000001-000000000004.jsonl.gz"]
    assert len(audit_rows(db)) >= 4


def test_two_archive_runs_at_once_archive_each_row_once(app: Flask, db: Database) -> None:
    """The scheduled job and a DBA's `retention run` may start together: neither may fail
    on the other's range or write it twice (two threads, each with its own connections;
    two processes below)."""
    write_events(app, db, 12)
    seal(app, db)
    run_at_once(lambda: _archive(app, db, rows_per_file=2), 2)
    ranges = [(a["seq_from"], a["seq_to"]) for a in _archives(db)]
    archived = [seq for first, last in ranges for seq in range(first, last + 1)]
    assert archived == list(range(1, 13))


# A process of its own: the app on the same database and instance, released by a file.
_ARCHIVER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from pathfinder.audit.archive import archive_audit_log, archive_directory
from pathfinder.db import get_database
from tests.conftest import make_app

url, instance, cutoff, ready, go = sys.argv[1:6]
app = make_app(url, Path(instance))
with app.app_context():
    db = get_database(app)
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.01)
    report = archive_audit_log(
        db, datetime.fromisoformat(cutoff), directory=archive_directory(app),
        now=datetime.now(UTC), rows_per_file=2,
    )
    print(report.rows)
"""


def test_two_archiving_processes_archive_each_row_once(
    app: Flask, db: Database, tmp_path: Path
) -> None:
    """As the scheduler and a DBA's command meet in production: two processes, on
    PostgreSQL a row lock in the database, on SQLite a file lock in the instance."""
    write_events(app, db, 12)
    seal(app, db)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in (1, 2)]
    settings = [str(app.config["DATABASE_URL"]), app.instance_path, LATER.isoformat()]
    processes = [
        subprocess.Popen(  # noqa: S603 - this interpreter, with the code above
            [sys.executable, "-c", _ARCHIVER, *settings, str(flag), str(go)],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sorted(int(out) for out, _ in outputs) == [0, 12]
    ranges = [(a["seq_from"], a["seq_to"]) for a in _archives(db)]
    assert [seq for first, last in ranges for seq in range(first, last + 1)] == list(range(1, 13))
    assert len(list(archive_directory(app).iterdir())) == 6
