"""The audit hook key operations take: one ``pf_audit_log`` row in the key change's own
transaction (``crypt_key_rotated``, ``crypt_key_destroyed``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection


def record_key_audit(
    conn: Connection, event: str, user_id: str | None, details: dict[str, Any]
) -> None:
    """Record a key change for ``user_id`` (None: the master key itself)."""
    from pathfinder import audit

    audit.record(
        conn,
        event,
        target_type="user" if user_id else "kek",
        target_id=user_id,
        details=details,
    )
