"""Inclusion and consistency proofs for the sealed audit log, from the leaf table.

``pathfinder audit prove ID`` answers "is this row in the log the auditor was shown?": an
RFC 9162 inclusion proof of the row's leaf under a signed checkpoint's root, which anyone
holding the checkpoint can check with the standard algorithm and no database access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.audit.checkpoints import Checkpoint
from pathfinder.audit.merkle import (
    audit_leaf,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from pathfinder.schema.shared.security import audit_checkpoints, audit_leaves, audit_log


class ProofError(LookupError):
    """The row, its leaf or the checkpoint asked for does not exist."""


@dataclass(frozen=True)
class InclusionProof:
    row_id: str
    seq: int
    leaf_index: int
    checkpoint: Checkpoint
    leaf_hash: bytes
    path: list[bytes]
    verified: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "leaf_hash": self.leaf_hash.hex(),
            "tree_size": self.checkpoint.tree_size,
            "root_hash": self.checkpoint.root_hash,
            "inclusion_path": [h.hex() for h in self.path],
            "checkpoint": {
                "body": self.checkpoint.body,
                "key_id": self.checkpoint.key_id,
                "signature": self.checkpoint.signature,
            },
            "verified": self.verified,
        }


def _checkpoint(conn: Connection, size: int | None) -> Checkpoint:
    c = audit_checkpoints.c
    if size is None:
        size = conn.execute(sa.select(sa.func.max(c.tree_size))).scalar()
        if size is None:
            raise ProofError("nothing is sealed yet: run `pathfinder audit seal`")
    row = conn.execute(sa.select(c.body, c.key_id, c.signature).where(c.tree_size == size)).first()
    if row is None:
        raise ProofError(f"no checkpoint of tree size {size}")
    return Checkpoint.from_signed(row.body, row.key_id, row.signature)


def _leaves(conn: Connection, size: int) -> list[bytes]:
    rows = conn.execute(
        sa.select(audit_leaves.c.seq, audit_leaves.c.row_hash)
        .where(audit_leaves.c.leaf_index < size)
        .order_by(audit_leaves.c.leaf_index)
    ).all()
    if len(rows) != size:
        raise ProofError(f"the leaf table holds {len(rows)} of {size} leaves: run audit verify")
    return [audit_leaf(int(seq), str(row_hash)) for seq, row_hash in rows]


def inclusion_for(conn: Connection, row_id: str, size: int | None = None) -> InclusionProof:
    """The inclusion proof of audit row ``row_id`` under checkpoint ``size`` (or the latest)."""
    found = conn.execute(
        sa.select(audit_log.c.seq, audit_leaves.c.leaf_index, audit_leaves.c.row_hash)
        .select_from(audit_log.join(audit_leaves, audit_leaves.c.seq == audit_log.c.seq))
        .where(audit_log.c.id == row_id)
    ).first()
    if found is None:
        raise ProofError(f"audit row {row_id} does not exist or is not sealed yet")
    checkpoint = _checkpoint(conn, size)
    index = int(found.leaf_index)
    if index >= checkpoint.tree_size:
        raise ProofError(f"audit row {row_id} was sealed after tree size {checkpoint.tree_size}")
    leaves = _leaves(conn, checkpoint.tree_size)
    path = inclusion_proof(index, leaves)
    leaf = leaves[index]
    verified = verify_inclusion(
        index, checkpoint.tree_size, leaf, path, bytes.fromhex(checkpoint.root_hash)
    )
    return InclusionProof(row_id, int(found.seq), index, checkpoint, leaf, path, verified)


def consistency_between(conn: Connection, old_size: int, new_size: int) -> tuple[list[bytes], bool]:
    """The consistency proof from checkpoint ``old_size`` to ``new_size``, and whether it holds."""
    old, new = _checkpoint(conn, old_size), _checkpoint(conn, new_size)
    leaves = _leaves(conn, new.tree_size)
    proof = consistency_proof(old.tree_size, leaves)
    holds = verify_consistency(
        old.tree_size,
        new.tree_size,
        bytes.fromhex(old.root_hash),
        bytes.fromhex(new.root_hash),
        proof,
    )
    return proof, holds
