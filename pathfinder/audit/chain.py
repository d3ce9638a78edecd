"""The hash chain of ``pf_audit_log``: keys, hash input, sanitising, and appending a row.

Why the pieces look the way they do (``docs/audit.md`` has the long form):

* **HMAC, not a bare hash.** ``row_hash = HMAC-SHA256(chain key, canonical hash input)``.
  Anyone with write access to the table can recompute a plain SHA-256 chain after editing
  it; without ``AUDIT_HMAC_KEY`` they cannot produce a hash that verifies.
* **Canonical hash input.** A JSON object with sorted keys, no whitespace, ASCII only,
  built from values as they read back from every back-end (naive-UTC timestamps to the
  microsecond, JSON details re-serialised after the database has reordered their keys).
* **Pseudonymisable fields enter the hash as keyed references, not clear values.** Account
  deletion must be able to blank a deleted user's display names, IP addresses and user
  agents, and replace their id, without breaking the chain. So the hash covers
  ``ref(value)``: for a clear value a keyed token computed from it, for a value that already
  *is* a token the token itself. Pseudonymising stores the token in place of the value:
  the hash input is unchanged, verification passes, and any other edit (including setting
  the field to NULL) still changes the input. See :func:`ChainKeys.id_ref` and
  :func:`ChainKeys.field_ref`.
* **Head lock in the database.** Appends serialise on the ``pf_audit_chain`` row
  (``SELECT ... FOR UPDATE`` on PostgreSQL and Oracle; on SQLite the transaction already
  holds the database write lock from ``BEGIN IMMEDIATE``), so writers in any number of
  processes form one chain. The lock is held until the caller's transaction ends, which is
  why callers should record their audit row as the last statement before commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.engine import Connection

from pathfinder.ids import new_id
from pathfinder.schema.shared.security import audit_chain, audit_log
from pathfinder.security.secrets import resolve_secret

# Bumped if the hash input ever changes; part of the input, so old rows keep verifying only
# under the version they were written with (verify would need to know both).
HASH_VERSION = 1
CHAIN_KEY = "main"
GENESIS_HASH = "0" * 64

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

REDACTED = "[redacted]"
# A details key is secret when one of its words is one of these ...
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "tokens",
        "authorization",
        "cookie",
        "cookies",
        "otp",
        "totp",
        "hotp",
        "pin",
        "credential",
        "credentials",
        "apikey",
        "jwt",
        "bearer",
        "csrf",
        "xsrf",
        "session",
        "sid",
        "cvv",
    }
)
# ... or its last word is "code"/"key"/"codes"/"keys" (mfa_code, recovery_codes, api_key,
# private_key), unless the word before says it is an ordinary code (status_code).
_SECRET_LAST_WORDS = frozenset({"code", "codes", "key", "keys"})
_HARMLESS_CODE_QUALIFIERS = frozenset(
    {"status", "error", "http", "exit", "reason", "response", "country", "currency", "language"}
)
# Values that are credentials whatever their key says: JWTs, bearer headers.
_SECRET_VALUE_RE = re.compile(
    r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}",
    re.IGNORECASE,
)
_WORD_SPLIT_RE = re.compile(r"[^a-z0-9]+")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

MAX_DETAIL_STRING = 2000
MAX_DETAIL_DEPTH = 8
MAX_DETAIL_ITEMS = 200
# Floats beyond this print in exponent form, which PostgreSQL's JSONB would hand back as an
# integer: the hash input would change on the round trip. Such values are kept as text.
_MAX_EXACT_FLOAT = 1e15

_EXTENSION_KEY = "pathfinder.audit_keys"
_keys_lock = threading.Lock()


class AuditChainError(RuntimeError):
    """The chain cannot be extended safely (its head row is gone while rows exist)."""


# -- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainKeys:
    """The two keys derived from ``AUDIT_HMAC_KEY``: one signs rows, one makes pseudonyms.

    Derived (HMAC of a label) rather than the secret used twice, so a pseudonym can never be
    mistaken for, or help forge, a row hash.
    """

    chain: bytes
    pseudonym: bytes

    @classmethod
    def from_secret(cls, secret: str) -> ChainKeys:
        raw = secret.encode("utf-8")
        return cls(
            chain=hmac.new(raw, b"pathfinder/audit/chain/v1", hashlib.sha256).digest(),
            pseudonym=hmac.new(raw, b"pathfinder/audit/pseudonym/v1", hashlib.sha256).digest(),
        )

    def sign(self, payload: bytes) -> str:
        """The row hash of a canonical hash input (64 hex characters)."""
        return hmac.new(self.chain, payload, hashlib.sha256).hexdigest()

    def _token(self, *parts: str) -> str:
        message = "\x00".join(parts).encode("utf-8")
        digest = hmac.new(self.pseudonym, message, hashlib.sha256).digest()
        encoded = base64.b32encode(digest).decode("ascii").lower()
        return PSEUDONYM_MARK + encoded[: TOKEN_LENGTH - 1]

    def id_pseudonym(self, value: str) -> str:
        """The keyed pseudonym of an id: the same for every row, so a deleted user's rows
        stay grouped under one pseudonym while nothing maps it back to the account."""
        return self._token("id", value)

    def id_ref(self, value: str | None) -> str | None:
        """Hash-input form of an id: a token stays itself, a clear id becomes its pseudonym."""
        if value is None or is_token(value):
            return value
        return self.id_pseudonym(value)

    def field_ref(self, field: str, seq: int, value: str | None) -> str | None:
        """Hash-input form of a display/IP/user-agent value, bound to its row and column.

        Bound to ``seq`` so two pseudonymised rows with the same IP address cannot be linked
        by their tokens, and a token cannot be moved to another row or column.
        """
        if value is None or is_token(value):
            return value
        return self._token(field, str(seq), value)

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


def chain_keys(app: Flask | None = None) -> ChainKeys:
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
                keys = ChainKeys.from_secret(resolve_secret(app.config, "AUDIT_HMAC_KEY"))
                app.extensions[_EXTENSION_KEY] = keys
    return keys


# -- canonical hash input ------------------------------------------------------------------


def format_instant(value: datetime) -> str:
    """UTC to the microsecond, the precision every back-end stores."""
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be aware datetimes")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, ASCII escapes, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def hash_input(row: Mapping[str, Any], keys: ChainKeys) -> bytes:
    """The bytes a row's HMAC covers, from the row as stored (or about to be stored).

    Every column except ``row_hash`` is covered; pseudonymisable columns through their
    keyed references (module docstring), everything else in clear.
    """
    seq = int(row["seq"])
    document: dict[str, Any] = {
        "v": HASH_VERSION,
        "id": row["id"],
        "seq": seq,
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
        "prev_hash": row["prev_hash"],
    }
    for name in ID_FIELDS:
        document[name] = keys.id_ref(row[name])
    for name in ROW_BOUND_FIELDS:
        document[name] = keys.field_ref(name, seq, row[name])
    return canonical_json(document).encode("ascii")


def compute_row_hash(row: Mapping[str, Any], keys: ChainKeys) -> str:
    """``HMAC-SHA256(chain key, hash_input(row))`` as 64 hex characters."""
    return keys.sign(hash_input(row, keys))


# -- sanitising ----------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    """Whether a details key names something that must never be stored (password, token...)."""
    spaced = _CAMEL_RE.sub("_", key).lower()
    words = [w for w in _WORD_SPLIT_RE.split(spaced) if w]
    if not words:
        return False
    if any(word in _SECRET_WORDS for word in words):
        return True
    if "".join(words) in _SECRET_WORDS:  # "apiKey" -> api, key -> "apikey"
        return True
    if words[-1] in _SECRET_LAST_WORDS:
        return not (len(words) > 1 and words[-2] in _HARMLESS_CODE_QUALIFIERS)
    return False


def clean_text(value: str, limit: int | None = None) -> str:
    """Text as every back-end stores it: no NUL (PostgreSQL refuses it), at most ``limit``."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        # Lone surrogates (undecodable input) cannot be stored as UTF-8 anywhere.
        value = value.encode("utf-8", "replace").decode("utf-8")
    if limit is not None and len(value) > limit:
        value = value[:limit]
    return value


def sanitise_details(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy of ``details`` with secrets redacted, recursively.

    Keys that name secrets keep their place with the value ``"[redacted]"`` (a reader sees
    that something was there); values that are credentials (a JWT, a bearer header) are
    redacted under any key. Values are made to survive every back-end's JSON round trip
    unchanged, because the hash is computed before the row is stored and recomputed after
    it is read: strings lose NUL and are capped, odd floats become text, unknown types
    become text, depth and size are bounded. An empty result is stored as NULL.
    """
    if not details:
        return None
    cleaned = _sanitise_value(dict(details), 0)
    return cleaned or None


def _sanitise_value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        value = clean_text(value, MAX_DETAIL_STRING)
        return REDACTED if _SECRET_VALUE_RE.search(value) else value
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) >= _MAX_EXACT_FLOAT:
            return repr(value)
        return value + 0.0  # -0.0 -> 0.0: JSONB has no negative zero
    if depth >= MAX_DETAIL_DEPTH:
        return "[truncated]"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for index, (raw_key, item) in enumerate(value.items()):
            if index >= MAX_DETAIL_ITEMS:
                out["[truncated]"] = True
                break
            key = clean_text(str(raw_key), 200)
            out[key] = REDACTED if is_secret_key(key) else _sanitise_value(item, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return [_sanitise_value(item, depth + 1) for item in items[:MAX_DETAIL_ITEMS]]
    if isinstance(value, datetime):
        return format_instant(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return clean_text(str(value), MAX_DETAIL_STRING)


# -- the head and appending ----------------------------------------------------------------


@dataclass(frozen=True)
class ChainHead:
    """The last row of the chain, as the head row records it."""

    seq: int
    hash: str


# Built once: an audited write is hot, and rebuilding a 21-column INSERT with .values()
# costs more Python time than the HMACs do.
_HEAD_SELECT = (
    sa.select(audit_chain.c.last_seq, audit_chain.c.last_hash)
    .where(audit_chain.c.chain_key == CHAIN_KEY)
    .with_for_update()
)
_ROW_INSERT = audit_log.insert().values(
    {c.name: sa.bindparam(f"row_{c.name}", type_=c.type) for c in audit_log.c}
)
_HEAD_UPDATE = (
    audit_chain.update()
    .where(audit_chain.c.chain_key == CHAIN_KEY)
    .values(
        last_seq=sa.bindparam("head_seq", type_=audit_chain.c.last_seq.type),
        last_hash=sa.bindparam("head_hash", type_=audit_chain.c.last_hash.type),
        updated_at=sa.bindparam("head_updated_at", type_=audit_chain.c.updated_at.type),
    )
)
# PostgreSQL runs a data-modifying WITH to completion even though the UPDATE does not read
# it: the row insert and the head move travel in one round trip instead of two.
_APPEND_PG = _HEAD_UPDATE.add_cte(_ROW_INSERT.cte("appended"))


def lock_head(conn: Connection) -> ChainHead:
    """Lock the chain head for the rest of ``conn``'s transaction and return it.

    ``FOR UPDATE`` on PostgreSQL/Oracle makes a second writer wait here until the first
    commits and then read the head that writer left; SQLite renders no ``FOR UPDATE``, and
    needs none, because ``BEGIN IMMEDIATE`` already gave this transaction the write lock.
    The head row is created on first use (:func:`_create_head`).
    """
    row = conn.execute(_HEAD_SELECT).first()
    if row is None:
        _create_head(conn)
        row = conn.execute(_HEAD_SELECT).first()
        if row is None:  # pragma: no cover - the insert above or a rival's made it
            raise AuditChainError("could not create the audit chain head")
    return ChainHead(int(row.last_seq), str(row.last_hash))


def _create_head(conn: Connection) -> None:
    """Insert the head row of an empty chain; losing a race to another writer is fine.

    The insert runs in a SAVEPOINT so that a rival's identical insert (a unique violation
    once the rival commits) rolls back only the savepoint, not the caller's transaction.
    A missing head while rows exist is refused: silently restarting the chain at seq 1
    would collide with the stored rows, and re-deriving the head from the last row would
    hide a truncated tail. ``pathfinder audit verify`` reports the state.
    """
    last = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar()
    if last is not None:
        # A rival may have committed the head and its first row between our head read and
        # this one; head and row commit together, so a fresh read of the head settles it.
        if conn.execute(_HEAD_SELECT).first() is not None:
            return
        raise AuditChainError(
            "pf_audit_chain has no head row but pf_audit_log has rows up to seq "
            f"{int(last)}; run `pathfinder audit verify` and restore the head"
        )
    savepoint = conn.begin_nested()
    try:
        conn.execute(
            audit_chain.insert().values(
                chain_key=CHAIN_KEY,
                last_seq=0,
                last_hash=GENESIS_HASH,
                updated_at=datetime.now(UTC),
            )
        )
    except sa.exc.IntegrityError:
        savepoint.rollback()
    else:
        savepoint.commit()


def append(conn: Connection, fields: Mapping[str, Any], keys: ChainKeys) -> str:
    """Append one row (``fields``: every column but id/seq/hashes/created_at) to the chain.

    Runs inside the caller's transaction: lock the head, link to it, insert, move the head
    (two round trips on PostgreSQL, three elsewhere). Returns the new row's id.
    """
    head = lock_head(conn)
    row = dict(fields)
    row["id"] = new_id()
    row["seq"] = head.seq + 1
    row["prev_hash"] = head.hash
    # Taken under the lock, so created_at never goes backwards along the chain on one clock.
    row["created_at"] = datetime.now(UTC)
    row["row_hash"] = compute_row_hash(row, keys)
    params = {f"row_{name}": row.get(name) for name in audit_log.c.keys()}
    moved = {
        "head_seq": row["seq"],
        "head_hash": row["row_hash"],
        "head_updated_at": row["created_at"],
    }
    if conn.dialect.name == "postgresql":
        conn.execute(_APPEND_PG, {**params, **moved})
    else:
        conn.execute(_ROW_INSERT, params)
        conn.execute(_HEAD_UPDATE, moved)
    return str(row["id"])


def read_head(conn: Connection) -> ChainHead | None:
    """The head row without locking it (verification), or None when there is none."""
    row = conn.execute(
        sa.select(audit_chain.c.last_seq, audit_chain.c.last_hash).where(
            audit_chain.c.chain_key == CHAIN_KEY
        )
    ).first()
    return None if row is None else ChainHead(int(row.last_seq), str(row.last_hash))
