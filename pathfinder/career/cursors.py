"""The career lists' cursors: string sort keys (dates as ISO text, ids), on the shared
keyset pagination of :mod:`pathfinder.api.pagination`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pathfinder.api import pagination
from pathfinder.api.pagination import invalid_cursor

__all__ = ["decode_cursor", "encode_cursor", "invalid_cursor", "page"]


def encode_cursor(values: Sequence[str]) -> str:
    """The cursor for a page ending at a row whose sort key is ``values``."""
    return pagination.encode_cursor(*values)


def decode_cursor(cursor: str | None, size: int) -> list[str] | None:
    """The sort key in ``cursor`` (``size`` non-empty strings), None for no cursor."""
    if not cursor:
        return None
    return pagination.decode_cursor(cursor, size, kinds=(str,), allow_empty=False)


def _as_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def page(
    rows: list[dict[str, Any]], limit: int, key: Sequence[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the next cursor (None at the end).

    ``key`` names the sort-key columns; their values are turned into strings (dates as ISO).
    """
    return pagination.split_page(rows, limit, lambda row: [_as_text(row[k]) for k in key])
