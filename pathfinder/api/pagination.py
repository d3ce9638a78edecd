"""Keyset pagination: bounded pages and opaque cursors, the one implementation.

A cursor is the sort key of the last row of a page as base64url JSON, so the next page
starts strictly after it with an indexed comparison: pages never skip or repeat rows when
others are inserted meanwhile (an OFFSET would) and cost the same at any depth. Clients treat
a cursor as opaque; one that does not decode to the shape a list expects is a 422 naming the
``cursor`` parameter, never a 500. Domains choose which value types their sort keys hold
(``kinds``), so a forged cursor cannot put a number where a date string is compared.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import Field, StringConstraints

from pathfinder.api.validation import RequestModel, Rule, ValidationProblem

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_CURSOR_LENGTH = 512
# base64url without padding: what encode_cursor writes.
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"

T = TypeVar("T")
CursorValue = str | int | float | None

# The format is in the schema; which cursors exist is not (a cursor names a position in
# one list, handed out by it), hence the rule.
Cursor = Annotated[
    str,
    StringConstraints(
        strip_whitespace=False, min_length=1, max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN
    ),
    Field(description="The `next_cursor` of the previous page of this list."),
]
CURSOR_RULE = Rule(
    "cursor",
    "must be a `next_cursor` this list returned; another list's cursor, or a made-up one, "
    "is refused",
)


class PageQuery(RequestModel):
    """``limit`` (1..100, default 50) and the ``cursor`` of the previous page."""

    rules = (CURSOR_RULE,)

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: Cursor | None = None


def encode_cursor(*values: CursorValue) -> str:
    """The cursor of a page ending at a row whose sort key is ``values``."""
    raw = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def invalid_cursor(message: str = "not a cursor returned by this list") -> ValidationProblem:
    """The 422 problem for a cursor this list did not hand out."""
    return ValidationProblem(
        "One or more query parameters are invalid.",
        errors=[{"field": "cursor", "message": message}],
    )


def decode_cursor(
    cursor: str,
    arity: int,
    *,
    kinds: tuple[type, ...] = (str,),
    allow_none: bool = False,
    allow_empty: bool = True,
) -> list[Any]:
    """The ``arity`` key values of ``cursor``; 422 when it is not a cursor of that shape."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor()
    for value in values:
        if value is None and allow_none:
            continue
        # bool is an int to isinstance, and never a sort key.
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise invalid_cursor()
        if not allow_empty and value == "":
            raise invalid_cursor()
    return values


def split_page(
    rows: Sequence[T], limit: int, key: Callable[[T], Sequence[CursorValue]]
) -> tuple[list[T], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the next page's cursor (or None)."""
    items = list(rows[:limit])
    if len(rows) > limit and items:
        return items, encode_cursor(*key(items[-1]))
    return items, None
