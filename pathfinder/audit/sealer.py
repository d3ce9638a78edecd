"""The sealer: integrate committed audit rows into the Merkle tree and sign a checkpoint.

Writers only insert (:mod:`pathfinder.audit.record`); the order of the log is fixed here,
after commit, by one sealer at a time (the scheduler's leader every
``AUDIT_SEAL_INTERVAL_SECONDS``, or ``pathfinder audit seal``). A run:

1. reads the latest checkpoint and its saved compact range, and refuses to go on if that
   state does not hash to the checkpoint's root, or if the database's latest checkpoint is
   not the one last exported (a rewritten head must be investigated, not sealed over);
2. takes the committed rows not yet sealed, in ``seq`` order: those above the highest
   sealed ``seq``, and late ones that fill a gap left open by an earlier run (a writer that
   took ``seq`` 7 and committed after 8 was sealed);
3. gives each the next leaf index (``pf_audit_leaves``), extends the tree, signs a
   checkpoint, and commits leaves and checkpoint together;
4. exports the checkpoint to the sink outside the database (:mod:`~.checkpoints`).

Two sealers at once cannot both win: each writes the same leaf indexes, so the second
fails on the primary key and retries from the new state. Gaps (``seq`` values with no
committed row) stay open for ``AUDIT_GAP_SETTLE_SECONDS``, then are settled as never
committed; on SQLite there are none unless a row was deleted (docs/audit.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.audit.checkpoints import (
    Checkpoint,
    SinkSettings,
    exclusive,
    export,
    last_exported,
    load_signing_key,
)
from pathfinder.audit.merkle import CompactRange, audit_leaf
from pathfinder.audit.sanitise import format_instant
from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_checkpoints, audit_leaves, audit_log

log = logging.getLogger("pathfinder.audit")

# Open gap ranges kept at most; past that the oldest are settled early (and counted).
MAX_OPEN_GAPS = 1000
_RETRIES = 5


class SealRefused(RuntimeError):
    """The stored state disagrees with the last checkpoint or the exported one."""


@dataclass(frozen=True)
class SealReport:
    """What a seal run did."""

    rows: int
    tree_size: int
    checkpoints: int
    lag_seconds: float | None
    open_gaps: int
    exported: int


@dataclass
class _State:
    compact: CompactRange
    max_seq: int
    gaps: list[list[Any]]  # [low, high, first seen (ISO)]
    settled: int
    root: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None) -> _State:
        if row is None:
            return cls(CompactRange(), 0, [], 0, None)
        state = row["state"]
        compact = CompactRange.from_json(state)
        if not compact.is_consistent() or compact.size != int(row["tree_size"]):
            raise SealRefused(
                f"the sealer state of checkpoint {row['tree_size']} is damaged; "
                "run `pathfinder audit verify`"
            )
        if compact.root().hex() != row["root_hash"]:
            raise SealRefused(
                f"the sealer state does not hash to the root of checkpoint {row['tree_size']}; "
                "run `pathfinder audit verify`"
            )
        return cls(
            compact,
            int(state["max_seq"]),
            [list(g) for g in state.get("gaps", [])],
            int(state.get("settled", 0)),
            str(row["root_hash"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.compact.to_json(),
            "max_seq": self.max_seq,
            "gaps": self.gaps,
            "settled": self.settled,
        }


def seal(
    db: Database,
    config: Mapping[str, Any],
    *,
    max_rows: int | None = None,
    now: datetime | None = None,
) -> SealReport:
    """Seal every committed, unsealed row (in checkpoints of at most the batch size)."""
    batch_size = int(config.get("AUDIT_SEAL_BATCH_SIZE", 20000))
    settle = timedelta(seconds=float(config.get("AUDIT_GAP_SETTLE_SECONDS", 3600)))
    key = load_signing_key(config)
    sink = SinkSettings.from_config(config)
    sealed = 0
    made: list[Checkpoint] = []
    lag: float | None = None
    tree_size = 0
    open_gaps = 0
    exported = _export_missing(db, sink)
    while max_rows is None or sealed < max_rows:
        limit = batch_size if max_rows is None else min(batch_size, max_rows - sealed)
        result = _seal_once(db, key, limit, settle, now or datetime.now(UTC))
        if result is None:
            break
        checkpoint, rows, oldest, gaps = result
        exported += _export_missing(db, sink)
        made.append(checkpoint)
        sealed += rows
        tree_size = checkpoint.tree_size
        open_gaps = gaps
        age = (datetime.now(UTC) - oldest).total_seconds()
        lag = age if lag is None else max(lag, age)
        if rows < limit:
            break
    if not made:
        with db.connect() as conn:
            tree_size = int(
                conn.execute(sa.select(sa.func.max(audit_checkpoints.c.tree_size))).scalar() or 0
            )
            conn.rollback()
    return SealReport(sealed, tree_size, len(made), lag, open_gaps, exported)


def _export_missing(db: Database, sink: SinkSettings) -> int:
    """Export checkpoints the database has and the file lacks; refuse a rewritten head.

    The database commits a checkpoint before it is exported, so a crash in between leaves
    the file one or more behind: they are exported now. The other way round (the file ahead
    of the database, or disagreeing with it) is what a rewritten log looks like.
    """
    with exclusive(sink.file):
        exported = last_exported(sink.file)
        with db.connect() as conn:
            query = sa.select(audit_checkpoints).order_by(audit_checkpoints.c.tree_size)
            if exported is not None:
                stored = conn.execute(
                    sa.select(audit_checkpoints.c.root_hash).where(
                        audit_checkpoints.c.tree_size == exported.tree_size
                    )
                ).scalar()
                if stored != exported.root_hash:
                    conn.rollback()
                    raise SealRefused(
                        f"the exported checkpoint of size {exported.tree_size} is not in the "
                        "database (or differs there): the log may have been rewritten; "
                        "run `pathfinder audit verify`"
                    )
                query = query.where(audit_checkpoints.c.tree_size > exported.tree_size)
            missing = conn.execute(query).mappings().all()
            conn.rollback()
        checkpoints = [
            Checkpoint.from_signed(r["body"], r["key_id"], r["signature"]) for r in missing
        ]
        export(sink, checkpoints)
    return len(checkpoints)


def _seal_once(
    db: Database, key: Any, limit: int, settle: timedelta, now: datetime
) -> tuple[Checkpoint, int, datetime, int] | None:
    for attempt in range(_RETRIES):
        try:
            with db.transaction() as conn:
                return _seal_batch(conn, key, limit, settle, now)
        except sa.exc.IntegrityError:
            # Another sealer committed the same leaf indexes first: start from its state.
            if attempt == _RETRIES - 1:
                raise
            log.info("another audit sealer ran at the same time; retrying")
    return None  # pragma: no cover - the loop returns or raises


def _seal_batch(
    conn: Connection, key: Any, limit: int, settle: timedelta, now: datetime
) -> tuple[Checkpoint, int, datetime, int] | None:
    latest = _lock_latest_checkpoint(conn)
    state = _State.from_row(latest)
    c = audit_log.c
    late = _late_rows(conn, state.gaps)
    fresh = (
        conn.execute(
            sa.select(c.seq, c.row_hash, c.created_at)
            .where(c.seq > state.max_seq)
            .order_by(c.seq)
            .limit(max(limit - len(late), 1))
        )
        .mappings()
        .all()
    )
    rows = [*late, *fresh]
    if not rows:
        return None
    prev_size, prev_root = state.compact.size, state.root
    _update_gaps(state, late, fresh, settle, now)
    first_leaf = state.compact.size
    new_size = first_leaf + len(rows)
    leaves = []
    for offset, row in enumerate(rows):
        seq, row_hash = int(row["seq"]), str(row["row_hash"])
        state.compact.append(audit_leaf(seq, row_hash))
        leaves.append(
            {
                "leaf_index": first_leaf + offset,
                "seq": seq,
                "row_hash": row_hash,
                "tree_size": new_size,
            }
        )
    conn.execute(audit_leaves.insert(), leaves)
    root = state.compact.root().hex()
    checkpoint = Checkpoint.sign(
        key,
        tree_size=new_size,
        root_hash=root,
        sealed_at=format_instant(now),
        prev_size=prev_size,
        prev_root=prev_root,
        max_seq=state.max_seq,
    )
    conn.execute(
        audit_checkpoints.insert().values(
            tree_size=new_size,
            root_hash=root,
            body=checkpoint.body,
            key_id=checkpoint.key_id,
            signature=checkpoint.signature,
            state=state.to_json(),
            sealed_at=now,
        )
    )
    oldest = min(row["created_at"] for row in rows)
    return checkpoint, len(rows), oldest, len(state.gaps)


def _lock_latest_checkpoint(conn: Connection) -> Mapping[str, Any] | None:
    """Lock the latest checkpoint row: sealers queue here (SQLite: BEGIN IMMEDIATE did).

    The max is read first and its row locked by key (Oracle refuses FOR UPDATE with FETCH
    FIRST). A sealer that waited finds a newer checkpoint committed by the one it waited
    for, so it reads the max again and locks that, until the row it holds is the latest.
    """
    c = audit_checkpoints.c
    held = None
    while True:
        size = conn.execute(sa.select(sa.func.max(c.tree_size))).scalar()
        if size is None or (held is not None and int(held["tree_size"]) == int(size)):
            return held
        held = (
            conn.execute(sa.select(audit_checkpoints).where(c.tree_size == size).with_for_update())
            .mappings()
            .first()
        )


def _late_rows(conn: Connection, gaps: list[list[Any]]) -> list[Mapping[str, Any]]:
    """Rows committed since the last run with a ``seq`` inside an open gap."""
    if not gaps:
        return []
    c = audit_log.c
    found: list[Mapping[str, Any]] = []
    for start in range(0, len(gaps), 100):
        chunk = gaps[start : start + 100]
        found.extend(
            conn.execute(
                sa.select(c.seq, c.row_hash, c.created_at)
                .where(sa.or_(*(c.seq.between(int(g[0]), int(g[1])) for g in chunk)))
                .order_by(c.seq)
            )
            .mappings()
            .all()
        )
    return sorted(found, key=lambda row: int(row["seq"]))


def _update_gaps(
    state: _State,
    late: list[Mapping[str, Any]],
    fresh: list[Mapping[str, Any]],
    settle: timedelta,
    now: datetime,
) -> None:
    """Close what late rows filled, open what fresh rows skipped, settle what is old."""
    seen = now.isoformat()
    filled = {int(row["seq"]) for row in late}
    gaps: list[list[Any]] = []
    for low, high, since in state.gaps:
        cursor, last = int(low), int(high)
        for seq in sorted(s for s in filled if cursor <= s <= last):
            if seq > cursor:
                gaps.append([cursor, seq - 1, since])
            cursor = seq + 1
        if cursor <= last:
            gaps.append([cursor, last, since])
    expected = state.max_seq + 1
    for row in fresh:
        seq = int(row["seq"])
        if seq > expected:
            gaps.append([expected, seq - 1, seen])
        expected = seq + 1
    if fresh:
        state.max_seq = int(fresh[-1]["seq"])
    horizon = now - settle
    kept = []
    for gap in gaps:
        if datetime.fromisoformat(str(gap[2])) < horizon:
            state.settled += int(gap[1]) - int(gap[0]) + 1
        else:
            kept.append(gap)
    while len(kept) > MAX_OPEN_GAPS:
        oldest = kept.pop(0)
        state.settled += int(oldest[1]) - int(oldest[0]) + 1
    state.gaps = kept
