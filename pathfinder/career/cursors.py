"""Opaque keyset cursors: ``next_cursor`` in a list answer, ``?cursor=`` on the next call.

A cursor is the sort key of the last row of a page (for example ``["2021-03-01", "01J..."]``)
as base64url JSON. Keyset pages stay correct while rows are added or removed between calls
(an OFFSET would skip or repeat rows) and cost the same at any depth. Clients must treat a
cursor as opaque; a cursor that does not decode to the expected shape is a 422 naming the
``cursor`` parameter, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from pathfinder.api.validation import ValidationProblem

MAX_CURSOR_LENGTH = 512


def encode_cursor(values: Sequence[str]) -> str:
    """The cursor for a page ending at a row whose sort key is ``values``."""
    raw = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None, size: int) -> list[str] | None:
    """The sort key in ``cursor`` (``size`` strings), None for no cursor; 422 when invalid."""
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise invalid_cursor()
    return values


def invalid_cursor() -> ValidationProblem:
    """The 422 problem for a cursor this list did not hand out."""
    return ValidationProblem(
        "One or more query parameters are invalid.",
        errors=[{"field": "cursor", "message": "not a cursor returned by this list"}],
    )


def page(
    rows: list[dict[str, Any]], limit: int, key: Sequence[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the next cursor (None at the end).

    ``key`` names the sort-key columns; their values are turned into strings (dates as ISO).
    """
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    values = [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in (last[k] for k in key)]
    return rows, encode_cursor(values)
