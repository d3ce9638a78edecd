"""Application-made identifiers.

Ids are 26-character ULIDs: sortable by creation time, made without a round trip, and the
same on every back-end (Oracle's SYS_GUID() is 32 hex characters and would not fit).
"""

from __future__ import annotations

from ulid import ULID

ID_LENGTH = 26


def new_id() -> str:
    """A new 26-character ULID string."""
    return str(ULID())
