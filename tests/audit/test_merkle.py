"""The Merkle tree against RFC 9162's definitions: roots, inclusion and consistency proofs.

The reference ``mth`` below is the RFC's recursive definition, written as plainly as
possible; the module's compact range, proofs and proof checks must agree with it.
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pathfinder.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def make_leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_known_answers() -> None:
    assert EMPTY_ROOT.hex() == hashlib.sha256(b"").hexdigest()
    assert leaf_hash(b"").hex() == hashlib.sha256(b"\x00").hexdigest()
    assert root_of([leaf_hash(b"a")]) == leaf_hash(b"a")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_the_compact_range_root_is_the_rfc_root(n: int) -> None:
    leaves = make_leaves(n)
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    assert compact.root() == mth(leaves)
    assert compact.is_consistent()
    restored = CompactRange.from_json(compact.to_json())
    restored.append(leaf_hash(b"next"))
    assert restored.root() == mth([*leaves, leaf_hash(b"next")])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_and_fail_when_wrong(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=200))
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = make_leaves(n)
    root = mth(leaves)
    proof = inclusion_proof(index, leaves)
    assert verify_inclusion(index, n, leaves[index], proof, root)
    assert not verify_inclusion(index, n, leaf_hash(b"other"), proof, root)
    if n > 1:
        assert not verify_inclusion((index + 1) % n, n, leaves[index], proof, root)
    if proof:
        assert not verify_inclusion(index, n, leaves[index], proof[:-1], root)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_consistency_proofs_verify_and_catch_a_changed_prefix(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=200))
    m = data.draw(st.integers(min_value=1, max_value=n))
    leaves = make_leaves(n)
    proof = consistency_proof(m, leaves)
    assert verify_consistency(m, n, mth(leaves[:m]), mth(leaves), proof)
    if m < n:
        changed = list(leaves)
        changed[data.draw(st.integers(min_value=0, max_value=m - 1))] = leaf_hash(b"evil")
        assert not verify_consistency(m, n, mth(changed[:m]), mth(leaves), proof)
        assert not verify_consistency(m, n, mth(leaves[:m]), mth(changed), proof)
