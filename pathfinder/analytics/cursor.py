"""Opaque keyset cursors: the sort key of the last row of a page, base64url-encoded JSON.

A cursor is not a secret and is not signed: it only names a position in the caller's own
rows, and every query that uses one is still limited to the caller's tables. What a client
can do with a forged cursor is start a page at another position of their own data.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pathfinder.api.validation import ValidationProblem

MAX_CURSOR_LENGTH = 512


def encode_cursor(*values: Any) -> str:
    """A cursor for the given key values (strings, numbers, or None)."""
    raw = json.dumps(list(values), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The key values of ``cursor``; a malformed one is a 422 on the ``cursor`` parameter."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError("wrong shape")
        if not all(isinstance(v, str | int | float) or v is None for v in values):
            raise ValueError("wrong value types")
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationProblem(
            "One or more query parameters are invalid.",
            errors=[{"field": "cursor", "message": "not a cursor returned by this endpoint"}],
        ) from None
    return values
