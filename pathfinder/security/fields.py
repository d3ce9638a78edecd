"""Field encryption: which columns are encrypted, and the codec repositories seal rows with.

:data:`ENCRYPTED_COLUMNS` is the one place that names every encrypted column. Repositories
never call AES themselves: they pass a row dict through :meth:`FieldCipher.seal_row` before
writing and :meth:`FieldCipher.open_row` after reading, and those two encrypt or decrypt
exactly the registered columns. Rotation and shredding walk the same registry, so a column
added here is covered by all three at once.

A value is sealed with AES-256-GCM under the user's newest data key, with a fresh random
96-bit nonce, and stored as the token ``pf1.<key_version>.<base64url(nonce|ciphertext|tag)>``.
The AAD is the canonical bytes of ``("pf1", table, column, row id, user id)``: a token copied
to another row, column, table or user fails to decrypt. Decryption failure is always an
error (:class:`DecryptionError`); a column that holds anything but a token is never passed
through as plain text.

``table`` in the AAD is the *logical* name for per-user tables (``experiences``, not
``pf_user_alice_experiences``): the user id in the AAD already binds the owner, and the
physical name would change if a username ever did.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from sqlalchemy.engine import Connection

from pathfinder.security.keys import (
    NONCE_BYTES,
    TAG_BYTES,
    CryptoError,
    DataKeyStore,
    canonical_aad,
    get_key_store,
)

TOKEN_SCHEME = "pf1"  # noqa: S105 - the token format tag, not a secret
TOKEN_PREFIX = TOKEN_SCHEME + "."


class DecryptionError(CryptoError):
    """A stored value did not decrypt: tampered, moved from elsewhere, or not a token at all."""


@dataclass(frozen=True)
class EncryptedTable:
    """A table with encrypted columns, and how to find a row's id and owner."""

    # Logical name for a per-user table, physical ``pf_...`` name for a shared one; it is
    # the table part of every value's AAD.
    name: str
    columns: tuple[str, ...]
    per_user: bool
    # Shared tables: the column holding the owner's pf_users.id (pf_users: its own id).
    user_column: str | None = None
    id_column: str = "id"


def _registry(*tables: EncryptedTable) -> Mapping[str, EncryptedTable]:
    return MappingProxyType({t.name: t for t in tables})


_NARRATIVE = ("challenge", "actions", "results", "lessons_learned")

# Every encrypted column, in one place. A new sensitive column is added here (and as
# ``sa.Text()`` in the schema): sealing, opening, DEK rotation and the raw-row tests follow.
ENCRYPTED_COLUMNS: Mapping[str, EncryptedTable] = _registry(
    # Per-user tables (pf_user_<username>_<name>).
    EncryptedTable("experiences", ("description", "key_achievements"), per_user=True),
    EncryptedTable("experiences_archive", ("description", "key_achievements"), per_user=True),
    EncryptedTable("chat_conversations", ("context",), per_user=True),
    EncryptedTable("chat_messages", ("content",), per_user=True),
    EncryptedTable("pert_responses", _NARRATIVE, per_user=True),
    # Shared tables, filtered by owner.
    EncryptedTable(
        "pf_users",
        ("phone_number", "date_of_birth", "mfa_secret"),
        per_user=False,
        user_column="id",
    ),
    EncryptedTable(
        "pf_sso_accounts", ("access_token", "refresh_token"), per_user=False, user_column="user_id"
    ),
    EncryptedTable("pf_cpa_pert_experiences", _NARRATIVE, per_user=False, user_column="user_id"),
)

# (table, column) -> the canonical AAD bytes of ("pf1", table, column): the constant head of
# every value's AAD, computed once. Membership doubles as the "is it registered" check.
_AAD_HEADS: dict[tuple[str, str], bytes] = {
    (t.name, c): canonical_aad(TOKEN_SCHEME, t.name, c)
    for t in ENCRYPTED_COLUMNS.values()
    for c in t.columns
}
_LENGTHS = [n.to_bytes(4, "big") for n in range(256)]
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def encrypted_table(table_name: str) -> EncryptedTable:
    """The registry entry of ``table_name``; an unregistered table is a programming error."""
    try:
        return ENCRYPTED_COLUMNS[table_name]
    except KeyError:
        raise KeyError(f"{table_name!r} has no encrypted columns registered") from None


def per_user_tables() -> list[EncryptedTable]:
    """Registered per-user tables (rotation walks them through the user's own tables)."""
    return [t for t in ENCRYPTED_COLUMNS.values() if t.per_user]


def shared_tables() -> list[EncryptedTable]:
    """Registered shared tables (rotation walks them filtered by owner)."""
    return [t for t in ENCRYPTED_COLUMNS.values() if not t.per_user]


def value_aad(table: str, column: str, row_id: str, user_id: str) -> bytes:
    """The AAD of one stored value: binds it to its table, column, row and owner.

    Equal to ``canonical_aad("pf1", table, column, row_id, user_id)``; built from a
    precomputed head because it runs for every value sealed or opened.
    """
    head = _AAD_HEADS.get((table, column))
    row = row_id.encode("utf-8")
    user = user_id.encode("utf-8")
    if head is None or len(row) > 255 or len(user) > 255:
        return canonical_aad(TOKEN_SCHEME, table, column, row_id, user_id)
    return b"".join((head, _LENGTHS[len(row)], row, _LENGTHS[len(user)], user))


def is_token(value: object) -> bool:
    """Whether ``value`` looks like a field token (shape only; says nothing of validity)."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def token_version(token: str) -> int:
    """The data-key version a token was sealed with (rotation decides from this alone)."""
    return _split_token(token)[0]


def _split_token(token: str) -> tuple[int, str]:
    if not isinstance(token, str):
        raise DecryptionError("value is not a pf1 token")
    parts = token.split(".", 2)
    if len(parts) != 3 or parts[0] != TOKEN_SCHEME:
        raise DecryptionError("value is not a pf1 token")
    digits = parts[1]
    # One spelling per version: ASCII digits, no sign, no leading zero.
    if not (digits.isascii() and digits.isdigit()) or digits[0] == "0":
        raise DecryptionError("malformed pf1 token version")
    return int(digits), parts[2]


class FieldCipher:
    """Seals and opens values for one unit of work (one connection, one transaction).

    Keys come from the :class:`DataKeyStore` (bounded, expiring cache) through ``conn``, so
    a data key created earlier in the same transaction (registration) already works here.
    Within one cipher the sealing version of a user is looked up once.
    """

    __slots__ = ("_conn", "_keys", "_openers", "_sealers")

    def __init__(self, keys: DataKeyStore, conn: Connection) -> None:
        self._keys = keys
        self._conn = conn
        self._sealers: dict[str, tuple[int, AESGCM]] = {}
        self._openers: dict[tuple[str, int], AESGCM] = {}

    def _sealer(self, user_id: str, key_version: int | None) -> tuple[int, AESGCM]:
        if key_version is None:
            found = self._sealers.get(user_id)
            if found is not None:
                return found
            version = self._keys.current_version(self._conn, user_id)
            found = (version, self._opener(user_id, version))
            self._sealers[user_id] = found
            return found
        return key_version, self._opener(user_id, key_version)

    def _opener(self, user_id: str, key_version: int) -> AESGCM:
        aead = self._openers.get((user_id, key_version))
        if aead is None:
            aead = self._keys.aead(self._conn, user_id, key_version)
            self._openers[(user_id, key_version)] = aead
        return aead

    def encrypt_value(
        self,
        value: str,
        *,
        table: str,
        column: str,
        row_id: str,
        user_id: str,
        key_version: int | None = None,
    ) -> str:
        """Seal ``value`` for its place; ``key_version`` defaults to the user's newest key.

        Only registered (table, column) pairs may be sealed, so the registry stays the one
        list of what is encrypted.
        """
        # This runs for every value written, so the AAD is built inline from its precomputed
        # head (same bytes as value_aad) and the common case skips the helper calls.
        head = _AAD_HEADS.get((table, column))
        if head is None:
            raise KeyError(f"{table}.{column} is not a registered encrypted column")
        if not isinstance(value, str):
            raise TypeError(f"{table}.{column}: only str values are encrypted, not {type(value)}")
        found = self._sealers.get(user_id) if key_version is None else None
        version, aead = found or self._sealer(user_id, key_version)
        row = row_id.encode("utf-8")
        user = user_id.encode("utf-8")
        if len(row) > 255 or len(user) > 255:
            aad = value_aad(table, column, row_id, user_id)
        else:
            aad = b"".join((head, _LENGTHS[len(row)], row, _LENGTHS[len(user)], user))
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, value.encode("utf-8"), aad)
        payload = binascii.b2a_base64(nonce + sealed, newline=False).translate(_TO_URLSAFE)
        return f"{TOKEN_PREFIX}{version}.{payload.rstrip(b'=').decode('ascii')}"

    def decrypt_value(
        self, token: str, *, table: str, column: str, row_id: str, user_id: str
    ) -> str:
        """Open a token stored at (table, column, row_id) of ``user_id``.

        Raises :class:`DecryptionError` when it was tampered with or belongs elsewhere, and
        :class:`~pathfinder.security.keys.KeyDestroyed` when its key was shredded.
        """
        # Runs for every value read, so parsing (the rules of _split_token) and the AAD (the
        # bytes of value_aad) are inlined. Base64 is decoded strictly: a character a lenient
        # decoder would skip is an error, so only the stored form of a value opens.
        head = _AAD_HEADS.get((table, column))
        if head is None:
            raise KeyError(f"{table}.{column} is not a registered encrypted column")
        parts = token.split(".", 2) if isinstance(token, str) else ()
        if (
            len(parts) != 3
            or parts[0] != TOKEN_SCHEME
            or not (parts[1].isascii() and parts[1].isdigit())
            or parts[1][0] == "0"
        ):
            raise DecryptionError(f"{table}.{column} of row {row_id}: not a well-formed pf1 token")
        version, payload = int(parts[1]), parts[2]
        try:
            blob = binascii.a2b_base64(
                payload.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(payload) % 4),
                strict_mode=True,
            )
        except (binascii.Error, UnicodeEncodeError):
            raise DecryptionError(
                f"{table}.{column} of row {row_id}: pf1 token payload is not base64url"
            ) from None
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"{table}.{column} of row {row_id}: pf1 token is too short")
        aead = self._openers.get((user_id, version)) or self._opener(user_id, version)
        row = row_id.encode("utf-8")
        user = user_id.encode("utf-8")
        if len(row) > 255 or len(user) > 255:
            aad = value_aad(table, column, row_id, user_id)
        else:
            aad = b"".join((head, _LENGTHS[len(row)], row, _LENGTHS[len(user)], user))
        view = memoryview(blob)  # slices without copying the ciphertext
        try:
            plain = aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError(
                f"{table}.{column} of row {row_id} (user {user_id}) failed to decrypt: "
                "tampered with, or moved from another row, column or user"
            ) from None
        return plain.decode("utf-8")

    def seal_row(
        self,
        table_name: str,
        row: Mapping[str, Any],
        *,
        user_id: str,
        row_id: str | None = None,
        key_version: int | None = None,
    ) -> dict[str, Any]:
        """A copy of ``row`` with every registered column in it sealed (None stays None).

        Columns absent from ``row`` are left alone, so partial updates work. The row id is
        ``row_id`` or the row's id column: ids are made by the application, so it is known
        before the INSERT.
        """
        spec = encrypted_table(table_name)
        out = dict(row)
        rid = _row_id(spec, row, row_id)
        for column in spec.columns:
            if column in out and out[column] is not None:
                out[column] = self.encrypt_value(
                    out[column],
                    table=spec.name,
                    column=column,
                    row_id=rid,
                    user_id=user_id,
                    key_version=key_version,
                )
        return out

    def open_row(
        self,
        table_name: str,
        row: Mapping[str, Any],
        *,
        user_id: str,
        row_id: str | None = None,
    ) -> dict[str, Any]:
        """A copy of ``row`` (a dict or ``Row._mapping``) with registered columns decrypted."""
        spec = encrypted_table(table_name)
        out = dict(row)
        rid = _row_id(spec, row, row_id)
        for column in spec.columns:
            if column in out and out[column] is not None:
                out[column] = self.decrypt_value(
                    out[column], table=spec.name, column=column, row_id=rid, user_id=user_id
                )
        return out

    def open_rows(
        self, table_name: str, rows: Iterable[Mapping[str, Any]], *, user_id: str
    ) -> list[dict[str, Any]]:
        """:meth:`open_row` for every row of a result (each row carries its own id)."""
        return [self.open_row(table_name, row, user_id=user_id) for row in rows]


def _row_id(spec: EncryptedTable, row: Mapping[str, Any], row_id: str | None) -> str:
    rid = row_id if row_id is not None else row.get(spec.id_column)
    if not rid:
        raise ValueError(
            f"{spec.name}: the row id is needed to seal or open it (make the id first)"
        )
    return str(rid)


def field_cipher(conn: Connection, app: Flask | None = None) -> FieldCipher:
    """A :class:`FieldCipher` over ``conn`` using the app's key store (repositories' entry)."""
    return FieldCipher(get_key_store(app), conn)
