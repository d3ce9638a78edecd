"""What a row's ``row_hash`` covers: keys, keyed references and the canonical hash input.

Why the pieces look the way they do (``docs/audit.md`` has the long form):

* **HMAC, not a bare hash.** ``row_hash = HMAC-SHA256(row key, canonical hash input)``, made
  by the writer before the insert. Anyone with write access to the table can recompute a
  plain SHA-256 after editing a row; without ``AUDIT_HMAC_KEY`` they cannot produce a hash
  that verifies. The row's place in the log is not part of it (the database assigns
  ``seq`` at insert): the Merkle tree built by the sealer binds each row to its place.
* **Canonical hash input.** A JSON object with sorted keys, no whitespace, ASCII only,
  built from values as they read back from every back-end (naive-UTC timestamps to the
  microsecond, JSON details re-serialised after the database has reordered their keys).
* **Pseudonymisable fields enter the hash as keyed references, not clear values.** Account
  deletion must be able to blank a deleted user's display names, IP addresses and user
  agents, and replace their id, without breaking verification. So the hash covers
  ``ref(value)``: for a clear value a keyed token computed from it, for a value that already
  *is* a token the token itself. Pseudonymising stores the token in place of the value:
  the hash input is unchanged, verification passes, and any other edit (including setting
  the field to NULL) still changes the input. See :func:`RowKeys.id_ref` and
  :func:`RowKeys.field_ref`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from pathfinder.audit.sanitise import format_instant
from pathfinder.security.secrets import resolve_secret

# Bumped when the hash input changes; part of the input. Version 1 chained rows through
# prev_hash and bound pseudonyms to seq; version 2 is the lock-free, sealed log.
HASH_VERSION = 2

# A pseudonym token: "~" + 25 base32 characters (125 bits of an HMAC). 26 characters fit
# the id columns (VARCHAR2(26)); "~" is outside the ULID alphabet, so a token is never an id.
PSEUDONYM_MARK = "~"
TOKEN_LENGTH = 26
_TOKEN_RE = re.compile(r"~[a-z2-7]{25}")
# Crockford base32 ULID as python-ulid prints it.
_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")

# Columns that may be pseudonymised, and the hash-input kind of each.
ID_FIELDS = ("actor_id", "target_id")
ROW_BOUND_FIELDS = ("actor_display", "target_display", "ip_address", "user_agent")

_ID_CACHE_SIZE = 4096
_EXTENSION_KEY = "pathfinder.audit_keys"
_keys_lock = threading.Lock()


@dataclass(frozen=True)
class RowKeys:
    """The two keys derived from ``AUDIT_HMAC_KEY``: one signs rows, one makes pseudonyms.

    Derived (HMAC of a label) rather than the secret used twice, so a pseudonym can never be
    mistaken for, or help forge, a row hash.
    """

    row: bytes
    pseudonym: bytes
    # Id pseudonyms recur (the same actor on every request, every row in verify): cached.
    _ids: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> RowKeys:
        raw = secret.encode("utf-8")
        return cls(
            row=hmac.new(raw, b"pathfinder/audit/row/v2", hashlib.sha256).digest(),
            pseudonym=hmac.new(raw, b"pathfinder/audit/pseudonym/v1", hashlib.sha256).digest(),
        )

    def sign(self, payload: bytes) -> str:
        """The row hash of a canonical hash input (64 hex characters)."""
        return hmac.digest(self.row, payload, "sha256").hex()

    def _token(self, *parts: str) -> str:
        message = "\x00".join(parts).encode("utf-8")
        digest = hmac.digest(self.pseudonym, message, "sha256")
        # The first 25 base32 characters cover the first 125 bits: encoding 16 bytes gives
        # the same characters as encoding all 32, for half the (pure-Python) work.
        encoded = base64.b32encode(digest[:16]).decode("ascii").lower()
        return PSEUDONYM_MARK + encoded[: TOKEN_LENGTH - 1]

    def id_pseudonym(self, value: str) -> str:
        """The keyed pseudonym of an id: the same for every row, so a deleted user's rows
        stay grouped under one pseudonym while nothing maps it back to the account."""
        cached = self._ids.get(value)
        if cached is None:
            cached = self._token("id", value)
            if len(self._ids) >= _ID_CACHE_SIZE:
                self._ids.clear()  # cheap bound; the same few ids recur in a burst
            self._ids[value] = cached
        return cached

    def id_ref(self, value: str | None) -> str | None:
        """Hash-input form of an id: a token stays itself, a clear id becomes its pseudonym."""
        if value is None or is_token(value):
            return value
        return self.id_pseudonym(value)

    def field_ref(self, field: str, row_id: str, value: str | None) -> str | None:
        """Hash-input form of a display/IP/user-agent value, bound to its row and column.

        Bound to the row's id (known before the row is stored, unlike ``seq``) so two
        pseudonymised rows with the same IP address cannot be linked by their tokens, and a
        token cannot be moved to another row or column.
        """
        if value is None or is_token(value):
            return value
        return self._token(field, row_id, value)

    def path_ref(self, path: str | None) -> str | None:
        """Hash-input form of a request path: ids in its segments become their pseudonyms."""
        if path is None:
            return None
        return "/".join(self.id_ref(s) if _ULID_RE.fullmatch(s) else s for s in path.split("/"))

    def details_ref(self, value: Any) -> Any:
        """Hash-input form of details: every string that is an id becomes its pseudonym."""
        if isinstance(value, str):
            return self.id_ref(value) if _ULID_RE.fullmatch(value) else value
        if isinstance(value, dict):
            return {k: self.details_ref(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.details_ref(v) for v in value]
        return value


def is_token(value: str) -> bool:
    """Whether ``value`` is a pseudonym token (what pseudonymisation leaves behind)."""
    return len(value) == TOKEN_LENGTH and _TOKEN_RE.fullmatch(value) is not None


def row_keys(app: Flask | None = None) -> RowKeys:
    """The app's keys, derived once from ``resolve_secret(config, "AUDIT_HMAC_KEY")``.

    Resolved on first use, not in ``create_app``: the development secret may live in a file
    and the factory does no I/O.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    keys = app.extensions.get(_EXTENSION_KEY)
    if keys is None:
        with _keys_lock:
            keys = app.extensions.get(_EXTENSION_KEY)
            if keys is None:
                keys = RowKeys.from_secret(resolve_secret(app.config, "AUDIT_HMAC_KEY"))
                app.extensions[_EXTENSION_KEY] = keys
    return keys


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, ASCII escapes, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def hash_input(row: Mapping[str, Any], keys: RowKeys) -> bytes:
    """The bytes a row's HMAC covers, from the row as stored (or about to be stored).

    Every column except ``seq`` (assigned by the database at insert; the Merkle tree binds
    it) and ``row_hash`` is covered; pseudonymisable columns through their keyed references
    (module docstring), everything else in clear.
    """
    row_id = str(row["id"])
    document: dict[str, Any] = {
        "v": HASH_VERSION,
        "id": row_id,
        "event_type": row["event_type"],
        "actor_role": row["actor_role"],
        "target_type": row["target_type"],
        "outcome": row["outcome"],
        "request_id": row["request_id"],
        "http_method": row["http_method"],
        "request_path": keys.path_ref(row["request_path"]),
        "status_code": row["status_code"],
        "execution_ms": row["execution_ms"],
        "details": keys.details_ref(row["details"]),
        "created_at": format_instant(row["created_at"]),
    }
    for name in ID_FIELDS:
        document[name] = keys.id_ref(row[name])
    for name in ROW_BOUND_FIELDS:
        document[name] = keys.field_ref(name, row_id, row[name])
    return canonical_json(document).encode("ascii")


def compute_row_hash(row: Mapping[str, Any], keys: RowKeys) -> str:
    """``HMAC-SHA256(row key, hash_input(row))`` as 64 hex characters."""
    return keys.sign(hash_input(row, keys))
