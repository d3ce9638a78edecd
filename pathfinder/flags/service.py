"""Feature-flag rules: typed values, overrides for one user or one group, audited changes.

Every change is written with an ``sys_config_changed`` audit row carrying the old and the
new value, in the same transaction, and invalidates this process's evaluator cache when it
commits (other processes follow within ``FLAG_CACHE_SECONDS``). System flags
(``is_system``) are platform switches: they cannot be deleted, switched off, rolled out
or overridden per user or group; only their value, name and description change.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder import audit
from pathfinder.admin.paging import decode_cursor, page_of
from pathfinder.api.errors import Conflict, Forbidden, NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.db import Database, get_database
from pathfinder.flags import repo
from pathfinder.flags.evaluator import evaluator_for_engine, invalidate_on_commit
from pathfinder.flags.schemas import (
    FlagCreate,
    FlagListQuery,
    FlagUpdate,
    OverrideCreate,
    OverrideListQuery,
    OverrideUpdate,
)
from pathfinder.flags.system import SECURITY_FLAG_KEYS
from pathfinder.ids import new_id

MAX_VALUE_BYTES = 16_384
MAX_STRING_LENGTH = 1000
# Fields of a system flag an admin may change.
SYSTEM_FLAG_EDITABLE = frozenset({"name", "description", "default_value"})


class SystemFlagProblem(Conflict):
    slug = "system-flag"
    title = "System flags cannot be changed this way"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def invalid(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(
        "One or more fields are invalid.", errors=[{"field": field, "message": message}]
    )


# -- typed values -------------------------------------------------------------------------


def value_problem(flag_type: str, allowed: list[Any] | None, value: Any) -> str | None:
    """Why ``value`` cannot be a value of this flag, or None when it can."""
    if value is None:
        return "must not be null"
    if flag_type == "boolean" and not isinstance(value, bool):
        return "must be true or false (a boolean flag)"
    if flag_type == "string":
        if not isinstance(value, str):
            return "must be a string (a string flag)"
        if len(value) > MAX_STRING_LENGTH:
            return f"must be at most {MAX_STRING_LENGTH} characters"
    if flag_type == "number" and (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        return "must be a finite number (a number flag)"
    if len(json.dumps(value)) > MAX_VALUE_BYTES:
        return f"must be at most {MAX_VALUE_BYTES} bytes of JSON"
    if allowed is not None and not any(_same(value, a) for a in allowed):
        return "must be one of the flag's allowed_values"
    return None


def _same(a: Any, b: Any) -> bool:
    """JSON equality (``True`` is not ``1``)."""
    return (
        type(a) is type(b)
        and a == b
        or (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and not isinstance(a, bool)
            and not isinstance(b, bool)
            and a == b
        )
    )


def check_allowed_values(flag_type: str, allowed: list[Any] | None) -> None:
    """Allowed values are for string and number flags, each of the type, no repeats."""
    if allowed is None:
        return
    if flag_type not in ("string", "number"):
        raise invalid("allowed_values", "only string and number flags take allowed_values")
    for index, item in enumerate(allowed):
        problem = value_problem(flag_type, None, item)
        if problem:
            raise invalid(f"allowed_values.{index}", problem)
        if any(_same(item, earlier) for earlier in allowed[:index]):
            raise invalid(f"allowed_values.{index}", "is repeated")


def check_value(flag: RowMapping | dict[str, Any], value: Any, field: str) -> None:
    problem = value_problem(flag["flag_type"], flag["allowed_values"], value)
    if problem:
        raise invalid(field, problem)


def check_rollout(flag_type: str, percentage: int) -> None:
    if percentage and flag_type != "boolean":
        raise invalid("rollout_percentage", "only boolean flags can be rolled out by percentage")


# -- serialising --------------------------------------------------------------------------


def flag_json(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "flag_key": row["flag_key"],
        "name": row["name"],
        "description": row["description"],
        "flag_type": row["flag_type"],
        "default_value": row["default_value"],
        "allowed_values": row["allowed_values"],
        "rollout_percentage": row["rollout_percentage"],
        "enabled": bool(row["enabled"]),
        "is_system": bool(row["is_system"]),
        "category": row["category"],
        "active_from": _iso(row["active_from"]),
        "active_until": _iso(row["active_until"]),
        "created_by": row["created_by"],
        "updated_by": row["updated_by"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def override_json(row: RowMapping | dict[str, Any], flag_key: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "flag_key": flag_key,
        "user_id": row["user_id"],
        "group_id": row["group_id"],
        "value": row["value"],
        "reason": row["reason"],
        "expires_at": _iso(row["expires_at"]),
        "created_by": row["created_by"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def _audit(
    conn: Connection,
    actor: Principal | None,
    flag: RowMapping | dict[str, Any],
    change: str,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    via: str | None = None,
) -> None:
    details: dict[str, Any] = {"flag": flag["flag_key"], "change": change}
    if old is not None:
        details["old"] = old
    if new is not None:
        details["new"] = new
    if via is not None:
        details["via"] = via
    audit.record(
        conn,
        "sys_config_changed",
        actor=actor,
        target_type="feature_flag",
        target_id=flag["id"],
        details=details,
    )
    invalidate_on_commit(conn)


def _flag_or_404(conn: Connection, key: str, *, lock: bool = False) -> RowMapping:
    flag = repo.get_flag(conn, key, lock=lock)
    if flag is None:
        raise NotFound("No such feature flag.")
    return flag


# -- reading ------------------------------------------------------------------------------


def my_flags(principal: Principal) -> dict[str, Any]:
    """Every flag's value for the caller, with the reason it has that value."""
    evaluations = evaluator_for_engine(get_database().engine).all(principal.user_id)
    return {"flags": {e.key: e.as_json() for e in evaluations}}


def list_flags(query: FlagListQuery) -> dict[str, Any]:
    after = decode_cursor(query.cursor, 1)[0] if query.cursor else None
    with get_database().transaction() as conn:
        rows = repo.list_flags(conn, category=query.category, after=after, limit=query.limit + 1)
    items, cursor = page_of(rows, query.limit, lambda r: [r["flag_key"]])
    return {"items": [flag_json(r) for r in items], "next_cursor": cursor}


def explain(key: str, user_id: str) -> dict[str, Any]:
    """One flag's value for one user and the evaluator's reason: exactly what that user's
    ``GET /me/flags`` shows for it (``user_override``, ``group_override``, ``rollout``...)."""
    with get_database().transaction() as conn:
        _flag_or_404(conn, key)
    evaluation = evaluator_for_engine(get_database().engine).one(key, user_id)
    if evaluation is None:
        raise NotFound("No such flag.")
    return {"flag_key": key, "user_id": user_id, **evaluation.as_json()}


def get_flag(key: str) -> dict[str, Any]:
    with get_database().transaction() as conn:
        return flag_json(_flag_or_404(conn, key))


# -- flags --------------------------------------------------------------------------------


def create_flag(actor: Principal, body: FlagCreate) -> dict[str, Any]:
    """Create a (non-system) flag; 409 when the key is taken."""
    check_allowed_values(body.flag_type, body.allowed_values)
    check_value(
        {"flag_type": body.flag_type, "allowed_values": body.allowed_values},
        body.default_value,
        "default_value",
    )
    check_rollout(body.flag_type, body.rollout_percentage)
    now = utcnow()
    values = {
        "id": new_id(),
        "flag_key": body.flag_key,
        "name": body.name,
        "description": body.description,
        "flag_type": body.flag_type,
        "default_value": body.default_value,
        "allowed_values": body.allowed_values,
        "rollout_percentage": body.rollout_percentage,
        "is_system": False,
        "enabled": body.enabled,
        "category": body.category,
        "active_from": _utc(body.active_from),
        "active_until": _utc(body.active_until),
        "created_by": actor.user_id,
        "updated_by": actor.user_id,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with get_database().transaction() as conn:
            if repo.get_flag(conn, body.flag_key) is not None:
                raise Conflict(f"A flag with the key {body.flag_key!r} already exists.")
            repo.insert_flag(conn, values)
            created = flag_json(values)
            _audit(conn, actor, values, "created", new=_audited(created))
    except sa.exc.IntegrityError as exc:  # a concurrent create of the same key
        raise Conflict(f"A flag with the key {body.flag_key!r} already exists.") from exc
    return created


_AUDITED_FIELDS = (
    "name",
    "description",
    "default_value",
    "allowed_values",
    "rollout_percentage",
    "enabled",
    "category",
    "active_from",
    "active_until",
)


def _audited(flag: dict[str, Any]) -> dict[str, Any]:
    return {k: flag[k] for k in _AUDITED_FIELDS}


def update_flag(actor: Principal, key: str, body: FlagUpdate) -> dict[str, Any]:
    """Change the fields present in ``body``; the audit row holds old and new values."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    with get_database().transaction() as conn:
        flag = _flag_or_404(conn, key, lock=True)
        if key in SECURITY_FLAG_KEYS and actor.role != "site_admin":
            # Opening registration or dropping admin MFA switches a control off: an admin
            # account taken over must not be able to do it.
            raise Forbidden("Only a site admin may change a flag that guards a security control.")
        if flag["is_system"]:
            refused = sorted(set(changes) - SYSTEM_FLAG_EDITABLE)
            if refused:
                raise ValidationProblem(
                    "System flags only take a new value, name or description.",
                    errors=[
                        {"field": f, "message": "cannot be changed on a system flag"}
                        for f in refused
                    ],
                )
        merged = {**dict(flag), **changes}
        for name in ("active_from", "active_until"):
            merged[name] = _utc(merged[name])
        if "allowed_values" in changes:
            check_allowed_values(flag["flag_type"], merged["allowed_values"])
        if "default_value" in changes or "allowed_values" in changes:
            check_value(merged, merged["default_value"], "default_value")
        if "rollout_percentage" in changes:
            check_rollout(flag["flag_type"], merged["rollout_percentage"])
        start, end = merged["active_from"], merged["active_until"]
        if start is not None and end is not None and end <= start:
            raise invalid("active_until", "must be after active_from")
        if "allowed_values" in changes and merged["allowed_values"] is not None:
            stale = [
                o["id"]
                for o in repo.overrides_of_flag(conn, flag["id"])
                if value_problem(flag["flag_type"], merged["allowed_values"], o["value"])
            ]
            if stale:
                raise Conflict(
                    "Some overrides use values the new allowed_values exclude; change or "
                    "delete them first.",
                    override_ids=stale[:100],
                )
        values = {name: merged[name] for name in changes}
        before = _audited(flag_json(flag))
        if values:
            repo.update_flag(
                conn, flag["id"], **values, updated_by=actor.user_id, updated_at=utcnow()
            )
        updated = repo.get_flag(conn, key)
        assert updated is not None  # noqa: S101 - locked above
        after = _audited(flag_json(updated))
        diff = [k for k in _AUDITED_FIELDS if before[k] != after[k]]
        if diff:
            _audit(
                conn,
                actor,
                flag,
                "updated",
                old={k: before[k] for k in diff},
                new={k: after[k] for k in diff},
            )
    return flag_json(updated)


def delete_flag(actor: Principal, key: str) -> None:
    """Delete a flag and its overrides; system flags are refused (409)."""
    with get_database().transaction() as conn:
        flag = _flag_or_404(conn, key, lock=True)
        if flag["is_system"]:
            raise SystemFlagProblem("System flags cannot be deleted.")
        repo.delete_flag(conn, flag["id"])
        _audit(conn, actor, flag, "deleted", old=_audited(flag_json(flag)))


def set_default_value(db: Database, key: str, value: Any, *, via: str) -> dict[str, Any]:
    """Set a flag's value outside a request (the operators' CLI); audited without an actor."""
    with db.transaction() as conn:
        flag = _flag_or_404(conn, key, lock=True)
        check_value(flag, value, "value")
        old = flag["default_value"]
        repo.update_flag(conn, flag["id"], default_value=value, updated_at=utcnow())
        _audit(
            conn,
            None,
            flag,
            "updated",
            old={"default_value": old},
            new={"default_value": value},
            via=via,
        )
        updated = repo.get_flag(conn, key)
    assert updated is not None  # noqa: S101 - locked above
    return flag_json(updated)


# -- overrides ----------------------------------------------------------------------------


def list_overrides(key: str, query: OverrideListQuery) -> dict[str, Any]:
    after = decode_cursor(query.cursor, 1)[0] if query.cursor else None
    with get_database().transaction() as conn:
        flag = _flag_or_404(conn, key)
        rows = repo.list_overrides(
            conn, flag["id"], target=query.target, after=after, limit=query.limit + 1
        )
    items, cursor = page_of(rows, query.limit, lambda r: [r["id"]])
    return {"items": [override_json(r, key) for r in items], "next_cursor": cursor}


def _override_audit(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    return {"value": row["value"], "reason": row["reason"], "expires_at": _iso(row["expires_at"])}


def create_override(actor: Principal, key: str, body: OverrideCreate) -> dict[str, Any]:
    """Override a flag for one user or one group (409 if that target already has one)."""
    now = utcnow()
    expires_at = _utc(body.expires_at)
    if expires_at is not None and expires_at <= now:
        raise invalid("expires_at", "must be in the future")
    try:
        with get_database().transaction() as conn:
            flag = _flag_or_404(conn, key)
            if flag["is_system"]:
                raise SystemFlagProblem("System flags apply to everyone; they take no overrides.")
            if body.user_id is not None and not repo.live_user_exists(conn, body.user_id):
                raise invalid("user_id", "no such user")
            if body.group_id is not None and not repo.group_exists(conn, body.group_id):
                raise invalid("group_id", "no such group")
            check_value(flag, body.value, "value")
            if repo.find_override(conn, flag["id"], user_id=body.user_id, group_id=body.group_id):
                raise Conflict("This target already has an override of this flag; change it.")
            values = {
                "id": new_id(),
                "flag_id": flag["id"],
                "user_id": body.user_id,
                "group_id": body.group_id,
                "value": body.value,
                "reason": body.reason,
                "created_by": actor.user_id,
                "expires_at": expires_at,
                "created_at": now,
                "updated_at": now,
            }
            repo.insert_override(conn, values)
            target = {"user_id": body.user_id} if body.user_id else {"group_id": body.group_id}
            _audit(
                conn,
                actor,
                flag,
                "override_created",
                new={"override": values["id"], **target, **_override_audit(values)},
            )
    except sa.exc.IntegrityError as exc:  # a concurrent create for the same target
        raise Conflict("This target already has an override of this flag; change it.") from exc
    return override_json(values, key)


def get_override(key: str, override_id: str) -> dict[str, Any]:
    """One override of a flag."""
    with get_database().transaction() as conn:
        flag = _flag_or_404(conn, key)
        row = repo.get_override(conn, flag["id"], override_id)
    if row is None:
        raise NotFound("No such override.")
    return override_json(row, key)


def update_override(
    actor: Principal, key: str, override_id: str, body: OverrideUpdate
) -> dict[str, Any]:
    """Change an override's value, reason or expiry."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "expires_at" in changes:
        changes["expires_at"] = _utc(changes["expires_at"])
        if changes["expires_at"] is not None and changes["expires_at"] <= utcnow():
            raise invalid("expires_at", "must be in the future")
    with get_database().transaction() as conn:
        flag = _flag_or_404(conn, key)
        row = repo.get_override(conn, flag["id"], override_id)
        if row is None:
            raise NotFound("No such override.")
        if "value" in changes:
            check_value(flag, changes["value"], "value")
        if changes:
            repo.update_override(conn, override_id, **changes, updated_at=utcnow())
        updated = repo.get_override(conn, flag["id"], override_id)
        assert updated is not None  # noqa: S101 - read above in this transaction
        if changes:
            _audit(
                conn,
                actor,
                flag,
                "override_updated",
                old={"override": override_id, **_override_audit(row)},
                new={"override": override_id, **_override_audit(updated)},
            )
    return override_json(updated, key)


def delete_override(actor: Principal, key: str, override_id: str) -> None:
    with get_database().transaction() as conn:
        flag = _flag_or_404(conn, key)
        row = repo.get_override(conn, flag["id"], override_id)
        if row is None:
            raise NotFound("No such override.")
        repo.delete_override(conn, override_id)
        target = {"user_id": row["user_id"]} if row["user_id"] else {"group_id": row["group_id"]}
        _audit(
            conn,
            actor,
            flag,
            "override_deleted",
            old={"override": override_id, **target, **_override_audit(row)},
        )
