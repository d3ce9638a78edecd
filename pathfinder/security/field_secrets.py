"""What identity needs from key management: a user's first data key, and sealing the TOTP
seed with it. Keeps the auth services speaking of intentions, not of cipher mechanics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder.security.fields import field_cipher
from pathfinder.security.keys import get_key_store


def create_first_key(conn: Connection, user_id: str) -> int:
    """Create the user's first data-encryption key in the caller's transaction."""
    return get_key_store().ensure_user_key(conn, user_id)


def reseal_user(
    conn: Connection, stored: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``pf_users`` values that apply ``changes`` (plain text; None clears a field).

    The row moves to its next ``row_version`` and all its encrypted fields are sealed at it,
    so an older ciphertext (an earlier TOTP seed, a former phone number) restored into the
    row no longer opens. ``stored`` is the row as read, locked by the caller
    (``get_user_for_update``) so no other writer moves it in between.
    """
    user_id = str(stored["id"])
    return field_cipher(conn).reseal("pf_users", stored, changes, user_id=user_id)


def open_mfa_secret(conn: Connection, user: Mapping[str, Any]) -> str:
    """The TOTP seed of ``user`` (its stored row) from its token; raises if it does not open."""
    user_id = str(user["id"])
    cell = {"id": user_id, "mfa_secret": user["mfa_secret"], "row_version": user["row_version"]}
    # Through open_row, so a seed that does not open is reported (and audited) as well.
    opened = field_cipher(conn).open_row("pf_users", cell, user_id=user_id)
    return str(opened["mfa_secret"])
