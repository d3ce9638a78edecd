"""What identity needs from key management: a user's first data key, and sealing the TOTP
seed with it. Keeps the auth services speaking of intentions, not of cipher mechanics."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from pathfinder.security.fields import field_cipher
from pathfinder.security.keys import get_key_store


def create_first_key(conn: Connection, user_id: str) -> int:
    """Create the user's first data-encryption key in the caller's transaction."""
    return get_key_store().ensure_user_key(conn, user_id)


def seal_mfa_secret(conn: Connection, user_id: str, secret: str) -> str:
    """The TOTP seed as a field token bound to ``pf_users.mfa_secret`` of this user."""
    return field_cipher(conn).encrypt_value(
        secret, table="pf_users", column="mfa_secret", row_id=user_id, user_id=user_id
    )


def open_mfa_secret(conn: Connection, user_id: str, token: str) -> str:
    """The TOTP seed back from its token (raises if tampered with or shredded)."""
    return field_cipher(conn).decrypt_value(
        token, table="pf_users", column="mfa_secret", row_id=user_id, user_id=user_id
    )
