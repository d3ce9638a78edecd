"""The scheduler lease: one leader across machines, renewed while alive, taken when expired.

Acquire and renew are one conditional UPDATE each (``WHERE holder = me OR expires_at < now``),
so the database decides who leads; no process trusts its own clock against another's beyond
the lease length.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.schema.shared.jobs import scheduler_leases

LEASE_KEY = "scheduler"


def try_acquire(db: Database, holder: str, ttl: timedelta, *, key: str = LEASE_KEY) -> bool:
    """Take or renew the lease for ``ttl``; True when ``holder`` leads afterwards."""
    now = datetime.now(UTC)
    with db.transaction() as conn:
        row = conn.execute(
            sa.select(scheduler_leases.c.lease_key).where(scheduler_leases.c.lease_key == key)
        ).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        scheduler_leases.insert().values(
                            lease_key=key, holder=holder, acquired_at=now, expires_at=now + ttl
                        )
                    )
                return True
            except sa.exc.IntegrityError:
                return False
        renewed = conn.execute(
            scheduler_leases.update()
            .where(
                scheduler_leases.c.lease_key == key,
                sa.or_(
                    scheduler_leases.c.holder == holder,
                    scheduler_leases.c.holder.is_(None),
                    scheduler_leases.c.expires_at < now,
                ),
            )
            .values(
                holder=holder,
                expires_at=now + ttl,
                acquired_at=sa.case(
                    (scheduler_leases.c.holder == holder, scheduler_leases.c.acquired_at),
                    else_=now,
                ),
            )
        )
        return renewed.rowcount == 1


def release(db: Database, holder: str, *, key: str = LEASE_KEY) -> None:
    """Give the lease up (clean shutdown) so a standby takes over at once."""
    with db.transaction() as conn:
        conn.execute(
            scheduler_leases.update()
            .where(scheduler_leases.c.lease_key == key, scheduler_leases.c.holder == holder)
            .values(holder=None, expires_at=None)
        )


def current_holder(db: Database, *, key: str = LEASE_KEY) -> tuple[str | None, datetime | None]:
    with db.transaction() as conn:
        row = conn.execute(
            sa.select(scheduler_leases.c.holder, scheduler_leases.c.expires_at).where(
                scheduler_leases.c.lease_key == key
            )
        ).first()
    return (row.holder, row.expires_at) if row else (None, None)
