"""Making caller-supplied values safe to store in the audit log, and the same for any log.

Secrets never reach a row: keys that name one (``password``, ``mfa_code``, ``api_key``)
keep their place with ``"[redacted]"``, and values that are credentials (a JWT, a bearer
header) are redacted under any key. Values are shaped to survive every back-end's JSON round
trip unchanged, because the row's HMAC is computed before the row is stored and recomputed
after it is read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

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


def format_instant(value: datetime) -> str:
    """UTC to the microsecond, the precision every back-end stores."""
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be aware datetimes")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
