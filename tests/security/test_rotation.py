"""KEK and DEK rotation: nothing is lost, whether a run finishes, stops, fails or is killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Connection

from pathfinder.db import Database
from pathfinder.provisioning import Provisioner
from pathfinder.schema.shared.security import encryption_keys
from pathfinder.security.fields import FieldCipher, token_version
from pathfinder.security.keys import DataKeyStore, KeyDestroyed, get_key_store
from pathfinder.security.rotation import (
    TablesNotMigrated,
    UserRef,
    pending_kek_rewraps,
    rotate_dek,
    rotate_due_deks,
    rotate_kek,
    stale_token_rows,
)
from pathfinder.security.shredding import destroy_user_keys
from tests.security import (
    add_user,
    keyring,
    raw_values,
    read_plaintexts,
    seed_user_data,
    set_raw_value,
    store_for,
)


def _key_rows(db: Database) -> list[sa.Row]:
    with db.transaction() as conn:
        return list(conn.execute(sa.select(encryption_keys).order_by(encryption_keys.c.id)))


def _child_env(db: Database, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATHFINDER_DATABASE_URL"] = db.settings.url
    env["PATHFINDER_INSTANCE_PATH"] = str(db.settings.instance_path)
    env.update(extra)
    return env


# -- KEK rotation ----------------------------------------------------------------------------


@pytest.fixture
def kek_keys() -> dict[int, str]:
    keys: dict[int, str] = {}
    keyring(1, 2, keys=keys)
    return keys


def _population(
    db: Database, store: DataKeyStore, count: int, *, with_data: int = 3
) -> list[UserRef]:
    people = [add_user(db, store, f"user{i:03d}", provision=False) for i in range(count)]
    for person in people[:with_data]:
        seed_user_data(db, store, person, rows=1, per_user=False)
    return people


def _assert_all_under_kek(db: Database, version: int, rewraps: int) -> None:
    rows = _key_rows(db)
    assert rows and {r.kek_version for r in rows} == {version}
    assert {r.rotation_count for r in rows} == {rewraps}
    assert all(r.last_rotated is not None for r in rows)


def test_kek_rotation_over_many_users_rewraps_every_key(
    db: Database, kek_keys: dict[int, str]
) -> None:
    old = store_for(keyring(1, keys=kek_keys))
    people = _population(db, old, 30)
    written = {p.id: read_plaintexts(db, old, p) for p in people[:3]}
    new = store_for(keyring(1, 2, keys=kek_keys))
    assert pending_kek_rewraps(db, new.provider) == 30

    batches: list[int] = []
    result = rotate_kek(db, new.provider, batch_size=7, progress=batches.append)

    assert (result.rewrapped, result.batches, result.remaining) == (30, 5, 0)
    assert batches == [7, 7, 7, 7, 2]
    _assert_all_under_kek(db, 2, 1)
    # The old KEK can go: a keyring holding only the new one opens everything.
    only_new = store_for(keyring(2, keys=kek_keys))
    for person in people[:3]:
        assert read_plaintexts(db, only_new, person) == written[person.id]
    with db.transaction() as conn:
        for person in people:
            only_new.aead(conn, person.id, 1)
    again = rotate_kek(db, new.provider)
    assert (again.rewrapped, again.batches, again.complete) == (0, 0, True)


def test_kek_rotation_stopped_and_failed_midway_then_resumed(
    db: Database, kek_keys: dict[int, str]
) -> None:
    old = store_for(keyring(1, keys=kek_keys))
    people = _population(db, old, 20)
    written = {p.id: read_plaintexts(db, old, p) for p in people[:3]}
    provider = store_for(keyring(1, 2, keys=kek_keys)).provider

    stopped = rotate_kek(db, provider, batch_size=3, max_batches=2)
    assert (stopped.rewrapped, stopped.remaining, stopped.complete) == (6, 14, False)

    def crash_after_first(_rows: int) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        rotate_kek(db, provider, batch_size=3, progress=crash_after_first)
    assert pending_kek_rewraps(db, provider) == 11  # the committed batch stays done

    # Mid-rotation, keys under either KEK open (both are configured).
    for person in people[:3]:
        assert (
            read_plaintexts(db, store_for(keyring(1, 2, keys=kek_keys)), person)
            == (written[person.id])
        )
    done = rotate_kek(db, provider, batch_size=3)
    assert (done.rewrapped, done.complete) == (11, True)
    _assert_all_under_kek(db, 2, 1)
    for person in people[:3]:
        assert (
            read_plaintexts(db, store_for(keyring(2, keys=kek_keys)), person)
            == (written[person.id])
        )


KEK_CHILD = textwrap.dedent(
    """
    import os, sys
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.security.keys import LocalKeyProvider, parse_keyring
    from pathfinder.security.rotation import rotate_kek

    kill_at = int(sys.argv[1])
    calls = {"n": 0}

    class DyingProvider(LocalKeyProvider):
        def wrap(self, dek, aad):
            calls["n"] += 1
            if calls["n"] == kill_at:
                os._exit(137)  # inside a batch's transaction, before its COMMIT
            return super().wrap(dek, aad)

    app = create_app()
    provider = DyingProvider(parse_keyring(app.config["KEK_KEYRING"]))
    rotate_kek(get_database(app), provider, batch_size=int(sys.argv[2]))
    sys.exit(3)
    """
)


@pytest.mark.parametrize("kill_at", [1, 9])
def test_kek_rotation_killed_mid_batch_resumes(
    db: Database, kek_keys: dict[int, str], kill_at: int
) -> None:
    old = store_for(keyring(1, keys=kek_keys))
    people = _population(db, old, 12)
    written = {p.id: read_plaintexts(db, old, p) for p in people[:3]}
    both = keyring(1, 2, keys=kek_keys)
    child = subprocess.run(
        [sys.executable, "-c", KEK_CHILD, str(kill_at), "4"],
        env=_child_env(db, PATHFINDER_KEK_KEYRING=json.dumps(both)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 137, child.stderr
    # Whole batches of 4 committed before the one that died; that one rolled back.
    committed = (kill_at - 1) // 4 * 4
    assert sum(r.kek_version == 2 for r in _key_rows(db)) == committed

    provider = store_for(both).provider
    result = rotate_kek(db, provider, batch_size=4)
    assert result.rewrapped == 12 - committed and result.complete
    _assert_all_under_kek(db, 2, 1)
    for person in people[:3]:
        assert (
            read_plaintexts(db, store_for(keyring(2, keys=kek_keys)), person)
            == (written[person.id])
        )


# -- DEK rotation ----------------------------------------------------------------------------


@pytest.fixture
def keys(app: Flask) -> DataKeyStore:
    return get_key_store(app)


def _versions(db: Database, user: UserRef) -> dict[int, str]:
    with db.transaction() as conn:
        rows = conn.execute(
            sa.select(encryption_keys.c.key_version, encryption_keys.c.status).where(
                encryption_keys.c.user_id == user.id
            )
        )
        return {int(v): s for v, s in rows}


def _token_versions(db: Database, user: UserRef) -> set[int]:
    return {token_version(t) for t in raw_values(db, user).values()}


def test_dek_rotation_reencrypts_every_value(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice")
    bob = add_user(db, keys, "bob")
    written = seed_user_data(db, keys, alice, rows=3)
    bobs = seed_user_data(db, keys, bob, rows=2)
    before = raw_values(db, alice)

    recorded: list[tuple[str, str | None, dict]] = []

    def audit(conn: Connection, event: str, user_id: str | None, details: dict) -> None:
        assert conn.in_transaction()  # recorded with the key change, not after it
        recorded.append((event, user_id, details))

    result = rotate_dek(db, keys, alice, batch_size=2, audit=audit)

    assert [(e, u, d["operation"]) for e, u, d in recorded] == [
        ("crypt_key_rotated", alice.id, "dek_version_created"),
        ("crypt_key_rotated", alice.id, "dek_rotation_completed"),
    ]
    assert result.complete and result.created_version
    assert result.target_version == 2 and result.retired_versions == [1]
    assert result.values_resealed == len(written)
    after = raw_values(db, alice)
    assert set(after) == set(before)
    assert all(after[k] != before[k] for k in before)
    assert _token_versions(db, alice) == {2}
    assert read_plaintexts(db, keys, alice) == written
    assert _versions(db, alice) == {1: "retired", 2: "active"}
    # Bob is untouched.
    assert _token_versions(db, bob) == {1} and read_plaintexts(db, keys, bob) == bobs

    again = rotate_dek(db, keys, alice)
    assert again.target_version == 3 and again.retired_versions == [2]
    assert _token_versions(db, alice) == {3}
    assert read_plaintexts(db, keys, alice) == written


def test_retired_keys_still_open_old_tokens(db: Database, keys: DataKeyStore) -> None:
    """A token restored from a backup taken before the rotation still opens."""
    alice = add_user(db, keys, "alice", provision=False)
    written = seed_user_data(db, keys, alice, per_user=False, rows=1)
    backup = raw_values(db, alice)
    rotate_dek(db, keys, alice)
    place = ("pf_users", alice.id, "phone_number")
    set_raw_value(db, alice, *place, backup[place])
    keys.clear_cache()
    assert read_plaintexts(db, keys, alice) == written


def test_dek_rotation_stopped_by_max_batches_resumes(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice")
    written = seed_user_data(db, keys, alice, rows=4)

    first = rotate_dek(db, keys, alice, batch_size=2, max_batches=3)
    assert not first.complete and first.batches == 3 and first.remaining > 0
    assert _versions(db, alice) == {1: "active", 2: "active"}
    assert _token_versions(db, alice) == {1, 2}
    assert read_plaintexts(db, keys, alice) == written  # readable mid-rotation

    second = rotate_dek(db, keys, alice, batch_size=2, max_batches=3)
    assert second.target_version == 2 and not second.created_version
    final = rotate_dek(db, keys, alice, batch_size=2)
    assert final.complete and final.target_version == 2 and final.retired_versions == [1]
    assert _token_versions(db, alice) == {2}
    assert read_plaintexts(db, keys, alice) == written
    assert _versions(db, alice) == {1: "retired", 2: "active"}


DEK_CHILD = textwrap.dedent(
    """
    import os, sys
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.security.keys import DataKeyStore, key_provider_from_config
    from pathfinder.security.rotation import find_user, rotate_dek

    kill_at = int(sys.argv[2])
    calls = {"n": 0}

    class DyingStore(DataKeyStore):
        def aead(self, conn, user_id, key_version):
            calls["n"] += 1
            if calls["n"] == kill_at:
                os._exit(137)  # rows locked and half re-sealed, nothing committed
            return super().aead(conn, user_id, key_version)

    app = create_app()
    db = get_database(app)
    store = DyingStore(key_provider_from_config(app.config))
    with db.transaction() as conn:
        user = find_user(conn, sys.argv[1])
    rotate_dek(db, store, user, batch_size=2)
    sys.exit(3)
    """
)


@pytest.mark.parametrize("kill_at", [1, 6, 13])
def test_dek_rotation_killed_mid_batch_resumes(
    db: Database, keys: DataKeyStore, kill_at: int
) -> None:
    alice = add_user(db, keys, "alice")
    written = seed_user_data(db, keys, alice, rows=3)
    child = subprocess.run(
        [sys.executable, "-c", DEK_CHILD, "alice", str(kill_at)],
        env=_child_env(db),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 137, child.stderr
    assert _versions(db, alice) == {1: "active", 2: "active"}
    # Batches before the one that died are committed; the rest is still under v1.
    assert _token_versions(db, alice) == ({1} if kill_at <= 2 else {1, 2})
    keys.clear_cache()
    assert read_plaintexts(db, keys, alice) == written

    result = rotate_dek(db, keys, alice, batch_size=2)

    assert result.complete and not result.created_version and result.target_version == 2
    assert _token_versions(db, alice) == {2}
    assert read_plaintexts(db, keys, alice) == written
    assert _versions(db, alice) == {1: "retired", 2: "active"}


def test_writes_during_rotation_are_kept_and_resealed(db: Database, keys: DataKeyStore) -> None:
    """The application keeps writing during a rotation: nothing it wrote is lost or left old."""
    alice = add_user(db, keys, "alice", provision=False)
    written = seed_user_data(db, keys, alice, per_user=False, rows=4)
    accounts = sorted({r for t, r, _c in written if t == "pf_sso_accounts"})
    edits: list[str] = []
    batches: list[int] = []

    def application_writes(rows: int) -> None:
        # Batches of one row: pf_users, then the SSO accounts in id order. After the fourth,
        # accounts[0..2] are done and accounts[3] is not.
        batches.append(rows)
        if len(batches) != 4:
            return
        with db.transaction() as conn:
            cipher = FieldCipher(keys, conn)
            # A normal edit seals with the newest key ...
            fresh = cipher.encrypt_value(
                "edited during rotation",
                table="pf_sso_accounts",
                column="access_token",
                row_id=accounts[-1],
                user_id=alice.id,
                row_version=1,
            )
            # ... but a process whose cache still says v1 writes a v1 token into a row the
            # rotation has already passed.
            stale = cipher.encrypt_value(
                "stale writer",
                table="pf_sso_accounts",
                column="refresh_token",
                row_id=accounts[0],
                user_id=alice.id,
                row_version=1,
                key_version=1,
            )
        assert token_version(fresh) == 2
        set_raw_value(db, alice, "pf_sso_accounts", accounts[-1], "access_token", fresh)
        set_raw_value(db, alice, "pf_sso_accounts", accounts[0], "refresh_token", stale)
        edits.append("done")

    result = rotate_dek(db, keys, alice, batch_size=1, progress=application_writes)

    assert result.complete and edits == ["done"]
    # Every row once, plus accounts[0] a second time: the stale write was found and re-sealed.
    assert result.rows_resealed == len({(table, row) for table, row, _column in written}) + 1
    assert _token_versions(db, alice) == {2}
    expected = dict(written)
    expected[("pf_sso_accounts", accounts[-1], "access_token")] = "edited during rotation"
    expected[("pf_sso_accounts", accounts[0], "refresh_token")] = "stale writer"
    assert read_plaintexts(db, keys, alice) == expected


def test_user_at_a_template_before_row_versions_is_migrated_first(
    db: Database, keys: DataKeyStore
) -> None:
    """A value is re-sealed at its row's version: tables without one are migrated first."""
    old = add_user(db, keys, "olduser", template_version=2)
    with pytest.raises(TablesNotMigrated, match="tenants migrate"):
        rotate_dek(db, keys, old)
    Provisioner(db).migrate_user(old.username)
    written = seed_user_data(db, keys, old, rows=2)
    result = rotate_dek(db, keys, old)
    assert result.complete and _token_versions(db, old) == {2}
    assert read_plaintexts(db, keys, old) == written


def test_rotation_of_many_users_interrupted_then_resumed(db: Database, keys: DataKeyStore) -> None:
    people = [add_user(db, keys, f"member{i}") for i in range(6)]
    written = {p.id: seed_user_data(db, keys, p, rows=2) for p in people}
    # Every key above was made before the cut-off; every key a rotation makes, after it.
    cutoff = datetime.now(UTC)

    first = rotate_due_deks(db, keys, created_before=cutoff, batch_size=3, max_batches=11)
    assert first.stopped_early and not first.failures
    assert any(not r.complete for r in first.rotations)
    for person in people:
        assert read_plaintexts(db, keys, person) == written[person.id]

    # Resumed with the same cut-off: unfinished users finish, finished ones are not redone.
    second = rotate_due_deks(db, keys, created_before=cutoff, batch_size=3)
    assert not second.stopped_early and not second.failures
    assert all(r.complete for r in second.rotations)
    for person in people:
        assert max(_versions(db, person)) == 2
        assert _token_versions(db, person) == {2}
        assert read_plaintexts(db, keys, person) == written[person.id]
        assert stale_token_rows(db, person, 2) == {}
    finished_first = {r.user.id for r in first.rotations if r.complete}
    assert finished_first.isdisjoint({r.user.id for r in second.rotations})
    third = rotate_due_deks(db, keys, created_before=cutoff)
    assert third.rotations == [] and not third.stopped_early


def test_rotation_refuses_a_shredded_user(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    destroy_user_keys(db, alice.id)
    with pytest.raises(KeyDestroyed):
        rotate_dek(db, keys, alice)


def test_batch_size_is_bounded(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    with pytest.raises(ValueError, match="batch_size"):
        rotate_dek(db, keys, alice, batch_size=1001)
    with pytest.raises(ValueError, match="batch_size"):
        rotate_kek(db, keys.provider, batch_size=0)


def test_every_key_statement_compiles_for_oracle(
    app: Flask, db: Database, keys: DataKeyStore
) -> None:
    """Oracle is proven offline: each statement the key code ran here compiles for it.

    Oracle refuses ``FOR UPDATE`` together with ``FETCH FIRST`` or ``ORDER BY`` on a
    limited query, which is why batches pick ids first and lock them by an IN list.
    """
    from sqlalchemy.dialects import oracle

    from pathfinder.security.rotation import token_version_counts, users_due_for_rotation
    from pathfinder.security.secrets import resolve_secret
    from tests.security import new_kek

    seen: list[sa.Executable] = []

    def capture(_conn: Connection, statement: sa.Executable, *_args: object) -> None:
        seen.append(statement)

    alice = add_user(db, keys, "alice")
    seed_user_data(db, keys, alice, rows=2)
    sa.event.listen(db.engine, "before_execute", capture)
    try:
        read_plaintexts(db, keys, alice)
        rotate_dek(db, keys, alice, batch_size=2)
        dev_kek = resolve_secret(app.config, "KEK_DEV_KEY")
        rotate_kek(db, store_for({"1": dev_kek, "2": new_kek()}).provider)
        users_due_for_rotation(db, created_before=datetime.now(UTC))
        token_version_counts(db, alice, [1, 2])
        destroy_user_keys(db, alice.id)
    finally:
        sa.event.remove(db.engine, "before_execute", capture)

    compiled = [
        str(s.compile(dialect=oracle.dialect())) for s in seen if isinstance(s, sa.ClauseElement)
    ]
    locking = [sql for sql in compiled if "FOR UPDATE" in sql]
    assert len(compiled) > 20 and locking
    for sql in locking:
        assert "FETCH" not in sql and "ORDER BY" not in sql, sql
