"""Field encryption: which columns are encrypted, and the codec repositories seal rows with.

:data:`ENCRYPTED_COLUMNS` is the one place that names every encrypted column. Repositories
never call AES themselves: they pass a row dict through :meth:`FieldCipher.seal_row` before
writing and :meth:`FieldCipher.open_row` after reading, and those two encrypt or decrypt
exactly the registered columns. Rotation and shredding walk the same registry, so a column
added here is covered by all three at once.

A value is sealed with AES-256-GCM under the user's newest data key, with a fresh random
96-bit nonce, and stored as the token ``pf2.<key_version>.<base64url(nonce|ciphertext|tag)>``.
The AAD is the canonical bytes of ``("pf2", table, column, row id, user id, row version)``: a
token copied to another row, column, table or user fails to decrypt, and so does a token
sealed at another version of the same row. Every registered table has a ``row_version``
column; every write that changes an encrypted cell re-seals *all* the row's encrypted cells
at the next version (:meth:`FieldCipher.reseal`), so an older ciphertext of a cell, restored
on its own, no longer opens. Decryption failure is always an error
(:class:`DecryptionError`); a column that holds anything but a token is never passed through
as plain text. List and read paths may open rows *tolerantly*: a cell that fails is returned
as None and named in the row's :data:`UNREADABLE` list, and the failure is reported to
:mod:`pathfinder.security.unreadable`, which audits it in a transaction of its own.

``pf1`` tokens (the format before row versions) still open, but only in a row whose
``row_version`` is NULL (version 0): rows written before versions existed. Their first
re-seal (an edit, or ``keys rotate-dek``) moves them to ``pf2`` at version 1, after which no
``pf1`` token opens in them.

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
    KeyDestroyed,
    KeyUnwrapError,
    canonical_aad,
    get_key_store,
)
from pathfinder.security.unreadable import UnreadableCell, report_unreadable

TOKEN_SCHEME = "pf2"  # noqa: S105 - the token format tag, not a secret
TOKEN_PREFIX = TOKEN_SCHEME + "."
# The format before row versions: AAD without the version; opens only at LEGACY_ROW_VERSION.
LEGACY_TOKEN_SCHEME = "pf1"  # noqa: S105 - a format tag
LEGACY_TOKEN_PREFIX = LEGACY_TOKEN_SCHEME + "."
TOKEN_SCHEMES = (TOKEN_SCHEME, LEGACY_TOKEN_SCHEME)

# Every registered table carries this column; it is part of each of its cells' AAD.
ROW_VERSION_COLUMN = "row_version"
# Rows written before row versions existed (their row_version is NULL).
LEGACY_ROW_VERSION = 0
# The version of a newly inserted row.
FIRST_ROW_VERSION = 1
# Key of the list of columns a tolerant open could not decrypt (absent when all opened).
UNREADABLE = "_unreadable"


class DecryptionError(CryptoError):
    """A stored value did not decrypt: tampered, moved from elsewhere, or not a token at all."""


# What says "this stored value cannot be opened": the value (or its key row) is damaged, or
# its key was shredded. A missing KEK or data key is a configuration fault of every value
# alike, not of one row, so it is not among them: it stops the request as an error.
UNREADABLE_ERRORS: tuple[type[CryptoError], ...] = (DecryptionError, KeyUnwrapError, KeyDestroyed)


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
    version_column: str = ROW_VERSION_COLUMN


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
    # The user's own career objective in the tier-3 summary (template version 4).
    EncryptedTable("quick_summary", ("career_objective",), per_user=True),
    # Shared tables, filtered by owner.
    EncryptedTable(
        "pf_users",
        ("phone_number", "date_of_birth", "mfa_secret", "avatar_url"),
        per_user=False,
        user_column="id",
    ),
    EncryptedTable(
        "pf_sso_accounts", ("access_token", "refresh_token"), per_user=False, user_column="user_id"
    ),
    EncryptedTable("pf_cpa_pert_experiences", _NARRATIVE, per_user=False, user_column="user_id"),
    # Shares and what grantees write: encrypted with the candidate's (the sharer's) key.
    EncryptedTable("pf_cpa_shares", ("grantee_email",), per_user=False, user_column="user_id"),
    EncryptedTable(
        "pf_cpa_verifications", ("decision_note",), per_user=False, user_column="user_id"
    ),
    EncryptedTable(
        "pf_cpa_mentor_meetings",
        ("topics", "concerns", "next_steps"),
        per_user=False,
        user_column="user_id",
    ),
    EncryptedTable("pf_cpa_comments", ("body",), per_user=False, user_column="user_id"),
    # Answers kept for Idempotency-Key replays hold the user's data in clear JSON.
    EncryptedTable(
        "pf_idempotency_keys", ("response_body",), per_user=False, user_column="user_id"
    ),
)

# (table, column) -> the canonical AAD bytes of ("pf2", table, column): the constant head of
# every value's AAD, computed once. Membership doubles as the "is it registered" check.
_AAD_HEADS: dict[tuple[str, str], bytes] = {
    (t.name, c): canonical_aad(TOKEN_SCHEME, t.name, c)
    for t in ENCRYPTED_COLUMNS.values()
    for c in t.columns
}
_LEGACY_AAD_HEADS: dict[tuple[str, str], bytes] = {
    (t.name, c): canonical_aad(LEGACY_TOKEN_SCHEME, t.name, c)
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


def _where(table: str, column: str, row_id: str) -> str:
    """A value's place, for error messages only (built when one is raised, not per value)."""
    return f"{table}.{column} of row {row_id}"


def value_aad(table: str, column: str, row_id: str, user_id: str, row_version: int) -> bytes:
    """The AAD of one stored value: binds it to its table, column, row, owner and row version.

    Equal to ``canonical_aad("pf2", table, column, row_id, user_id, str(row_version))``;
    built from a precomputed head because it runs for every value sealed or opened.
    """
    head = _AAD_HEADS.get((table, column))
    row = row_id.encode("utf-8")
    user = user_id.encode("utf-8")
    version = str(row_version).encode("ascii")
    if head is None or len(row) > 255 or len(user) > 255:
        return canonical_aad(TOKEN_SCHEME, table, column, row_id, user_id, str(row_version))
    return b"".join(
        (head, _LENGTHS[len(row)], row, _LENGTHS[len(user)], user, _LENGTHS[len(version)], version)
    )


def legacy_value_aad(table: str, column: str, row_id: str, user_id: str) -> bytes:
    """The AAD of a ``pf1`` token: the same binding without the row version."""
    return canonical_aad(LEGACY_TOKEN_SCHEME, table, column, row_id, user_id)


def is_token(value: object) -> bool:
    """Whether ``value`` looks like a field token (shape only; says nothing of validity)."""
    return isinstance(value, str) and value.startswith((TOKEN_PREFIX, LEGACY_TOKEN_PREFIX))


def token_version(token: str) -> int:
    """The data-key version a token was sealed with (rotation decides from this alone)."""
    return _split_token(token)[1]


def is_current_token(token: str, key_version: int) -> bool:
    """Whether ``token`` is in the current format under ``key_version`` (rotation's test)."""
    return token.startswith(f"{TOKEN_PREFIX}{key_version}.")


def _split_token(token: str) -> tuple[str, int, str]:
    """(scheme, key version, payload) of a well-formed token; DecryptionError otherwise."""
    if not isinstance(token, str):
        raise DecryptionError("value is not a field token")
    parts = token.split(".", 2)
    if len(parts) != 3 or parts[0] not in TOKEN_SCHEMES:
        raise DecryptionError("value is not a field token")
    digits = parts[1]
    # One spelling per version: ASCII digits, no sign, no leading zero.
    if not (digits.isascii() and digits.isdigit()) or digits[0] == "0":
        raise DecryptionError("malformed field token version")
    return parts[0], int(digits), parts[2]


def row_version_of(spec: EncryptedTable, row: Mapping[str, Any]) -> int:
    """The row's version; a row read without its version column is a programming error."""
    try:
        version = row[spec.version_column]
    except KeyError:
        raise ValueError(
            f"{spec.name}: read the {spec.version_column} column with the row (it is part of "
            "every encrypted cell's AAD)"
        ) from None
    if version is None:  # written before row versions existed
        return LEGACY_ROW_VERSION
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"{spec.name}: {spec.version_column} must be an integer >= 0")
    return version


def next_row_version(row: Mapping[str, Any]) -> int:
    """The version a row moves to when its encrypted cells are sealed again."""
    return (row.get(ROW_VERSION_COLUMN) or LEGACY_ROW_VERSION) + 1


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
        row_version: int,
        key_version: int | None = None,
    ) -> str:
        """Seal ``value`` for its place and row version; ``key_version`` defaults to the newest.

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
        if row_version < FIRST_ROW_VERSION:
            raise ValueError(f"{table}.{column}: values are sealed at row version 1 or later")
        found = self._sealers.get(user_id) if key_version is None else None
        version, aead = found or self._sealer(user_id, key_version)
        aad = _aad(head, table, column, row_id, user_id, row_version)
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, value.encode("utf-8"), aad)
        payload = binascii.b2a_base64(nonce + sealed, newline=False).translate(_TO_URLSAFE)
        return f"{TOKEN_PREFIX}{version}.{payload.rstrip(b'=').decode('ascii')}"

    def decrypt_value(
        self,
        token: str,
        *,
        table: str,
        column: str,
        row_id: str,
        user_id: str,
        row_version: int,
    ) -> str:
        """Open a token stored at (table, column, row_id) of ``user_id``, row ``row_version``.

        Raises :class:`DecryptionError` when it was tampered with, belongs elsewhere or to
        another version of the row, and :class:`~pathfinder.security.keys.KeyDestroyed` when
        its key was shredded.
        """
        # Runs for every value read, so parsing (the rules of _split_token) is inlined. Base64
        # is decoded strictly: a character a lenient decoder would skip is an error, so only
        # the stored form of a value opens.
        head = _AAD_HEADS.get((table, column))
        if head is None:
            raise KeyError(f"{table}.{column} is not a registered encrypted column")
        parts = token.split(".", 2) if isinstance(token, str) else ()
        if (
            len(parts) != 3
            or parts[0] not in TOKEN_SCHEMES
            or not (parts[1].isascii() and parts[1].isdigit())
            or parts[1][0] == "0"
        ):
            where = _where(table, column, row_id)
            raise DecryptionError(f"{where}: not a well-formed field token")
        if parts[0] == TOKEN_SCHEME:
            aad = _aad(head, table, column, row_id, user_id, row_version)
        elif row_version == LEGACY_ROW_VERSION:
            aad = legacy_value_aad(table, column, row_id, user_id)
        else:
            where = _where(table, column, row_id)
            raise DecryptionError(
                f"{where}: a pf1 token (sealed before row versions) in a row at version "
                f"{row_version}: restored from an older copy of the row"
            )
        version, payload = int(parts[1]), parts[2]
        try:
            blob = binascii.a2b_base64(
                payload.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(payload) % 4),
                strict_mode=True,
            )
        except (binascii.Error, UnicodeEncodeError):
            where = _where(table, column, row_id)
            raise DecryptionError(f"{where}: token payload is not base64url") from None
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            where = _where(table, column, row_id)
            raise DecryptionError(f"{where}: token is too short")
        aead = self._openers.get((user_id, version)) or self._opener(user_id, version)
        view = memoryview(blob)  # slices without copying the ciphertext
        try:
            plain = aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], aad)
        except InvalidTag:
            where = _where(table, column, row_id)
            raise DecryptionError(
                f"{where} (user {user_id}, row version {row_version}) failed to decrypt: "
                "tampered with, restored from an older version of the row, or moved from "
                "another row, column or user"
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
        """A copy of a *whole* row with every registered column sealed (None stays None).

        The row must carry its ``row_version`` (1 for a new row) and every registered column:
        all the cells of a row are sealed at one version, so sealing a part of a row would
        leave the other cells at an older one. Updates go through :meth:`reseal`. The row id
        is ``row_id`` or the row's id column: ids are made by the application, so it is known
        before the INSERT.
        """
        spec = encrypted_table(table_name)
        version = row_version_of(spec, row)
        missing = [c for c in spec.columns if c not in row]
        if missing:
            raise ValueError(
                f"{spec.name}: seal the whole row (missing {', '.join(missing)}); use reseal() "
                "for a change"
            )
        out = dict(row)
        rid = _row_id(spec, row, row_id)
        for column in spec.columns:
            if out[column] is not None:
                out[column] = self.encrypt_value(
                    out[column],
                    table=spec.name,
                    column=column,
                    row_id=rid,
                    user_id=user_id,
                    row_version=version,
                    key_version=key_version,
                )
        return out

    def reseal(
        self,
        table_name: str,
        stored: Mapping[str, Any],
        changes: Mapping[str, Any],
        *,
        user_id: str,
    ) -> dict[str, Any]:
        """The values an UPDATE writes to apply ``changes`` (plain text) to the ``stored`` row.

        The row moves to the next version and every registered cell is sealed at it: the
        changed ones from ``changes``, the others opened from ``stored`` first (strictly: a
        cell that does not open stops the update rather than being lost). Columns that are
        not encrypted pass through from ``changes``. Write it with
        ``WHERE row_version = <stored version>`` or under a lock that keeps other writers
        out, so two writers cannot both move the row from the same version.
        """
        spec = encrypted_table(table_name)
        current = row_version_of(spec, stored)
        rid = _row_id(spec, stored, None)
        whole = self.open_row(table_name, stored, user_id=user_id)
        whole.update(changes)
        whole[spec.version_column] = current + 1
        sealed = self.seal_row(table_name, whole, user_id=user_id, row_id=rid)
        values = {k: v for k, v in changes.items() if k not in spec.columns}
        values.update({c: sealed[c] for c in spec.columns})
        values[spec.version_column] = current + 1
        values.pop(spec.id_column, None)
        return values

    def open_row(
        self,
        table_name: str,
        row: Mapping[str, Any],
        *,
        user_id: str,
        row_id: str | None = None,
        tolerant: bool = False,
    ) -> dict[str, Any]:
        """A copy of ``row`` (a dict or ``Row._mapping``) with registered columns decrypted.

        ``tolerant`` is for reads: a cell that does not open becomes None, its column is
        listed under :data:`UNREADABLE`, and the failure is reported (and audited in a
        transaction of its own) instead of failing the whole answer. Without it a failure
        is reported and raised.
        """
        spec = encrypted_table(table_name)
        out = dict(row)
        rid = _row_id(spec, row, row_id)
        version = row_version_of(spec, row)
        unreadable: list[str] = []
        for column in spec.columns:
            if column in out and out[column] is not None:
                try:
                    out[column] = self.decrypt_value(
                        out[column],
                        table=spec.name,
                        column=column,
                        row_id=rid,
                        user_id=user_id,
                        row_version=version,
                    )
                except UNREADABLE_ERRORS as exc:
                    report_unreadable(UnreadableCell(user_id, spec.name, column, rid, version, exc))
                    if not tolerant:
                        raise
                    out[column] = None
                    unreadable.append(column)
        if unreadable:
            out[UNREADABLE] = unreadable
        return out

    def open_rows(
        self,
        table_name: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        user_id: str,
        tolerant: bool = False,
    ) -> list[dict[str, Any]]:
        """:meth:`open_row` for every row of a result (each row carries its own id)."""
        return [self.open_row(table_name, row, user_id=user_id, tolerant=tolerant) for row in rows]


def _aad(head: bytes, table: str, column: str, row_id: str, user_id: str, version: int) -> bytes:
    row = row_id.encode("utf-8")
    user = user_id.encode("utf-8")
    if len(row) > 255 or len(user) > 255:
        return value_aad(table, column, row_id, user_id, version)
    text = str(version).encode("ascii")
    return b"".join(
        (head, _LENGTHS[len(row)], row, _LENGTHS[len(user)], user, _LENGTHS[len(text)], text)
    )


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


def unreadable_fields(row: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{"unreadable_fields": [...]}`` for a tolerantly opened row with failures, else {}.

    Serialisers merge it into an item, so an answer names exactly the fields it could not
    give and nothing else changes shape.
    """
    names = row.get(UNREADABLE)
    return {"unreadable_fields": list(names)} if names else {}
