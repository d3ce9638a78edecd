"""Keyset pagination for the admin and flag lists: bounded pages and opaque cursors.

A cursor is the sort key of the last row of a page, as base64url JSON, so the next page
starts strictly after it with an indexed comparison instead of an OFFSET that grows with
the page number. Clients treat it as opaque; a tampered cursor is a 422, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import Field

from pathfinder.api.validation import RequestModel, ValidationProblem

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50

T = TypeVar("T")


class PageQuery(RequestModel):
    """``limit`` (1..100, default 50) and the ``cursor`` of the previous page."""

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=500)


def encode_cursor(*parts: str | int | None) -> str:
    """An opaque cursor holding ``parts`` (the sort key of a page's last row)."""
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The parts of a cursor made by :func:`encode_cursor`; 422 when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != arity
        or not all(isinstance(p, str | int) or p is None for p in parts)
    ):
        raise invalid_cursor()
    return parts


def invalid_cursor() -> ValidationProblem:
    """The 422 for a cursor this API did not make."""
    return ValidationProblem(
        "One or more query parameters are invalid.",
        errors=[{"field": "cursor", "message": "not a cursor returned by this list"}],
    )


def page_of(
    rows: Sequence[T], limit: int, key: Callable[[T], Sequence[str | int | None]]
) -> tuple[list[T], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the next page's cursor."""
    items = list(rows[:limit])
    if len(rows) > limit and items:
        return items, encode_cursor(*key(items[-1]))
    return items, None
