"""The per-user daily chat message limit, read from the ``chat_daily_message_limit`` flag.

The flag is an ordinary (non-system) number flag in ``pf_feature_flags``, seeded by
``pathfinder db init`` through :func:`seed_chat_flags`. For now the limit is the flag's
default value; per-user and per-group overrides arrive with the feature-flag evaluator.
A missing, disabled or out-of-window flag, or a value that is not a whole number >= 0,
falls back to :data:`DEFAULT_DAILY_LIMIT`; 0 turns chat messages off.

Messages are counted per UTC day from the ``chat_message_sent`` analytics events written in
the same transaction as each user message (not from the messages themselves: deleting a
conversation must not hand back its quota).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.ids import new_id
from pathfinder.schema.shared.flags import feature_flags

DAILY_LIMIT_FLAG = "chat_daily_message_limit"
DEFAULT_DAILY_LIMIT = 50
MAX_DAILY_LIMIT = 1_000_000


def seed_chat_flags(conn: Connection) -> int:
    """Insert the chat flags that are missing (never touching existing ones); returns count."""
    exists = conn.execute(
        sa.select(feature_flags.c.id).where(feature_flags.c.flag_key == DAILY_LIMIT_FLAG)
    ).first()
    if exists is not None:
        return 0
    now = datetime.now(UTC)
    conn.execute(
        feature_flags.insert().values(
            id=new_id(),
            flag_key=DAILY_LIMIT_FLAG,
            name="Chat messages per day",
            description=(
                "How many messages a user may send to the assistant per UTC day (0 turns chat off)."
            ),
            flag_type="number",
            default_value=DEFAULT_DAILY_LIMIT,
            allowed_values=None,
            # A number flag has no rollout: everyone gets its value.
            rollout_percentage=100,
            is_system=False,
            enabled=True,
            category="chat",
            created_at=now,
            updated_at=now,
        )
    )
    return 1


def _valid_limit(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        return None
    return number if 0 <= number <= MAX_DAILY_LIMIT else None


def daily_message_limit(conn: Connection, now: datetime | None = None) -> int:
    """The number of chat messages a user may send per UTC day (see the module docstring)."""
    now = now or datetime.now(UTC)
    row = conn.execute(
        sa.select(
            feature_flags.c.default_value,
            feature_flags.c.enabled,
            feature_flags.c.active_from,
            feature_flags.c.active_until,
        ).where(feature_flags.c.flag_key == DAILY_LIMIT_FLAG)
    ).first()
    if row is None or not row.enabled:
        return DEFAULT_DAILY_LIMIT
    if (row.active_from is not None and now < row.active_from) or (
        row.active_until is not None and now >= row.active_until
    ):
        return DEFAULT_DAILY_LIMIT
    limit = _valid_limit(row.default_value)
    return DEFAULT_DAILY_LIMIT if limit is None else limit


def utc_day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def seconds_until_next_day(now: datetime) -> int:
    """Seconds until the next UTC midnight, at least 1 (a ``Retry-After`` value)."""
    return max(1, int((utc_day_start(now) + timedelta(days=1) - now).total_seconds()))
