"""Key management: keyring parsing, providers, data-key rows, and the bounded key cache."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pathfinder.db import Database
from pathfinder.schema.shared.security import encryption_keys
from pathfinder.security.keys import (
    DEK_ALGORITHM,
    KEY_PROVIDERS,
    ExpiringLru,
    KeyNotFound,
    KeyProvider,
    KeyringError,
    KeyUnwrapError,
    LocalKeyProvider,
    dek_wrapping_aad,
    get_key_store,
    key_provider_from_config,
    new_keyring_entry,
    parse_keyring,
    register_key_provider,
)
from pathfinder.security.secrets import MissingSecret
from tests.security import add_user, keyring, new_kek, read_plaintexts, seed_user_data, store_for

# -- keyring parsing -------------------------------------------------------------------------


def test_keyring_parses_json_and_mappings() -> None:
    ring = keyring(1, 2)
    parsed = parse_keyring(json.dumps(ring))
    assert sorted(parsed) == [1, 2]
    assert all(len(key) == 32 for key in parsed.values())
    assert parse_keyring(ring) == parsed
    # Padded base64url is accepted too (operators paste what their tool printed).
    padded = {"3": base64.urlsafe_b64encode(os.urandom(32)).decode()}
    assert len(parse_keyring(padded)[3]) == 32


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ("{}", "non-empty"),
        ("[1, 2]", "non-empty"),
        ({"one": new_kek()}, "not an integer"),
        ({"0": new_kek()}, "1 or more"),
        ({"1": base64.urlsafe_b64encode(b"short").decode()}, "5 bytes"),
        ({"1": "***not base64***"}, "not base64url"),
        ({"1": 12345}, "must be a base64url string"),
    ],
)
def test_bad_keyrings_fail_with_a_clear_message(value: Any, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as info:
        parse_keyring(value)
    if isinstance(value, Mapping):
        for key in value.values():
            assert str(key) not in str(info.value)  # key material is never echoed


# -- the local provider ------------------------------------------------------------------------


def test_local_provider_wraps_with_the_newest_kek_and_unwraps_any() -> None:
    keys = {1: new_kek(), 2: new_kek()}
    old = LocalKeyProvider(parse_keyring(keyring(1, keys=keys)))
    both = LocalKeyProvider(parse_keyring(keyring(1, 2, keys=keys)))
    assert isinstance(both, KeyProvider)
    assert both.current_version == 2 and both.versions == [1, 2]
    dek, aad = os.urandom(32), dek_wrapping_aad("user", 1)

    version, wrapped = old.wrap(dek, aad)
    assert version == 1
    assert both.unwrap(1, wrapped, aad) == dek
    version, wrapped = both.wrap(dek, aad)
    assert version == 2
    assert both.unwrap(2, wrapped, aad) == dek
    assert both.wrap(dek, aad)[1] != wrapped  # fresh nonce every time

    with pytest.raises(KeyUnwrapError):
        both.unwrap(2, wrapped, dek_wrapping_aad("user", 2))  # another version's AAD
    with pytest.raises(KeyUnwrapError):
        both.unwrap(2, wrapped, dek_wrapping_aad("other", 1))  # another user's AAD
    with pytest.raises(KeyringError, match="not in the keyring"):
        old.unwrap(2, wrapped, aad)


def test_unset_keyring_uses_a_stable_development_key(tmp_path: Path) -> None:
    config = {"INSTANCE_PATH": str(tmp_path), "KEK_KEYRING": None, "PRODUCTION": False}
    first = LocalKeyProvider.from_config(config)
    second = LocalKeyProvider.from_config(config)
    dek, aad = os.urandom(32), dek_wrapping_aad("u", 1)
    version, wrapped = first.wrap(dek, aad)
    assert second.unwrap(version, wrapped, aad) == dek  # survives a restart
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0


def test_production_refuses_to_run_without_a_keyring(tmp_path: Path) -> None:
    config = {"INSTANCE_PATH": str(tmp_path), "KEK_KEYRING": None, "PRODUCTION": True}
    with pytest.raises(MissingSecret, match="KEK_KEYRING"):
        LocalKeyProvider.from_config(config)
    assert not (tmp_path / "dev-secrets.json").exists()


def test_provider_is_chosen_by_config_string(monkeypatch: pytest.MonkeyPatch) -> None:
    """The KMS seam: a provider registered under a name is what KEY_PROVIDER selects."""

    class RecordingProvider:
        current_version = 7

        def __init__(self, config: Mapping[str, Any]) -> None:
            self.config = config

        def wrap(self, dek: bytes, aad: bytes) -> tuple[int, bytes]:
            return 7, dek[::-1]

        def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> bytes:
            return wrapped[::-1]

    # Registered through the public call; monkeypatch removes the entry after the test.
    monkeypatch.setitem(KEY_PROVIDERS, "dummy-kms", KEY_PROVIDERS["local"])
    register_key_provider("dummy-kms", RecordingProvider)
    provider = key_provider_from_config({"KEY_PROVIDER": "dummy-kms"})
    assert isinstance(provider, RecordingProvider)
    assert isinstance(provider, KeyProvider)
    with pytest.raises(KeyringError, match="unknown KEY_PROVIDER 'oci-vault'"):
        key_provider_from_config({"KEY_PROVIDER": "oci-vault"})


# -- data keys in the database ------------------------------------------------------------------


def _key_rows(db: Database, user_id: str) -> list[sa.Row[Any]]:
    with db.transaction() as conn:
        return list(
            conn.execute(
                sa.select(encryption_keys)
                .where(encryption_keys.c.user_id == user_id)
                .order_by(encryption_keys.c.key_version)
            )
        )


def test_first_key_row_is_wrapped_and_described(app: Flask, db: Database) -> None:
    keys = get_key_store(app)
    alice = add_user(db, keys, "alice", provision=False)
    (row,) = _key_rows(db, alice.id)
    assert row.key_version == 1 and row.status == "active"
    assert row.algorithm == DEK_ALGORITHM
    assert row.kek_version == keys.provider.current_version
    assert row.rotation_count == 0 and row.last_rotated is None and row.destroyed_at is None
    assert row.key_salt is None  # full-entropy KEKs: the local provider derives nothing
    # nonce | 32-byte key | tag, base64url: never the raw key.
    assert len(base64.urlsafe_b64decode(row.key_encrypted + "==")) == 12 + 32 + 16

    with db.transaction() as conn:
        assert keys.ensure_user_key(conn, alice.id) == 1
        assert keys.add_key_version(conn, alice.id) == 2
        assert keys.current_version(conn, alice.id) == 2
    assert [r.key_version for r in _key_rows(db, alice.id)] == [1, 2]


def test_wrapped_key_moved_to_another_user_does_not_unwrap(app: Flask, db: Database) -> None:
    keys = get_key_store(app)
    alice = add_user(db, keys, "alice", provision=False)
    bob = add_user(db, keys, "bob", provision=False)
    alice_wrapped = _key_rows(db, alice.id)[0].key_encrypted
    with db.transaction() as conn:
        conn.execute(
            encryption_keys.update()
            .where(encryption_keys.c.user_id == bob.id)
            .values(key_encrypted=alice_wrapped)
        )
    keys.clear_cache()
    with db.transaction() as conn, pytest.raises(KeyUnwrapError):
        keys.aead(conn, bob.id, 1)


def test_missing_keys_are_reported_as_such(app: Flask, db: Database) -> None:
    keys = get_key_store(app)
    alice = add_user(db, keys, "alice", provision=False)
    with db.transaction() as conn:
        with pytest.raises(KeyNotFound, match="v9"):
            keys.aead(conn, alice.id, 9)
        with pytest.raises(KeyNotFound):
            keys.current_version(conn, "01NOSUCHUSER0000000000000")


def test_a_removed_kek_is_a_clear_error(db: Database) -> None:
    ring = keyring(1, 2)
    keys_v1 = store_for({"1": ring["1"]})
    alice = add_user(db, keys_v1, "alice", provision=False)
    with db.transaction() as conn, pytest.raises(KeyringError, match="KEK version 1"):
        store_for({"2": ring["2"]}).aead(conn, alice.id, 1)


def test_key_store_is_built_once_per_app(app: Flask) -> None:
    assert get_key_store(app) is get_key_store(app)
    assert isinstance(get_key_store(app).provider, LocalKeyProvider)


# -- the cache ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lru_is_bounded_and_expires() -> None:
    clock = FakeClock()
    cache: ExpiringLru[str, int] = ExpiringLru(3, 10.0, clock)
    for i in range(10):
        cache.put(f"k{i}", i)
    assert len(cache) == 3
    assert cache.get("k0") is None and cache.get("k9") == 9
    cache.get("k7")  # recently used survives the next eviction
    cache.put("k10", 10)
    assert cache.get("k7") == 7 and cache.get("k8") is None
    clock.now += 10.0
    assert cache.get("k7") is None and len(cache) == 2
    disabled: ExpiringLru[str, int] = ExpiringLru(0, 10.0, clock)
    disabled.put("a", 1)
    assert disabled.get("a") is None and len(disabled) == 0


def test_unwrapped_key_cache_is_bounded(db: Database) -> None:
    ring = keyring(1)
    writer = store_for(ring)
    people = [add_user(db, writer, f"user{i:02d}", provision=False) for i in range(6)]
    for person in people:
        seed_user_data(db, writer, person, rows=1, per_user=False)
    keys = store_for(ring, cache_size=2, cache_ttl=60)
    for person in people:
        read_plaintexts(db, keys, person)
        assert keys.cache_size() <= 2
    assert keys.cache_size() == 2


def test_cached_key_expires_and_is_reloaded(db: Database) -> None:
    clock = FakeClock()
    ring = keyring(1)
    keys = store_for(ring, cache_size=10, cache_ttl=30, clock=clock)
    alice = add_user(db, keys, "alice", provision=False)
    written = seed_user_data(db, keys, alice, rows=1, per_user=False)
    assert read_plaintexts(db, keys, alice) == written
    # Break the stored key: while cached, the store does not read it again ...
    with db.transaction() as conn:
        conn.execute(
            encryption_keys.update()
            .where(encryption_keys.c.user_id == alice.id)
            .values(key_encrypted=base64.urlsafe_b64encode(os.urandom(60)).decode().rstrip("="))
        )
    clock.now += 29
    assert read_plaintexts(db, keys, alice) == written
    # ... and once the entry expires it must, and fails.
    clock.now += 2
    with pytest.raises(KeyUnwrapError):
        read_plaintexts(db, keys, alice)


def test_new_keyring_entry_is_a_valid_kek() -> None:
    entry = new_keyring_entry()
    assert len(parse_keyring({"1": entry})[1]) == 32
    assert new_keyring_entry() != entry
