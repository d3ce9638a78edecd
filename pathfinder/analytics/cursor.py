"""The analytics lists' cursors: sort keys of strings, numbers or NULLs, on the shared keyset
pagination of :mod:`pathfinder.api.pagination`.

A cursor is not a secret and is not signed: it only names a position in the caller's own
rows, and every query that uses one is still limited to the caller's tables.
"""

from __future__ import annotations

from typing import Any

from pathfinder.api import pagination
from pathfinder.api.pagination import encode_cursor

__all__ = ["decode_cursor", "encode_cursor"]


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The key values of ``cursor``; a malformed one is a 422 on the ``cursor`` parameter."""
    return pagination.decode_cursor(cursor, arity, kinds=(str, int, float), allow_none=True)
