"""Crypto-shredding: once a user's keys are destroyed, their data is noise, everywhere."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Connection

from pathfinder.db import Database
from pathfinder.schema.shared.security import encryption_keys
from pathfinder.security.fields import FieldCipher
from pathfinder.security.keys import DataKeyStore, KeyDestroyed, get_key_store
from pathfinder.security.rotation import rotate_dek
from pathfinder.security.shredding import (
    destroy_user_keys,
    shred_user_keys,
    user_keys_destroyed,
)
from tests.security import add_user, raw_values, read_plaintexts, seed_user_data, store_for


@pytest.fixture
def keys(app: Flask) -> DataKeyStore:
    return get_key_store(app)


def _key_rows(db: Database, user_id: str) -> list[sa.Row]:
    with db.transaction() as conn:
        return list(
            conn.execute(sa.select(encryption_keys).where(encryption_keys.c.user_id == user_id))
        )


def test_shredded_data_is_unreadable_and_others_are_not(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice")
    bob = add_user(db, keys, "bob")
    seed_user_data(db, keys, alice, rows=2)
    bobs = seed_user_data(db, keys, bob, rows=2)
    rotate_dek(db, keys, alice, max_batches=2)  # mid-rotation: two live versions
    tokens = raw_values(db, alice)
    read_plaintexts(db, keys, alice)  # both versions now sit in the cache

    assert destroy_user_keys(db, alice.id) == 2

    rows = _key_rows(db, alice.id)
    assert {r.status for r in rows} == {"destroyed"}
    assert all(r.key_encrypted is None and r.destroyed_at is not None for r in rows)
    # The ciphertext is still there (a backup would hold it too), and nothing opens it:
    # not the store that had the keys cached, not a fresh one.
    assert raw_values(db, alice) == tokens
    for store in (keys, store_for({"1": "A" * 43})):
        with pytest.raises(KeyDestroyed):
            read_plaintexts(db, store, alice)
    with db.transaction() as conn:
        assert user_keys_destroyed(conn, alice.id)
        assert not user_keys_destroyed(conn, bob.id)
    assert read_plaintexts(db, keys, bob) == bobs


def test_shredding_evicts_every_cache_in_the_process(app: Flask, db: Database) -> None:
    keys = get_key_store(app)
    other = DataKeyStore(keys.provider)  # e.g. a job's own store
    alice = add_user(db, keys, "alice", provision=False)
    seed_user_data(db, keys, alice, per_user=False, rows=1)
    read_plaintexts(db, other, alice)
    assert other.cache_size() == 1

    destroy_user_keys(db, alice.id)

    assert other.cache_size() == 0
    with pytest.raises(KeyDestroyed):
        read_plaintexts(db, other, alice)


def test_nothing_new_can_be_sealed_after_shredding(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    destroy_user_keys(db, alice.id)
    with db.transaction() as conn:
        with pytest.raises(KeyDestroyed):
            FieldCipher(keys, conn).encrypt_value(
                "x",
                table="pf_users",
                column="phone_number",
                row_id=alice.id,
                user_id=alice.id,
                row_version=1,
            )
        with pytest.raises(KeyDestroyed):
            keys.ensure_user_key(conn, alice.id)


def test_shredding_is_idempotent_and_joins_the_callers_transaction(
    db: Database, keys: DataKeyStore
) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    # Rolled back with the caller's transaction: the keys survive.
    with pytest.raises(RuntimeError), db.transaction() as conn:
        assert shred_user_keys(conn, alice.id) == 1
        raise RuntimeError("deletion failed later in the same transaction")
    assert {r.status for r in _key_rows(db, alice.id)} == {"active"}

    recorded: list[tuple[str, str | None, dict, bool]] = []

    def hook(conn: Connection, event: str, user_id: str | None, details: dict) -> None:
        recorded.append((event, user_id, details, conn.in_transaction()))

    assert destroy_user_keys(db, alice.id, audit=hook) == 1
    assert destroy_user_keys(db, alice.id, audit=hook) == 0
    assert recorded == [("crypt_key_destroyed", alice.id, {"versions_destroyed": 1}, True)]
    assert destroy_user_keys(db, "01NOSUCHUSER0000000000000") == 0


def test_the_schema_refuses_a_half_destroyed_key(db: Database, keys: DataKeyStore) -> None:
    """The "shred" CHECK: destroyed means the wrapped key is gone, and only then."""
    alice = add_user(db, keys, "alice", provision=False)
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as conn:
        conn.execute(
            encryption_keys.update()
            .where(encryption_keys.c.user_id == alice.id)
            .values(status="destroyed")
        )


def test_a_backup_from_before_an_erasure_is_reached_once_its_kek_is_retired(
    db: Database,
) -> None:
    """The guarantee docs/security.md states, tried as an attacker holding an old dump and
    the live keyring would: readable until the KEK that wrapped the keys is retired."""
    from pathfinder.security.keys import KeyringError, LocalKeyProvider, parse_keyring
    from pathfinder.security.rotation import rotate_kek
    from tests.security import keyring

    kek_values: dict[int, str] = {}
    ring_v1 = keyring(1, keys=kek_values)
    store_v1 = store_for(ring_v1)
    alice = add_user(db, store_v1, "alice")
    secrets_of_alice = seed_user_data(db, store_v1, alice, rows=1)
    dump = [dict(r._mapping) for r in _key_rows(db, alice.id)]  # the backup of the key table

    def restore_dump() -> None:
        with db.transaction() as conn:
            conn.execute(encryption_keys.delete().where(encryption_keys.c.user_id == alice.id))
            conn.execute(encryption_keys.insert(), dump)

    assert destroy_user_keys(db, alice.id) == 1
    with pytest.raises(KeyDestroyed):
        read_plaintexts(db, store_for(ring_v1), alice)
    # Restored from the old backup, with today's keyring: still readable (documented).
    restore_dump()
    assert read_plaintexts(db, store_for(ring_v1), alice) == secrets_of_alice
    assert destroy_user_keys(db, alice.id) == 1
    # The scheduled KEK rotation re-wraps every live key under version 2 ...
    ring_v12 = keyring(1, 2, keys=kek_values)
    rotate_kek(db, LocalKeyProvider(parse_keyring(ring_v12)))
    # ... and once backups older than it have expired, version 1 leaves the keyring.
    ring_v2 = keyring(2, keys=kek_values)
    restore_dump()
    with pytest.raises(KeyringError, match="KEK version 1 is not in the keyring"):
        read_plaintexts(db, store_for(ring_v2), alice)
