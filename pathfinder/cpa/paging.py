"""The CPA lists' paging: 20 items by default, string sort keys, on the shared keyset
pagination of :mod:`pathfinder.api.pagination`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pathfinder.api import pagination
from pathfinder.api.pagination import MAX_PAGE_SIZE, encode_cursor
from pathfinder.api.pagination import split_page as paginate

__all__ = ["CpaPageQuery", "decode_cursor", "encode_cursor", "page_body", "paginate"]

DEFAULT_LIMIT = 20


class CpaPageQuery(pagination.PageQuery):
    """``?limit=&cursor=`` of every CPA list (shorter default page: reports are long)."""

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_PAGE_SIZE)


def decode_cursor(cursor: str | None, arity: int) -> tuple[str, ...] | None:
    """The key values of ``cursor``, or None without one; 422 when it is not ours."""
    if cursor is None:
        return None
    return tuple(pagination.decode_cursor(cursor, arity, kinds=(str,)))


def page_body(items: list[Any], next_cursor: str | None, limit: int) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor, "limit": limit}
