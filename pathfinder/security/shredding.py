"""Crypto-shredding: destroy a user's data keys so their ciphertext can never be read again.

This is the last step of final account deletion. Rows can linger where deletion cannot
reach them (backups, replicas, a table the deletion missed); once the wrapped data keys are
erased, every token they sealed is noise, wherever it is. The ``pf_encryption_keys`` rows
stay, with ``status = 'destroyed'``, ``key_encrypted`` NULL and ``destroyed_at`` set (the
table's CHECK "shred" enforces the three together), as the record that the keys existed
and when they were destroyed. Decrypting afterwards raises
:class:`~pathfinder.security.keys.KeyDestroyed`, never anything that looks like data.

Caches: this process's caches are emptied at once. Other processes stop using a destroyed
key when their cached copy expires (``DEK_CACHE_TTL_SECONDS``, default 300 s); the deletion
job runs after the account is already locked out, so nothing asks for it meanwhile.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.db.database import Database
from pathfinder.schema.shared.security import encryption_keys
from pathfinder.security.keys import (
    EVENT_KEY_DESTROYED,
    STATUS_DESTROYED,
    AuditHook,
    KeyDestroyed,
    forget_user_keys,
    utcnow,
)

__all__ = ["KeyDestroyed", "destroy_user_keys", "shred_user_keys", "user_keys_destroyed"]


def shred_user_keys(conn: Connection, user_id: str) -> int:
    """Erase every data key of ``user_id`` inside the caller's transaction; returns how many.

    For the account-deletion service, so the shredding commits with its audit row. Safe to
    repeat (already destroyed versions are left as they are). Evicts this process's cached
    copies immediately; :func:`destroy_user_keys` evicts again after its commit.
    """
    k = encryption_keys.c
    result = conn.execute(
        encryption_keys.update()
        .where(k.user_id == user_id, k.status != STATUS_DESTROYED)
        .values(status=STATUS_DESTROYED, key_encrypted=None, key_salt=None, destroyed_at=utcnow())
    )
    forget_user_keys(user_id)
    return int(result.rowcount or 0)


def destroy_user_keys(db: Database, user_id: str, *, audit: AuditHook | None = None) -> int:
    """Destroy every data key of ``user_id`` in a transaction of its own; returns how many.

    After it returns, every value sealed for that user is permanently unreadable. This is
    irreversible: call it only as the final step of account deletion. ``audit`` records it
    in the same transaction.
    """
    with db.transaction() as conn:
        destroyed = shred_user_keys(conn, user_id)
        if audit is not None and destroyed:
            audit(conn, EVENT_KEY_DESTROYED, user_id, {"versions_destroyed": destroyed})
    # A reader that loaded the key between the UPDATE and the COMMIT may have cached it.
    forget_user_keys(user_id)
    return destroyed


def user_keys_destroyed(conn: Connection, user_id: str) -> bool:
    """Whether ``user_id`` has key rows and all of them are destroyed (deletion's check)."""
    k = encryption_keys.c
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((k.status == STATUS_DESTROYED, 1), else_=0)),
        ).where(k.user_id == user_id)
    ).one()
    total, destroyed = int(row[0]), int(row[1] or 0)
    return total > 0 and total == destroyed
