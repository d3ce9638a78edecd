"""Follow an engine's connection pool: checked-out connections and overflow, as gauges."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pathfinder.metrics.instruments import POOL_CHECKED_OUT, POOL_OVERFLOW


def watch_pool(engine: sa.Engine) -> None:
    """Update the pool gauges on every checkout and checkin of ``engine``'s pool.

    Set from the pool's own counts (not incremented), so a missed event cannot make them
    drift. Pools without a size (SQLite's NullPool/StaticPool) report what they know.
    """
    pool = engine.pool

    def _update(*_args: Any) -> None:
        checked_out = getattr(pool, "checkedout", None)
        overflow = getattr(pool, "overflow", None)
        if checked_out is not None:
            POOL_CHECKED_OUT.set(checked_out())
        if overflow is not None:
            POOL_OVERFLOW.set(overflow())

    sa.event.listen(pool, "checkout", _update)
    sa.event.listen(pool, "checkin", _update)
