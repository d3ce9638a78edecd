"""Archiving the audit log: old sealed rows copied to compressed JSON-lines files.

The audit log's retention policy archives, it never deletes: every row is a leaf of the
Merkle tree, and a deleted leaf is exactly what ``pathfinder audit verify`` exists to
report. Archiving therefore *copies* rows older than the policy's cutoff to a file
(``audit-<seq_from>-<seq_to>.jsonl.gz``, one canonical JSON object per line: the row as
stored, with its leaf index) and records the file in ``pf_audit_archives`` with its range
and SHA-256. The rows stay in the database; the archive is what survives the database's
own backups expiring, and what an auditor can be handed without database access.

Each file is one contiguous ``seq`` range that starts right after the previous file's, holds
only sealed rows, and stops before the first row that is unsealed or not yet old enough. So
archiving never skips a row: a row committed late (a lower ``seq`` than rows already sealed)
holds the range back until it is sealed. A rolled-back number is a gap in the range, as it
is in the log.

The file is written (to a temporary name, flushed, then renamed) before its row is
inserted: a crash between the two leaves a file with no row, which the next run overwrites
with the same content; never a row without its file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from pathfinder import audit
from pathfinder.db import Database
from pathfinder.db.named_locks import named_lock
from pathfinder.ids import new_id
from pathfinder.schema.shared.security import audit_archives, audit_leaves, audit_log

ARCHIVE_SUFFIX = ".jsonl.gz"
DEFAULT_ROWS_PER_FILE = 50_000
# One archive run at a time, across processes and nodes (pathfinder.db.named_locks); a
# second run waits this long for the first to finish, then fails with LockBusy.
ARCHIVE_LOCK = "audit-archive"
ARCHIVE_LOCK_WAIT_SECONDS = 600.0


@dataclass(frozen=True)
class ArchivedRange:
    """One archive file: its range, size and digest (as recorded in ``pf_audit_archives``)."""

    seq_from: int
    seq_to: int
    row_count: int
    file_name: str
    file_sha256: str
    file_bytes: int


@dataclass
class ArchiveReport:
    """What one archiving run did, or (``dry_run``) would do."""

    dry_run: bool
    rows: int = 0
    seq_from: int | None = None
    seq_to: int | None = None
    files: list[ArchivedRange] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "rows": self.rows,
            "seq_from": self.seq_from,
            "seq_to": self.seq_to,
            "files": [f.file_name for f in self.files or []],
        }


def archive_directory(app: Flask) -> Path:
    """``AUDIT_ARCHIVE_DIR``, or ``<instance>/audit-archive``; created when missing."""
    configured = app.config.get("AUDIT_ARCHIVE_DIR")
    path = Path(configured) if configured else Path(app.instance_path) / "audit-archive"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _last_archived_seq(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(audit_archives.c.seq_to))).scalar() or 0)


def archivable_bound(conn: sa.Connection, after: int, cutoff: datetime) -> int | None:
    """The first ``seq`` after ``after`` that may not be archived yet (None: no limit).

    That is the lowest row that is too young or not sealed; every row before it (and after
    ``after``) is sealed and older than ``cutoff``.
    """
    log = audit_log.c
    too_young = sa.select(sa.func.min(log.seq)).where(log.seq > after, log.created_at >= cutoff)
    unsealed = (
        sa.select(sa.func.min(log.seq))
        .select_from(audit_log.outerjoin(audit_leaves, audit_leaves.c.seq == log.seq))
        .where(log.seq > after, audit_leaves.c.seq.is_(None))
    )
    bounds = [conn.execute(q).scalar() for q in (too_young, unsealed)]
    present = [int(b) for b in bounds if b is not None]
    return min(present) if present else None


def _row_document(row: sa.RowMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _rows(conn: sa.Connection, after: int, bound: int | None, limit: int) -> list[sa.RowMapping]:
    query = (
        sa.select(audit_log, audit_leaves.c.leaf_index)
        .join(audit_leaves, audit_leaves.c.seq == audit_log.c.seq)
        .where(audit_log.c.seq > after)
        .order_by(audit_log.c.seq)
        .limit(limit)
    )
    if bound is not None:
        query = query.where(audit_log.c.seq < bound)
    return list(conn.execute(query).mappings())


def _write_file(directory: Path, name: str, rows: list[sa.RowMapping]) -> tuple[str, int]:
    """Write the rows to ``directory/name`` atomically; return (sha256, bytes)."""
    lines = [
        json.dumps(_row_document(r), sort_keys=True, separators=(",", ":"), default=str)
        for r in rows
    ]
    # mtime=0: the same rows give the same bytes, so a re-run after a crash is idempotent.
    data = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)
    target = directory / name
    temporary = directory / f".{name}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return hashlib.sha256(data).hexdigest(), len(data)


def archive_audit_log(
    db: Database,
    cutoff: datetime,
    *,
    directory: Path | None,
    dry_run: bool = False,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    now: datetime,
) -> ArchiveReport:
    """Copy sealed audit rows older than ``cutoff`` to archive files; record each range.

    ``dry_run`` counts the rows that would be archived and writes nothing. Otherwise one
    file of at most ``rows_per_file`` rows is written per step, its row and an
    ``audit_archived`` audit row are committed together, and the next step starts after it.
    Call in an app context (the audit row is signed with the app's keys).
    """
    report = ArchiveReport(dry_run=dry_run, files=[])
    with db.connect() as conn:
        after = _last_archived_seq(conn)
        bound = archivable_bound(conn, after, cutoff)
        if dry_run:
            query = (
                sa.select(
                    sa.func.count(), sa.func.min(audit_log.c.seq), sa.func.max(audit_log.c.seq)
                )
                .select_from(audit_log.join(audit_leaves, audit_leaves.c.seq == audit_log.c.seq))
                .where(audit_log.c.seq > after)
            )
            if bound is not None:
                query = query.where(audit_log.c.seq < bound)
            count, first, last = conn.execute(query).one()
            conn.rollback()
            report.rows = int(count or 0)
            report.seq_from = int(first) if first is not None else None
            report.seq_to = int(last) if last is not None else None
            return report
        conn.rollback()
    if directory is None:
        raise ValueError("an archive directory is needed to archive")
    # The scheduled job and a DBA's `retention run` may start together: one archives at a
    # time, and the other then continues after the ranges the first recorded.
    with named_lock(db, ARCHIVE_LOCK, wait_seconds=ARCHIVE_LOCK_WAIT_SECONDS):
        _archive_steps(db, cutoff, directory, rows_per_file, now, report)
    return report


def _archive_steps(
    db: Database,
    cutoff: datetime,
    directory: Path,
    rows_per_file: int,
    now: datetime,
    report: ArchiveReport,
) -> None:
    while True:
        with db.transaction() as conn:
            after = _last_archived_seq(conn)
            bound = archivable_bound(conn, after, cutoff)
            rows = _rows(conn, after, bound, rows_per_file)
            if not rows:
                return
            first, last = int(rows[0]["seq"]), int(rows[-1]["seq"])
            name = f"audit-{first:012d}-{last:012d}{ARCHIVE_SUFFIX}"
            digest, size = _write_file(directory, name, rows)
            conn.execute(
                audit_archives.insert().values(
                    id=new_id(),
                    seq_from=first,
                    seq_to=last,
                    row_count=len(rows),
                    first_created_at=min(r["created_at"] for r in rows),
                    last_created_at=max(r["created_at"] for r in rows),
                    file_name=name,
                    file_sha256=digest,
                    file_bytes=size,
                    cutoff=cutoff,
                    created_at=now,
                )
            )
            audit.record(
                conn,
                "audit_archived",
                target_type="audit_archive",
                target_display=name,
                details={
                    "seq_from": first,
                    "seq_to": last,
                    "rows": len(rows),
                    "sha256": digest,
                    "cutoff": cutoff.isoformat(),
                },
            )
        archived = ArchivedRange(first, last, len(rows), name, digest, size)
        report.files = [*(report.files or []), archived]
        report.rows += len(rows)
        report.seq_from = first if report.seq_from is None else report.seq_from
        report.seq_to = last


def read_archive(path: Path) -> list[dict[str, Any]]:
    """The rows of one archive file, in ``seq`` order (for auditors and tests)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
