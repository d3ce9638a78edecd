"""The admin and flag lists' cursors: sort keys of strings, integers or NULLs, on the shared
keyset pagination of :mod:`pathfinder.api.pagination`."""

from __future__ import annotations

from typing import Any

from pathfinder.api import pagination
from pathfinder.api.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageQuery,
    encode_cursor,
    invalid_cursor,
)
from pathfinder.api.pagination import split_page as page_of

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PageQuery",
    "decode_cursor",
    "encode_cursor",
    "invalid_cursor",
    "page_of",
]


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The parts of a cursor made by :func:`encode_cursor`; 422 when it is not one."""
    return pagination.decode_cursor(cursor, arity, kinds=(str, int), allow_none=True)
