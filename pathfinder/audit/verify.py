"""Verify the audit log: rows, Merkle tree, signed checkpoints and the exported copy.

What is checked, and what each finding means (``docs/audit.md`` has the long form):

1. **The exported checkpoints** (the file outside the database): every line parses, is
   signed by a known key, and names the checkpoint before it (``export``: a torn or removed
   line). They are the trust anchor: what the database says is held against them.
2. **The database's checkpoints**: signed, chained, and equal to the exported ones of the
   same size (``checkpoint``: rewritten). An exported checkpoint larger than any in the
   database means the tail was cut and the head rewritten (``truncated``); database
   checkpoints the file lacks mean the file was truncated (``export``).
3. **The tree**: the leaves, in order, hash to the signed root of every checkpoint (which
   also proves each checkpoint extends the one before: the roots of all prefixes match);
   leaves missing from the table are ``deleted``; a leaf table that was edited is ``tree``.
4. **Each sealed row**: it is still there (``deleted``), its content still matches its HMAC
   (``edited``), and it is the row sealed at its ``seq`` (``reordered`` when it was sealed
   at another one, ``replaced`` otherwise).
5. **Rows not sealed yet**: their HMAC matches (``edited``); they are counted, with the age
   of the oldest, so a stalled sealer shows.
6. **Gaps** in ``seq``: SQLite never leaves one, so there a gap is a deletion (``deleted``);
   PostgreSQL and Oracle leave one per rolled-back insert, so there gaps are counted and
   listed for comparison with the rolled-back numbers in the application log.

Read-only; never raises for tampering, only reports it (up to ``max_findings``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from sqlalchemy.engine import Connection

from pathfinder.audit.checkpoints import (
    Checkpoint,
    SinkSettings,
    iter_chain_problems,
    read_exported,
    verifying_keys,
)
from pathfinder.audit.hashing import RowKeys, compute_row_hash, row_keys
from pathfinder.audit.merkle import CompactRange, audit_leaf
from pathfinder.schema.shared.security import audit_checkpoints, audit_leaves, audit_log

DEFAULT_BATCH_SIZE = 2000
MAX_FINDINGS = 50


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold: where, what kind, in words (never row content)."""

    kind: str  # export | checkpoint | truncated | tree | deleted | edited | reordered | replaced
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.detail}"


@dataclass
class VerifyReport:
    """What a verification run saw."""

    rows_checked: int = 0
    leaves: int = 0
    checkpoints: int = 0
    exported: int = 0
    tree_size: int = 0
    root_hash: str | None = None
    unsealed: int = 0
    oldest_unsealed: datetime | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def gap_count(self) -> int:
        return sum(high - low + 1 for low, high in self.gaps)


class _Findings:
    def __init__(self, report: VerifyReport, limit: int) -> None:
        self.report = report
        self.limit = limit

    def add(self, kind: str, where: str, detail: str) -> None:
        if len(self.report.findings) < self.limit:
            self.report.findings.append(Finding(kind, where, detail))


def verify_log(
    conn: Connection,
    *,
    keys: RowKeys,
    public_keys: Mapping[str, Ed25519PublicKey],
    exported_file: Path | None,
    since: int | datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    max_findings: int = MAX_FINDINGS,
) -> VerifyReport:
    """Check everything listed in the module docstring; ``since`` limits the row checks.

    ``since`` (a ``seq`` or an instant) skips recomputing the HMAC of older rows (and their
    absence: an archived prefix); the tree and checkpoints are always checked in full.
    """
    report = VerifyReport()
    found = _Findings(report, max_findings)
    trusted = _checkpoints(conn, public_keys, exported_file, report, found)
    first_seq = _since_seq(conn, since)
    present = bytearray()
    _walk_leaves(conn, keys, trusted, first_seq, batch_size, progress, present, report, found)
    _walk_unsealed(conn, keys, batch_size, present, report, found)
    _gaps(conn, present, report, found)
    return report


# -- checkpoints ---------------------------------------------------------------------------


def _checkpoints(
    conn: Connection,
    public_keys: Mapping[str, Ed25519PublicKey],
    exported_file: Path | None,
    report: VerifyReport,
    found: _Findings,
) -> dict[int, str]:
    """Check both copies of the checkpoints; return the trusted root of each tree size."""
    stored = [
        Checkpoint.from_signed(r.body, r.key_id, r.signature)
        for r in conn.execute(
            sa.select(
                audit_checkpoints.c.body,
                audit_checkpoints.c.key_id,
                audit_checkpoints.c.signature,
            ).order_by(audit_checkpoints.c.tree_size)
        )
    ]
    report.checkpoints = len(stored)
    for checkpoint in stored:
        if not checkpoint.signature_ok(public_keys):
            found.add(
                "checkpoint",
                f"checkpoint {checkpoint.tree_size}",
                "its signature does not verify with any known key (forged or edited)",
            )
    for problem in iter_chain_problems(stored):
        found.add("checkpoint", "pf_audit_checkpoints", problem)
    roots = {c.tree_size: c.root_hash for c in stored}

    if exported_file is None:
        return roots
    exported = read_exported(exported_file)
    report.exported = len(exported.checkpoints)
    if not exported.exists:
        if stored:
            found.add(
                "export",
                str(exported_file),
                f"no exported checkpoint file, but the database has {len(stored)} checkpoint(s)",
            )
        return roots
    for problem in exported.problems:
        found.add("export", str(exported_file), problem)
    for checkpoint in exported.checkpoints:
        if not checkpoint.signature_ok(public_keys):
            found.add(
                "export",
                f"exported checkpoint {checkpoint.tree_size}",
                "its signature does not verify with any known key",
            )
    for problem in iter_chain_problems(exported.checkpoints):
        found.add("export", str(exported_file), f"a line is missing: {problem}")

    db_latest = stored[-1].tree_size if stored else 0
    reported_truncation = False
    for checkpoint in exported.checkpoints:
        size = checkpoint.tree_size
        if size not in roots:
            if size > db_latest and not reported_truncation:
                latest = exported.checkpoints[-1].tree_size
                found.add(
                    "truncated",
                    f"checkpoint {latest}",
                    f"the exported checkpoints reach tree size {latest}, the database's stop at "
                    f"{db_latest}: the log's tail was deleted and its head rewritten",
                )
                reported_truncation = True
            elif size <= db_latest:
                found.add(
                    "checkpoint",
                    f"checkpoint {size}",
                    "exported, but missing from the database (deleted)",
                )
        elif roots[size] != checkpoint.root_hash:
            found.add(
                "checkpoint",
                f"checkpoint {size}",
                "the database's root differs from the exported one (rewritten)",
            )
        roots[size] = checkpoint.root_hash  # the exported copy is the one trusted
    exported_latest = exported.latest.tree_size if exported.latest else 0
    if db_latest > exported_latest:
        found.add(
            "export",
            str(exported_file),
            f"the exported checkpoints stop at tree size {exported_latest}, the database's "
            f"reach {db_latest}: the checkpoint file was truncated (or the sealer could not "
            "export: `pathfinder audit seal` exports what is missing)",
        )
    return roots


# -- the tree and the sealed rows ----------------------------------------------------------


def _since_seq(conn: Connection, since: int | datetime | None) -> int:
    if since is None:
        return 0
    if isinstance(since, datetime):
        instant = since if since.tzinfo else since.replace(tzinfo=UTC)
        found = conn.execute(
            sa.select(sa.func.min(audit_log.c.seq)).where(audit_log.c.created_at >= instant)
        ).scalar()
        return int(found) if found is not None else 2**62
    if since < 1:
        raise ValueError("--since seq must be 1 or more")
    return since


def _mark(present: bytearray, seq: int) -> None:
    byte = seq >> 3
    if byte >= len(present):
        present.extend(bytes(byte - len(present) + 1024))
    present[byte] |= 1 << (seq & 7)


def _is_marked(present: bytearray, seq: int) -> bool:
    byte = seq >> 3
    return byte < len(present) and bool(present[byte] & (1 << (seq & 7)))


_LEAF_COLUMNS = [
    audit_leaves.c.leaf_index,
    audit_leaves.c.seq.label("leaf_seq"),
    audit_leaves.c.row_hash.label("leaf_row_hash"),
]


def _walk_leaves(
    conn: Connection,
    keys: RowKeys,
    trusted: Mapping[int, str],
    first_seq: int,
    batch_size: int,
    progress: Callable[[int], None] | None,
    present: bytearray,
    report: VerifyReport,
    found: _Findings,
) -> None:
    compact = CompactRange()
    expected_index = 0
    after = -1
    joined = audit_leaves.outerjoin(audit_log, audit_log.c.seq == audit_leaves.c.seq)
    while True:
        batch = (
            conn.execute(
                sa.select(*_LEAF_COLUMNS, audit_log)
                .select_from(joined)
                .where(audit_leaves.c.leaf_index > after)
                .order_by(audit_leaves.c.leaf_index)
                .limit(batch_size)
            )
            .mappings()
            .all()
        )
        for row in batch:
            index, seq = int(row["leaf_index"]), int(row["leaf_seq"])
            if index != expected_index:
                found.add(
                    "deleted",
                    f"leaf {expected_index}",
                    f"leaves {expected_index}..{index - 1} are missing from pf_audit_leaves",
                )
            expected_index = index + 1
            compact.append(audit_leaf(seq, str(row["leaf_row_hash"])))
            _mark(present, seq)
            if seq >= first_seq:
                _check_sealed_row(conn, keys, row, seq, index, report, found)
            root = trusted.get(compact.size)
            if root is not None and compact.root().hex() != root:
                found.add(
                    "tree",
                    f"checkpoint {compact.size}",
                    "the sealed leaves do not hash to its signed root (pf_audit_leaves edited, "
                    "or leaves deleted)",
                )
        report.leaves += len(batch)
        if progress is not None:
            progress(report.leaves)
        if len(batch) < batch_size:
            break
        after = int(batch[-1]["leaf_index"])
    report.tree_size = compact.size
    report.root_hash = compact.root().hex() if compact.size else None
    latest = max(trusted, default=0)
    if compact.size < latest:
        found.add(
            "deleted",
            f"leaf {compact.size}",
            f"the tree has {compact.size} leaves but the latest checkpoint has {latest}: "
            "sealed leaves were deleted",
        )
    elif compact.size > latest:
        found.add(
            "tree",
            f"leaf {latest}",
            f"{compact.size - latest} leaves lie beyond the latest checkpoint (inserted)",
        )


def _check_sealed_row(
    conn: Connection,
    keys: RowKeys,
    row: Mapping[str, Any],
    seq: int,
    index: int,
    report: VerifyReport,
    found: _Findings,
) -> None:
    where = f"seq {seq}"
    if row["id"] is None:
        found.add("deleted", where, f"the row sealed as leaf {index} is gone")
        return
    report.rows_checked += 1
    if compute_row_hash(row, keys) != row["row_hash"]:
        found.add("edited", where, "the row's content does not match its row_hash")
        return
    if row["row_hash"] == row["leaf_row_hash"]:
        return
    moved_from = conn.execute(
        sa.select(audit_leaves.c.seq).where(audit_leaves.c.row_hash == row["row_hash"]).limit(1)
    ).scalar()
    if moved_from is not None:
        found.add("reordered", where, f"this row was sealed at seq {int(moved_from)} (rows moved)")
    else:
        found.add("replaced", where, "this is not the row that was sealed at this seq")


# -- rows not sealed yet, and gaps --------------------------------------------------------


def _walk_unsealed(
    conn: Connection,
    keys: RowKeys,
    batch_size: int,
    present: bytearray,
    report: VerifyReport,
    found: _Findings,
) -> None:
    sealed = sa.select(audit_leaves.c.seq).where(audit_leaves.c.seq == audit_log.c.seq)
    after = 0
    while True:
        batch = (
            conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.seq > after, ~sealed.exists())
                .order_by(audit_log.c.seq)
                .limit(batch_size)
            )
            .mappings()
            .all()
        )
        for row in batch:
            seq = int(row["seq"])
            _mark(present, seq)
            report.unsealed += 1
            created = row["created_at"]
            if report.oldest_unsealed is None or created < report.oldest_unsealed:
                report.oldest_unsealed = created
            if compute_row_hash(row, keys) != row["row_hash"]:
                found.add("edited", f"seq {seq}", "the row's content does not match its row_hash")
        if len(batch) < batch_size:
            break
        after = int(batch[-1]["seq"])


def _gaps(conn: Connection, present: bytearray, report: VerifyReport, found: _Findings) -> None:
    highest = len(present) * 8 - 1
    while highest > 0 and not _is_marked(present, highest):
        highest -= 1
    low: int | None = None
    for seq in range(1, highest + 1):
        if not _is_marked(present, seq):
            low = seq if low is None else low
        elif low is not None:
            report.gaps.append((low, seq - 1))
            low = None
    if conn.dialect.name != "sqlite":
        return
    for low_seq, high_seq in report.gaps:
        span = str(low_seq) if low_seq == high_seq else f"{low_seq}..{high_seq}"
        found.add(
            "deleted",
            f"seq {low_seq}",
            f"seq {span} is missing; SQLite never leaves a gap, so rows were deleted",
        )


def verify_configured(
    conn: Connection, app: Flask, *, exported_file: Path | None = None, **kwargs: Any
) -> VerifyReport:
    """:func:`verify_log` with the app's keys and its exported checkpoint file."""
    config = app.config
    return verify_log(
        conn,
        keys=row_keys(app),
        public_keys=verifying_keys(config),
        exported_file=exported_file or SinkSettings.from_config(config).file,
        **kwargs,
    )
