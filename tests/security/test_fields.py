"""Field encryption: only tokens reach the database, and a token opens only where it was sealed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

import pathfinder.schema
from pathfinder.db import Database
from pathfinder.schema.shared.base import metadata
from pathfinder.schema.tenant import tenant_tables
from pathfinder.security.fields import (
    ENCRYPTED_COLUMNS,
    DecryptionError,
    FieldCipher,
    field_cipher,
    token_version,
    value_aad,
)
from pathfinder.security.keys import DataKeyStore, KeyNotFound, canonical_aad, get_key_store
from tests.security import (
    add_user,
    insert_user_row,
    open_one,
    raw_values,
    read_plaintexts,
    seed_user_data,
    set_raw_value,
)

TOKEN_SHAPE = re.compile(r"^pf2\.[1-9][0-9]*\.[A-Za-z0-9_-]+$")


@pytest.fixture
def keys(app: Flask) -> DataKeyStore:
    return get_key_store(app)


# -- the registry ------------------------------------------------------------------------


def test_every_registered_column_exists_and_holds_text() -> None:
    per_user = tenant_tables("probe_user")
    for spec in ENCRYPTED_COLUMNS.values():
        table = per_user.tables[spec.name] if spec.per_user else metadata.tables[spec.name]
        assert spec.per_user != spec.name.startswith("pf_")
        for column in spec.columns:
            assert isinstance(table.c[column].type, sa.Text), f"{spec.name}.{column}"
        if not spec.per_user:
            assert spec.user_column in table.c


def test_every_column_the_schema_calls_encrypted_is_registered() -> None:
    """A column commented ``# encrypted token`` in the schema must be in the registry."""
    registered = {c for spec in ENCRYPTED_COLUMNS.values() for c in spec.columns}
    root = Path(pathfinder.schema.__file__).parent
    marked: set[str] = set()
    for source in root.rglob("*.py"):
        for line in source.read_text(encoding="utf-8").splitlines():
            if "# encrypted token" in line:
                match = re.search(r'sa\.Column\("([a-z_]+)"', line)
                if match:
                    marked.add(match.group(1))
    assert marked, "the schema marks its encrypted columns with '# encrypted token'"
    assert marked <= registered


def test_aad_encoding_is_unambiguous() -> None:
    assert canonical_aad("a.b", "c") != canonical_aad("a", "b.c")
    assert canonical_aad("ab", "") != canonical_aad("a", "b")
    assert value_aad("t", "c", "r", "u", 1) != value_aad("t", "c", "u", "r", 1)
    assert value_aad("t", "c", "r", "u", 1) != value_aad("t", "c", "r", "u", 2)


# -- what is stored --------------------------------------------------------------------------


def test_raw_rows_hold_only_tokens(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice")
    written = seed_user_data(db, keys, alice)
    stored = raw_values(db, alice)

    assert set(stored) == set(written)
    # Every registered table got rows, so the check covers every encrypted column.
    assert {table for table, _row, _col in stored} == set(ENCRYPTED_COLUMNS)
    for place, token in stored.items():
        assert TOKEN_SHAPE.match(token), place
        assert written[place] not in token
        assert "SECRET" not in token and "café" not in token
    assert read_plaintexts(db, keys, alice) == written


def test_the_same_value_seals_differently_every_time(
    app: Flask, db: Database, keys: DataKeyStore
) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    with db.transaction() as conn:
        cipher = field_cipher(conn, app)
        place = {
            "table": "pf_users",
            "column": "phone_number",
            "row_id": alice.id,
            "row_version": 1,
        }
        tokens = {cipher.encrypt_value("+1 555", user_id=alice.id, **place) for _ in range(50)}
        assert len(tokens) == 50
        assert {cipher.decrypt_value(t, user_id=alice.id, **place) for t in tokens} == {"+1 555"}


# -- a token opens only where it was sealed --------------------------------------------------


def _two_rows(written: dict[tuple[str, str, str], str], table: str, column: str) -> list[str]:
    return sorted({row for t, row, c in written if t == table and c == column})


@pytest.mark.parametrize("table", ["experiences", "pf_sso_accounts"])
def test_token_swapped_between_rows_fails(db: Database, keys: DataKeyStore, table: str) -> None:
    alice = add_user(db, keys, "alice")
    written = seed_user_data(db, keys, alice, rows=2)
    column = ENCRYPTED_COLUMNS[table].columns[0]
    first, second = _two_rows(written, table, column)
    stored = raw_values(db, alice)
    set_raw_value(db, alice, table, first, column, stored[(table, second, column)])

    with pytest.raises(DecryptionError, match="failed to decrypt"):
        open_one(db, keys, alice, table, first)
    assert open_one(db, keys, alice, table, second)[column] == written[(table, second, column)]


def test_token_swapped_between_columns_fails(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice")
    seed_user_data(db, keys, alice, rows=1)
    stored = raw_values(db, alice)
    row = next(r for t, r, _c in stored if t == "experiences")
    set_raw_value(
        db,
        alice,
        "experiences",
        row,
        "description",
        stored[("experiences", row, "key_achievements")],
    )
    with pytest.raises(DecryptionError):
        open_one(db, keys, alice, "experiences", row)


def test_token_swapped_between_users_fails(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    bob = add_user(db, keys, "bob", provision=False)
    seed_user_data(db, keys, alice, per_user=False)
    seed_user_data(db, keys, bob, per_user=False)
    alice_phone = raw_values(db, alice)[("pf_users", alice.id, "phone_number")]
    set_raw_value(db, bob, "pf_users", bob.id, "phone_number", alice_phone)

    with pytest.raises(DecryptionError):
        open_one(db, keys, bob, "pf_users", bob.id)
    # Even when the same row id and place are claimed, alice's token is not bob's.
    with db.transaction() as conn:
        cipher = FieldCipher(keys, conn)
        place = {
            "table": "pf_users",
            "column": "phone_number",
            "row_id": alice.id,
            "row_version": 1,
        }
        with pytest.raises(DecryptionError):
            cipher.decrypt_value(alice_phone, user_id=bob.id, **place)
        assert cipher.decrypt_value(alice_phone, user_id=alice.id, **place).startswith("+1")


def test_token_moved_to_another_table_fails(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice")
    seed_user_data(db, keys, alice, rows=1)
    stored = raw_values(db, alice)
    live = next(r for t, r, _c in stored if t == "experiences")
    archived = next(r for t, r, _c in stored if t == "experiences_archive")
    with db.transaction() as conn:
        cipher = FieldCipher(keys, conn)
        with pytest.raises(DecryptionError):
            cipher.decrypt_value(
                stored[("experiences", live, "description")],
                table="experiences_archive",
                column="description",
                row_id=live,
                user_id=alice.id,
                row_version=1,
            )
    assert archived != live


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1], id="flip-tag"),
        pytest.param(lambda t: t[:12] + ("x" if t[12] != "x" else "y") + t[13:], id="flip-nonce"),
        pytest.param(lambda t: t[:-10], id="truncated"),
        pytest.param(lambda t: t + "!", id="junk-char"),
        pytest.param(lambda t: "plain text that was never sealed", id="plaintext"),
        pytest.param(lambda t: t.replace("pf2.", "pf3.", 1), id="unknown-scheme"),
        pytest.param(lambda t: t.replace("pf2.", "pf1.", 1), id="downgraded-scheme"),
        pytest.param(lambda t: t.replace("pf2.1.", "pf2.01.", 1), id="padded-version"),
        pytest.param(lambda t: "pf2.1.", id="empty-payload"),
    ],
)
def test_tampered_token_fails(
    db: Database, keys: DataKeyStore, mangle: Callable[[str], str]
) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    seed_user_data(db, keys, alice, per_user=False)
    token = raw_values(db, alice)[("pf_users", alice.id, "mfa_secret")]
    set_raw_value(db, alice, "pf_users", alice.id, "mfa_secret", mangle(token))
    with pytest.raises(DecryptionError):
        open_one(db, keys, alice, "pf_users", alice.id)


def test_token_naming_a_missing_key_version_fails(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    seed_user_data(db, keys, alice, per_user=False)
    token = raw_values(db, alice)[("pf_users", alice.id, "mfa_secret")]
    set_raw_value(db, alice, "pf_users", alice.id, "mfa_secret", token.replace("pf2.1.", "pf2.7."))
    with pytest.raises(KeyNotFound):
        open_one(db, keys, alice, "pf_users", alice.id)


# -- the row helpers -------------------------------------------------------------------------


def test_seal_row_touches_only_registered_columns(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    with db.transaction() as conn:
        cipher = FieldCipher(keys, conn)
        row = {
            "id": "01ROW",
            "title": "Analyst",
            "description": "led it",
            "key_achievements": None,
            "row_version": 1,
        }
        sealed = cipher.seal_row("experiences", row, user_id=alice.id)
        assert sealed["title"] == "Analyst" and sealed["row_version"] == 1
        assert sealed["key_achievements"] is None
        assert token_version(sealed["description"]) == 1
        assert row["description"] == "led it"  # the caller's dict is not modified
        assert cipher.open_row("experiences", sealed, user_id=alice.id) == row


def test_seal_row_refuses_what_it_cannot_bind(db: Database, keys: DataKeyStore) -> None:
    alice = add_user(db, keys, "alice", provision=False)
    whole = {"key_achievements": None, "row_version": 1}
    with db.transaction() as conn:
        cipher = FieldCipher(keys, conn)
        with pytest.raises(ValueError, match="row id"):
            cipher.seal_row("experiences", {"description": "x", **whole}, user_id=alice.id)
        with pytest.raises(TypeError):
            cipher.seal_row(
                "experiences", {"id": "r", "description": 42, **whole}, user_id=alice.id
            )
        with pytest.raises(KeyError):
            cipher.seal_row("skills", {"id": "r", "name": "x"}, user_id=alice.id)
        with pytest.raises(KeyError):
            cipher.encrypt_value(
                "x", table="experiences", column="title", row_id="r", user_id=alice.id,
                row_version=1,
            )  # fmt: skip
        # Part of a row: the other cells would stay at an older version. reseal() is the way.
        with pytest.raises(ValueError, match="whole row"):
            cipher.seal_row(
                "experiences", {"id": "r", "description": "x", "row_version": 2}, user_id=alice.id
            )
        # Without its version a row cannot be sealed or opened.
        with pytest.raises(ValueError, match="row_version"):
            cipher.seal_row(
                "experiences", {"id": "r", "description": "x", "key_achievements": None},
                user_id=alice.id,
            )  # fmt: skip
        with pytest.raises(ValueError, match="row version 1 or later"):
            cipher.encrypt_value(
                "x", table="experiences", column="description", row_id="r", user_id=alice.id,
                row_version=0,
            )  # fmt: skip


def test_user_without_a_key_cannot_seal(db: Database, keys: DataKeyStore) -> None:
    with db.transaction() as conn:
        user_id = insert_user_row(conn, "nokey")
        with pytest.raises(KeyNotFound):
            FieldCipher(keys, conn).encrypt_value(
                "x",
                table="pf_users",
                column="phone_number",
                row_id=user_id,
                user_id=user_id,
                row_version=1,
            )


def test_key_created_in_the_same_transaction_seals(
    app: Flask, db: Database, keys: DataKeyStore
) -> None:
    """Registration: the user row, their first key and their sealed fields commit together."""
    with db.transaction() as conn:
        user_id = insert_user_row(conn, "carol")
        assert keys.ensure_user_key(conn, user_id) == 1
        assert keys.ensure_user_key(conn, user_id) == 1  # a retried registration
        sealed = field_cipher(conn, app).seal_row(
            "pf_users",
            {
                "id": user_id,
                "date_of_birth": "1990-04-01",
                "phone_number": None,
                "mfa_secret": None,
                "avatar_url": None,
                "row_version": 1,
            },
            user_id=user_id,
        )
        conn.execute(
            sa.update(metadata.tables["pf_users"])
            .where(metadata.tables["pf_users"].c.id == user_id)
            .values(date_of_birth=sealed["date_of_birth"], row_version=1)
        )
    with db.transaction() as conn:
        stored = conn.execute(
            sa.select(metadata.tables["pf_users"].c.date_of_birth).where(
                metadata.tables["pf_users"].c.id == user_id
            )
        ).scalar_one()
        assert stored.startswith("pf2.1.")
        opened = FieldCipher(keys, conn).decrypt_value(
            stored,
            table="pf_users",
            column="date_of_birth",
            row_id=user_id,
            user_id=user_id,
            row_version=1,
        )
        assert opened == "1990-04-01"


def test_token_format_matches_the_documented_spec(db: Database, keys: DataKeyStore) -> None:
    """``pf2.<v>.<base64url(nonce|ciphertext|tag)>``, AAD = canonical ("pf2", t, c, row, user,
    row version).

    Opened here with nothing but AESGCM and the spec, so another implementation (a DBA's
    recovery script, a future service) can rely on docs/security.md alone.
    """
    import base64

    alice = add_user(db, keys, "alice", provision=False)
    with db.transaction() as conn:
        token = FieldCipher(keys, conn).encrypt_value(
            "r\u00e9sum\u00e9",
            table="pf_users",
            column="mfa_secret",
            row_id="r1",
            user_id=alice.id,
            row_version=7,
        )
        aead = keys.aead(conn, alice.id, 1)
        long_place = {
            "table": "pf_users",
            "column": "phone_number",
            "row_id": "y" * 300,
            "row_version": 3,
        }
        cipher = FieldCipher(keys, conn)
        sealed = cipher.encrypt_value("+1", user_id=alice.id, **long_place)
        assert cipher.decrypt_value(sealed, user_id=alice.id, **long_place) == "+1"
    scheme, version, payload = token.split(".")
    blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    aad = canonical_aad("pf2", "pf_users", "mfa_secret", "r1", alice.id, "7")
    assert (scheme, version) == ("pf2", "1")
    assert aad == value_aad("pf_users", "mfa_secret", "r1", alice.id, 7)
    assert aead.decrypt(blob[:12], blob[12:], aad).decode() == "r\u00e9sum\u00e9"
    assert len(blob) == 12 + len("r\u00e9sum\u00e9".encode()) + 16
    # The precomputed path and the generic one agree, also past the fast path's limits.
    long_id = "x" * 300
    assert value_aad("experiences", "description", long_id, "u", 12) == canonical_aad(
        "pf2", "experiences", "description", long_id, "u", "12"
    )
