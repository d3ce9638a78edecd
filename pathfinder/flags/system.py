"""System flags: platform switches every deployment has, seeded by ``pathfinder db init``.

They live in ``pf_feature_flags`` like any flag (``is_system`` true, never deletable), so
admins toggle them through the same API and audit trail as the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.ids import new_id
from pathfinder.schema.shared.flags import feature_flags


@dataclass(frozen=True)
class SystemFlag:
    key: str
    name: str
    description: str
    flag_type: str
    default: Any


SYSTEM_FLAGS = (
    SystemFlag(
        "self_registration_enabled",
        "Self-registration",
        "Anyone may create an account without an invitation.",
        "boolean",
        False,
    ),
    SystemFlag(
        "maintenance_mode",
        "Maintenance mode",
        "Every non-admin route answers 503 with Retry-After.",
        "boolean",
        False,
    ),
    SystemFlag(
        "mfa_required_for_admins",
        "MFA required for admins",
        "Admins and site admins must enrol TOTP before using admin routes.",
        "boolean",
        False,
    ),
)
SYSTEM_FLAG_KEYS = {flag.key: flag for flag in SYSTEM_FLAGS}


def seed_system_flags(conn: Connection) -> int:
    """Insert the system flags that are missing; returns how many were added."""
    existing = set(
        conn.execute(
            sa.select(feature_flags.c.flag_key).where(
                feature_flags.c.flag_key.in_(list(SYSTEM_FLAG_KEYS))
            )
        ).scalars()
    )
    now = datetime.now(UTC)
    added = 0
    for flag in SYSTEM_FLAGS:
        if flag.key in existing:
            continue
        conn.execute(
            feature_flags.insert().values(
                id=new_id(),
                flag_key=flag.key,
                name=flag.name,
                description=flag.description,
                flag_type=flag.flag_type,
                default_value=flag.default,
                rollout_percentage=0,
                is_system=True,
                enabled=True,
                category="system",
                created_at=now,
                updated_at=now,
            )
        )
        added += 1
    return added


def system_flag(conn: Connection, key: str) -> Any:
    """The current value of a system flag (its default when disabled or missing)."""
    spec = SYSTEM_FLAG_KEYS[key]
    row = conn.execute(
        sa.select(feature_flags.c.default_value, feature_flags.c.enabled).where(
            feature_flags.c.flag_key == key
        )
    ).first()
    if row is None or not row.enabled:
        return spec.default
    return row.default_value


def set_system_flag(conn: Connection, key: str, value: Any) -> None:
    """Set a system flag's value (admin API and tests); the caller audits the change."""
    if key not in SYSTEM_FLAG_KEYS:
        raise KeyError(key)
    conn.execute(
        feature_flags.update()
        .where(feature_flags.c.flag_key == key)
        .values(default_value=value, updated_at=datetime.now(UTC))
    )
