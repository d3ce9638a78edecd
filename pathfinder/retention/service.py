"""Reading and changing retention policies, and running them on demand.

A change is checked against what the policy's table allows (``TARGETS`` in
:mod:`pathfinder.jobs.retention`): the audit log is archived only, since deleting a sealed
row is what ``audit verify`` reports; sessions and events are deleted. Every change is one
``sys_config_changed`` audit row per policy, with the values before and after, in the
transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.db import Database
from pathfinder.jobs.retention import TARGETS
from pathfinder.retention.schemas import RetentionPoliciesUpdate
from pathfinder.schema.shared.reference import data_retention_policies

_CHANGEABLE = ("retention_days", "action", "is_active")


def serialise_policy(row: Mapping[str, Any]) -> dict[str, Any]:
    target = TARGETS.get(row["table_pattern"])
    return {
        "policy_key": row["policy_key"],
        "table": row["table_pattern"],
        "age_column": row["age_column"],
        "retention_days": int(row["retention_days"]),
        "action": row["action"],
        "allowed_actions": list(target.actions) if target else [],
        "archive_table": row["archive_table"],
        "is_active": bool(row["is_active"]),
        "last_run": row["last_run"].isoformat() if row["last_run"] else None,
        "updated_at": row["updated_at"].isoformat(),
    }


def _rows(conn: Connection, *, for_update: bool = False) -> list[sa.RowMapping]:
    query = sa.select(data_retention_policies).order_by(data_retention_policies.c.policy_key)
    if for_update:
        query = query.with_for_update()
    return list(conn.execute(query).mappings())


def list_policies(db: Database) -> dict[str, Any]:
    """Every retention policy, by key."""
    with db.transaction() as conn:
        return {"items": [serialise_policy(r) for r in _rows(conn)]}


def _problem(index: int, field: str, message: str) -> ValidationProblem:
    return ValidationProblem(
        "One or more retention policies cannot be changed that way.",
        errors=[{"field": f"policies.{index}.{field}", "message": message}],
    )


def _check(index: int, row: Mapping[str, Any] | None, change: Mapping[str, Any]) -> None:
    if row is None:
        raise _problem(index, "policy_key", "no retention policy has this key")
    action = change.get("action")
    target = TARGETS.get(row["table_pattern"])
    if action is not None and (target is None or action not in target.actions):
        allowed = ", ".join(target.actions) if target else "none"
        raise _problem(
            index, "action", f"{row['table_pattern']} accepts only these actions: {allowed}"
        )
    if action not in (None, "delete") and row["archive_table"] is None:
        raise _problem(index, "action", "this policy has no archive table to archive into")


def update_policies(
    db: Database, actor: Principal | Mapping[str, Any], body: RetentionPoliciesUpdate
) -> dict[str, Any]:
    """Apply every change of ``body`` or none (a refused one is a 422 naming its field)."""
    now = datetime.now(UTC)
    with db.transaction() as conn:
        by_key = {r["policy_key"]: r for r in _rows(conn, for_update=True)}
        keys = [c.policy_key for c in body.policies]
        for index, key in enumerate(keys):
            if key in keys[:index]:
                raise _problem(index, "policy_key", "this policy is listed twice")
        changes = [c.model_dump(include=set(_CHANGEABLE), exclude_none=True) for c in body.policies]
        for index, (key, change) in enumerate(zip(keys, changes, strict=True)):
            _check(index, by_key.get(key), change)
        for key, change in zip(keys, changes, strict=True):
            row = by_key[key]
            before = {name: row[name] for name in change}
            if before == change:
                continue
            conn.execute(
                data_retention_policies.update()
                .where(data_retention_policies.c.id == row["id"])
                .values(**change, updated_at=now)
            )
            audit.record(
                conn,
                "sys_config_changed",
                actor=actor,
                target_type="retention_policy",
                target_id=row["id"],
                target_display=key,
                details={"setting": "retention_policy", "before": before, "after": change},
            )
        return {"items": [serialise_policy(r) for r in _rows(conn)]}
