"""Row versions in the AAD: the upgrade path from ``pf1`` tokens, rotation, and ``db init``."""

from __future__ import annotations

import base64
import os

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask

from pathfinder.db import Database
from pathfinder.db.setup import init_database
from pathfinder.schema.shared.identity import users
from pathfinder.security.fields import DecryptionError, FieldCipher, legacy_value_aad
from pathfinder.security.keys import DataKeyStore, get_key_store
from pathfinder.security.rotation import UserRef, rotate_dek
from tests.security import add_user, open_one, set_raw_value


@pytest.fixture
def keys(app: Flask) -> DataKeyStore:
    return get_key_store(app)


def _pf1_token(aead: AESGCM, text: str, *, row_id: str, user_id: str) -> str:
    """A token as the format before row versions wrote it (docs/security.md, pf1)."""
    nonce = os.urandom(12)
    aad = legacy_value_aad("pf_users", "phone_number", row_id, user_id)
    blob = nonce + aead.encrypt(nonce, text.encode(), aad)
    return "pf1.1." + base64.urlsafe_b64encode(blob).rstrip(b"=").decode()


def _legacy_user(db: Database, keys: DataKeyStore) -> tuple[str, str]:
    """A user whose phone number was written before row versions: pf1, row version NULL."""
    alice = add_user(db, keys, "alice", provision=False)
    with db.transaction() as conn:
        token = _pf1_token(
            keys.aead(conn, alice.id, 1), "+1 604 555 0100", row_id=alice.id, user_id=alice.id
        )
        conn.execute(
            users.update()
            .where(users.c.id == alice.id)
            .values(phone_number=token, row_version=None)
        )
    return alice.id, token


def test_a_pf1_token_opens_only_in_a_row_from_before_versions(
    db: Database, keys: DataKeyStore
) -> None:
    user_id, token = _legacy_user(db, keys)
    with db.transaction() as conn:
        cipher = FieldCipher(keys, conn)
        place = {"table": "pf_users", "column": "phone_number", "row_id": user_id}
        assert cipher.decrypt_value(token, user_id=user_id, row_version=0, **place).startswith("+1")
        # Put into a row that has moved on, the old format is a restored copy: refused.
        with pytest.raises(DecryptionError, match="pf1 token"):
            cipher.decrypt_value(token, user_id=user_id, row_version=1, **place)


def test_rotation_moves_rows_from_before_versions_to_version_one(
    db: Database, keys: DataKeyStore
) -> None:
    user_id, old_token = _legacy_user(db, keys)
    user = UserRef(user_id, "alice")
    result = rotate_dek(db, keys, user)
    assert result.complete
    with db.transaction() as conn:
        row = conn.execute(
            sa.select(users.c.phone_number, users.c.row_version).where(users.c.id == user_id)
        ).one()
    assert row.row_version == 1 and row.phone_number.startswith("pf2.2.")
    assert open_one(db, keys, user, "pf_users", user_id)["phone_number"] == "+1 604 555 0100"
    # The pf1 token of before no longer opens in the row.
    set_raw_value(db, user, "pf_users", user_id, "phone_number", old_token)
    with pytest.raises(DecryptionError):
        open_one(db, keys, user, "pf_users", user_id)


def test_db_init_adds_the_row_version_to_an_existing_database(db: Database) -> None:
    """Upgrading shared schema 2 to 3 is an ALTER TABLE ADD per table; rows stay NULL (0)."""
    with db.transaction() as conn:
        conn.execute(sa.text("ALTER TABLE pf_users DROP COLUMN row_version"))
    with db.engine.connect() as conn:
        assert "row_version" not in {c["name"] for c in sa.inspect(conn).get_columns("pf_users")}
    created = init_database(db)
    assert "pf_users.row_version" in created
    with db.engine.connect() as conn:
        assert "row_version" in {c["name"] for c in sa.inspect(conn).get_columns("pf_users")}
    assert "pf_users.row_version" not in init_database(db)  # idempotent
