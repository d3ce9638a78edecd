"""The audit hook key operations take: one ``pf_audit_log`` row in the key change's own
transaction (``crypt_key_rotated``, ``crypt_key_destroyed``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection


def record_key_audit(
    conn: Connection,
    event: str,
    user_id: str | None,
    details: dict[str, Any],
    *,
    actor: Mapping[str, Any] | None = None,
) -> None:
    """Record a key change for ``user_id`` (None: the master key itself).

    ``actor`` is who caused it when known (a DBA command passes the operator); None for the
    scheduler, which acts for nobody.
    """
    from pathfinder import audit

    audit.record(
        conn,
        event,
        actor=actor,
        target_type="user" if user_id else "kek",
        target_id=user_id,
        details=details,
    )
