"""Walk the audit chain and report its first broken link.

Rows are read in ``seq`` order in batches (keyset on ``(seq, id)``, so memory stays flat
and a duplicated ``seq`` is still seen). For each row, in this order:

1. ``seq`` continues the previous one: a jump is a deleted row (``missing``), a repeat is
   a ``duplicate``;
2. ``prev_hash`` equals the previous row's ``row_hash``: when it does not, and it equals
   the hash of some other row, rows were moved (``reordered``); otherwise the link is
   broken (``link``: a row replaced, inserted, or deleted and the rest renumbered);
3. the HMAC recomputed from the row's content equals its ``row_hash`` (``edited``).

Finally the head row must point at the last row (``head``): a head beyond the last row is
a truncated tail (``missing``). The walk reads the head first and stops at its ``seq``, so
it can run while the application appends: rows committed after that read are left for the
next run, and every row up to the head was committed with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.audit.chain import (
    GENESIS_HASH,
    ChainHead,
    ChainKeys,
    chain_keys,
    compute_row_hash,
    read_head,
)
from pathfinder.schema.shared.security import audit_log

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class BrokenLink:
    """The first place the chain does not hold: which ``seq``, what kind, in words."""

    seq: int
    reason: str  # missing | duplicate | reordered | link | edited | head
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.reason}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """What a verification run saw."""

    checked: int
    first_seq: int | None
    last_seq: int | None
    head: ChainHead | None
    broken: BrokenLink | None
    # Set when a --since window starts at the first stored row (older rows archived and
    # purged): the prev_hash that was trusted, to compare with the archive's last row_hash.
    anchor: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_chain(
    conn: Connection,
    *,
    since: int | datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    keys: ChainKeys | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the chain from the start, or from ``since`` (a ``seq`` or an instant).

    With ``since`` the first row checked must still link to the stored hash of the row
    before it, so a cut at the start of the window is reported too; only when no row before
    the window is stored at all (an archived prefix) is its link trusted, and reported as
    the report's ``anchor``. ``keys`` default to the app's (``AUDIT_HMAC_KEY``);
    ``progress`` is called with the running row count after each batch read. Read-only;
    never raises for tampering, only reports it.
    """
    keys = keys or chain_keys()
    head = read_head(conn)
    # Without a head there is no bound to stop at: walk everything, then report the head.
    bound = head.seq if head is not None else None
    start = _start_seq(conn, since, bound or 0)
    if bound is not None and start > bound:
        # A window past the head is empty; only rows beyond the head are worth a look.
        return VerifyReport(0, None, None, head, _check_head(conn, head, start, None, None))
    expected_seq = start
    linked = _expected_prev(conn, start)
    if isinstance(linked, BrokenLink):
        return VerifyReport(0, None, None, head, linked)
    expected_prev, anchor = linked

    checked = 0
    first: int | None = None
    last_hash: str | None = None
    last_seq: int | None = None
    for row in _rows(conn, start, bound, batch_size, progress):
        seq = int(row["seq"])
        broken = _check_row(conn, row, expected_seq, expected_prev, keys)
        if broken is not None:
            return VerifyReport(checked, first, last_seq, head, broken, anchor)
        checked += 1
        first = seq if first is None else first
        last_seq, last_hash = seq, str(row["row_hash"])
        expected_seq, expected_prev = seq + 1, last_hash

    broken = _check_head(conn, head, start, last_seq, last_hash)
    return VerifyReport(checked, first, last_seq, head, broken, anchor)


def _start_seq(conn: Connection, since: int | datetime | None, head_seq: int) -> int:
    if since is None:
        return 1
    if isinstance(since, datetime):
        instant = since if since.tzinfo else since.replace(tzinfo=UTC)
        found = conn.execute(
            sa.select(sa.func.min(audit_log.c.seq)).where(audit_log.c.created_at >= instant)
        ).scalar()
        # Nothing at or after that instant: an empty window just past the head.
        return int(found) if found is not None else head_seq + 1
    if since < 1:
        raise ValueError("--since seq must be 1 or more")
    return since


def _expected_prev(conn: Connection, start: int) -> tuple[str, str | None] | BrokenLink:
    """The hash the first checked row must link to, and the anchor when it is trusted.

    From seq 1: the genesis hash. Otherwise the stored hash of the row before the window;
    when that row is missing but rows before it exist, a row was deleted. When nothing
    before the window is stored at all (an archived and purged prefix), the window's first
    ``prev_hash`` is trusted and returned as the anchor, to be compared with the archive.
    """
    if start <= 1:
        return GENESIS_HASH, None
    c = audit_log.c
    before = conn.execute(sa.select(c.row_hash).where(c.seq == start - 1).limit(1)).scalar()
    if before is not None:
        return str(before), None
    earlier = conn.execute(sa.select(sa.func.max(c.seq)).where(c.seq < start)).scalar()
    if earlier is not None:
        return BrokenLink(start - 1, "missing", f"seq {start - 1} (before the window) is missing")
    first = conn.execute(sa.select(c.prev_hash).where(c.seq == start).limit(1)).scalar()
    if first is None:
        return GENESIS_HASH, None  # nothing stored up to the window's start
    return str(first), str(first)


def _rows(
    conn: Connection,
    start: int,
    bound: int | None,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> Iterator[Mapping[str, Any]]:
    c = audit_log.c
    after: tuple[int, str] | None = None
    read = 0
    while True:
        query = sa.select(audit_log).where(c.seq >= start)
        if bound is not None:
            query = query.where(c.seq <= bound)
        if after is not None:
            query = query.where(
                sa.or_(c.seq > after[0], sa.and_(c.seq == after[0], c.id > after[1]))
            )
        batch = conn.execute(query.order_by(c.seq, c.id).limit(batch_size)).mappings().all()
        if not batch:
            return
        yield from batch
        read += len(batch)
        after = (int(batch[-1]["seq"]), str(batch[-1]["id"]))
        if progress is not None:
            progress(read)
        if len(batch) < batch_size:
            return


def _check_row(
    conn: Connection,
    row: Mapping[str, Any],
    expected_seq: int,
    expected_prev: str,
    keys: ChainKeys,
) -> BrokenLink | None:
    seq = int(row["seq"])
    if seq < expected_seq:
        return BrokenLink(seq, "duplicate", f"seq {seq} appears more than once")
    if seq > expected_seq:
        span = str(expected_seq) if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
        return BrokenLink(expected_seq, "missing", f"seq {span} missing (deleted rows)")
    if row["prev_hash"] != expected_prev:
        other = conn.execute(
            sa.select(audit_log.c.seq)
            .where(audit_log.c.row_hash == row["prev_hash"], audit_log.c.seq != seq - 1)
            .limit(1)
        ).scalar()
        if other is not None:
            return BrokenLink(
                seq, "reordered", f"the row at seq {seq} was written after seq {int(other)}"
            )
        return BrokenLink(seq, "link", f"prev_hash does not match the row_hash of seq {seq - 1}")
    if compute_row_hash(row, keys) != row["row_hash"]:
        return BrokenLink(seq, "edited", "the row's content does not match its row_hash")
    return None


def _check_head(
    conn: Connection,
    head: ChainHead | None,
    start: int,
    last_seq: int | None,
    last_hash: str | None,
) -> BrokenLink | None:
    if head is None:
        highest = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar()
        if highest is None:
            return None  # never written to: no head, no rows
        return BrokenLink(int(highest) + 1, "head", "the pf_audit_chain head row is missing")
    if start <= head.seq:
        if last_seq is None or last_seq < head.seq:
            first_missing = (last_seq or start - 1) + 1
            return BrokenLink(
                first_missing,
                "missing",
                f"rows {first_missing}..{head.seq} missing (the head is at seq {head.seq})",
            )
        if last_hash != head.hash:
            return BrokenLink(head.seq, "head", "the head's hash does not match the last row")
    # Rows beyond the head are either appended since the head was read (fine) or the head
    # was moved back. The highest seq is read before the head is read again, so a row
    # committed in between can only make the head look further ahead, never behind.
    highest = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar()
    now = read_head(conn)
    if highest is not None and (now is None or int(highest) > now.seq):
        at = now.seq if now is not None else 0
        return BrokenLink(
            at + 1, "head", f"rows up to seq {int(highest)} lie beyond the head (seq {at})"
        )
    return None
