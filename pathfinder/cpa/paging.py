"""Keyset pagination for the CPA lists: ``limit`` (1-100) and an opaque ``cursor``.

A cursor is the sort key of the last item of the previous page, base64url-encoded JSON, so
a page never skips or repeats rows when others are inserted meanwhile (an offset would).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import Field

from pathfinder.api.validation import RequestModel
from pathfinder.cpa.errors import invalid

T = TypeVar("T")
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


class PageQuery(RequestModel):
    """``?limit=&cursor=`` of every CPA list."""

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=400)


def encode_cursor(*values: str) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> tuple[str, ...] | None:
    """The key values of ``cursor``, or None without one; 422 when it is not ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != arity
        or not all(isinstance(v, str) for v in values)
    ):
        raise invalid("cursor", "not a cursor returned by this list")
    return tuple(values)


def paginate(
    rows: Sequence[T], limit: int, key: Callable[[T], tuple[str, ...]]
) -> tuple[list[T], str | None]:
    """The page (``rows`` fetched with ``limit + 1``) and the next cursor, if any."""
    page = list(rows[:limit])
    more = len(rows) > limit
    return page, (encode_cursor(*key(page[-1])) if more and page else None)


def page_body(items: list[Any], next_cursor: str | None, limit: int) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor, "limit": limit}
