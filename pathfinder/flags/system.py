"""System flags: platform switches every deployment has, seeded by ``pathfinder db init``.

They live in ``pf_feature_flags`` like any flag (``is_system`` true, never deletable), so
admins toggle them through the same API and audit trail as the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pathfinder.flags.evaluator import (
    evaluator_for_connection,
    evaluator_for_engine,
    invalidate_on_commit,
)
from pathfinder.ids import new_id
from pathfinder.schema.shared.flags import feature_flags


@dataclass(frozen=True)
class SystemFlag:
    key: str
    name: str
    description: str
    flag_type: str
    default: Any
    # Changing it can weaken a security control: only a site admin may.
    guards_security: bool = False


SYSTEM_FLAGS = (
    SystemFlag(
        "self_registration_enabled",
        "Self-registration",
        "Anyone may create an account without an invitation.",
        "boolean",
        False,
        guards_security=True,
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
        guards_security=True,
    ),
)
SYSTEM_FLAG_KEYS = {flag.key: flag for flag in SYSTEM_FLAGS}
SECURITY_FLAG_KEYS = frozenset(flag.key for flag in SYSTEM_FLAGS if flag.guards_security)


# Defaults a production deployment starts with instead (a new flag row only; a value an
# operator has set is never changed by seeding).
PRODUCTION_DEFAULTS = {"mfa_required_for_admins": True}


def seed_system_flags(conn: Connection, *, production: bool = False) -> int:
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
                default_value=PRODUCTION_DEFAULTS.get(flag.key, flag.default)
                if production
                else flag.default,
                rollout_percentage=0,
                is_system=True,
                enabled=True,
                category="system",
                created_at=now,
                updated_at=now,
            )
        )
        added += 1
    if added:
        invalidate_on_commit(conn)
    return added


def system_flag(conn: Connection, key: str) -> Any:
    """The current value of a system flag (its built-in default when disabled or missing).

    Read through the flag evaluator's per-process cache, so callers on hot paths (the auth
    guard, registration, the maintenance check) cost no query while the cache is warm; a
    change made through this package is seen at once in this process and within
    ``FLAG_CACHE_SECONDS`` in others. System flags are platform-wide: no user or group
    overrides apply to them.
    """
    spec = SYSTEM_FLAG_KEYS[key]
    evaluation = evaluator_for_connection(conn).one(key)
    if evaluation is None or evaluation.reason == "disabled":
        return spec.default
    return evaluation.value


def system_flag_from_engine(engine: Engine, key: str) -> Any:
    """:func:`system_flag` without a connection: one is opened only when the cache is cold."""
    spec = SYSTEM_FLAG_KEYS[key]
    evaluation = evaluator_for_engine(engine).one(key)
    if evaluation is None or evaluation.reason == "disabled":
        return spec.default
    return evaluation.value


def set_system_flag(conn: Connection, key: str, value: Any) -> None:
    """Set a system flag's value (CLI, admin API, tests); the caller audits the change.

    The evaluator cache of this process is invalidated when the transaction ends.
    """
    if key not in SYSTEM_FLAG_KEYS:
        raise KeyError(key)
    conn.execute(
        feature_flags.update()
        .where(feature_flags.c.flag_key == key)
        .values(default_value=value, updated_at=datetime.now(UTC))
    )
    invalidate_on_commit(conn)
