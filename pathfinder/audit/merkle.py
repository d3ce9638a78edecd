"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0, section 2.1), for the audit log.

Why this tree and not the old hash chain: a chain needs each writer to know the previous
row, so every writer waited on one lock. A Merkle tree is built *after* the rows commit, by
the sealer, in batches; its root (a 32-byte commitment to every leaf in order) is signed and
exported, and two proofs come with it:

* an **inclusion proof** shows one row is leaf ``i`` of the tree of size ``n`` with
  ``log2(n)`` hashes (``pathfinder audit prove ID``);
* a **consistency proof** shows the tree of size ``n`` extends the tree of size ``m``
  unchanged: nothing sealed before was edited, removed or reordered.

Hashing follows the RFC exactly (domain-separated leaves and nodes, ``MTH({}) = SHA-256()``,
the split at the largest power of two below ``n``), so any RFC 9162 verifier can check the
proofs. The sealer keeps only the *compact range* of the tree: the roots of its perfect
subtrees, at most ``log2(n)`` hashes, enough to append and to compute the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: a leaf, never confusable with an inner node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an inner node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def audit_leaf(seq: int, row_hash: str) -> bytes:
    """The leaf hash of one audit row: its ``seq`` (8 bytes, big-endian) and its ``row_hash``.

    Binding ``seq`` here, not in the row's HMAC, lets the writer hash a row before the
    database numbers it; a row moved to another ``seq`` then no longer matches its leaf.
    """
    return leaf_hash(seq.to_bytes(8, "big") + bytes.fromhex(row_hash))


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` of already-hashed leaves."""
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact.root()


@dataclass
class CompactRange:
    """The roots of the perfect subtrees of a tree of ``size`` leaves, largest first.

    Appending merges equal-sized neighbours like a binary counter carries; the root folds
    the peaks from the right, which is ``MTH`` of RFC 9162 because its left subtree is
    always the largest perfect tree.
    """

    size: int = 0
    peaks: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        self.peaks.append(leaf)
        carried = self.size
        while carried & 1:
            right = self.peaks.pop()
            left = self.peaks.pop()
            self.peaks.append(node_hash(left, right))
            carried >>= 1
        self.size += 1

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        value = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            value = node_hash(peak, value)
        return value

    def is_consistent(self) -> bool:
        """Whether the number of peaks is what ``size`` says (a damaged state is refused)."""
        return len(self.peaks) == bin(self.size).count("1")

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "peaks": [p.hex() for p in self.peaks]}

    @classmethod
    def from_json(cls, value: dict[str, object]) -> CompactRange:
        peaks = value.get("peaks") or []
        if not isinstance(peaks, list):
            raise ValueError("compact range peaks must be a list")
        return cls(int(str(value.get("size", 0))), [bytes.fromhex(str(p)) for p in peaks])


# -- proofs (RFC 9162 2.1.3 and 2.1.4) ----------------------------------------------------


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """``PATH(index, D[n])``: the audit path of leaf ``index`` in the tree of ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root_of(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root_of(leaves[:k])]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether ``proof`` places ``leaf`` at ``index`` under ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    value = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            value = node_hash(value, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == root


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """``PROOF(m, D[n])``: that the first ``old_size`` leaves are a prefix of ``leaves``."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ValueError(f"no consistency proof from size {old_size} to size {n}")
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root_of(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_of(leaves[:k])]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: whether ``proof`` shows the tree ``new_root`` extends ``old_root``."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(sibling, fr)
            sr = node_hash(sibling, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
