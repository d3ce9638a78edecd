"""User groups: feature flags can be overridden per group; one group may be the default.

Every user belongs to the default group (if there is one) and to the group named by their
``feature_group_id`` (if any): a flag override on the default group is the "everyone"
setting, and a group with a higher ``priority`` wins over it. At most one group is the
default; making a group the default clears the flag on the others in the same transaction.
Changes invalidate the flag evaluator's cache when they commit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder import audit
from pathfinder.admin import repo
from pathfinder.admin.paging import decode_cursor, page_of
from pathfinder.admin.schemas import GroupCreate, GroupListQuery, GroupUpdate
from pathfinder.api.errors import Conflict, NotFound
from pathfinder.auth.principal import Principal
from pathfinder.db import get_database
from pathfinder.flags.evaluator import invalidate_on_commit
from pathfinder.ids import new_id

GROUP_FIELDS = ("name", "description", "priority", "is_default")


def utcnow() -> datetime:
    return datetime.now(UTC)


def group_json(row: RowMapping | dict[str, Any], members: int | None = None) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "priority": row["priority"],
        "is_default": bool(row["is_default"]),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
    if members is not None:
        out["members"] = members
    return out


def _audit(
    conn: Connection,
    actor: Principal,
    group_id: str,
    change: str,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    details: dict[str, Any] = {"change": change, **(extra or {})}
    if old is not None:
        details["old"] = old
    if new is not None:
        details["new"] = new
    audit.record(
        conn,
        "sys_config_changed",
        actor=actor,
        target_type="user_group",
        target_id=group_id,
        details=details,
    )
    invalidate_on_commit(conn)


def _group_or_404(conn: Connection, group_id: str, *, lock: bool = False) -> RowMapping:
    group = repo.get_group(conn, group_id, lock=lock)
    if group is None:
        raise NotFound("No such group.")
    return group


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A group named {name!r} already exists.", slug="already-taken")


def list_groups(query: GroupListQuery) -> dict[str, Any]:
    after = decode_cursor(query.cursor, 1)[0] if query.cursor else None
    with get_database().transaction() as conn:
        rows = repo.list_groups(conn, after=after, limit=query.limit + 1)
    items, cursor = page_of(rows, query.limit, lambda r: [r["name"]])
    return {"items": [group_json(r) for r in items], "next_cursor": cursor}


def get_group(group_id: str) -> dict[str, Any]:
    with get_database().transaction() as conn:
        group = _group_or_404(conn, group_id)
        return group_json(group, repo.group_member_count(conn, group_id))


def create_group(actor: Principal, body: GroupCreate) -> dict[str, Any]:
    now = utcnow()
    values = {
        "id": new_id(),
        "name": body.name,
        "description": body.description,
        "priority": body.priority,
        "is_default": body.is_default,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with get_database().transaction() as conn:
            if repo.group_by_name(conn, body.name) is not None:
                raise _name_taken(body.name)
            if body.is_default:
                repo.clear_other_defaults(conn, values["id"], now)
            repo.insert_group(conn, values)
            _audit(conn, actor, values["id"], "created", new={k: values[k] for k in GROUP_FIELDS})
    except sa.exc.IntegrityError as exc:  # a concurrent create with the same name
        raise _name_taken(body.name) from exc
    return group_json(values, 0)


def update_group(actor: Principal, group_id: str, body: GroupUpdate) -> dict[str, Any]:
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    for name in ("name", "priority", "is_default"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    now = utcnow()
    try:
        with get_database().transaction() as conn:
            group = _group_or_404(conn, group_id, lock=True)
            if "name" in changes and changes["name"] != group["name"]:
                if repo.group_by_name(conn, changes["name"]) is not None:
                    raise _name_taken(changes["name"])
            diff = {k: v for k, v in changes.items() if group[k] != v}
            if diff:
                if diff.get("is_default"):
                    repo.clear_other_defaults(conn, group_id, now)
                repo.update_group(conn, group_id, **diff, updated_at=now)
                _audit(
                    conn,
                    actor,
                    group_id,
                    "updated",
                    old={k: group[k] for k in diff},
                    new=diff,
                )
            updated = _group_or_404(conn, group_id)
            members = repo.group_member_count(conn, group_id)
    except sa.exc.IntegrityError as exc:
        raise _name_taken(str(changes.get("name"))) from exc
    return group_json(updated, members)


def delete_group(actor: Principal, group_id: str) -> None:
    """Delete a group: its members fall back to the default group, its overrides go."""
    with get_database().transaction() as conn:
        group = _group_or_404(conn, group_id, lock=True)
        members = repo.group_member_count(conn, group_id)
        repo.delete_group(conn, group_id)
        _audit(
            conn,
            actor,
            group_id,
            "deleted",
            old={k: group[k] for k in GROUP_FIELDS},
            extra={"members_moved_to_default": members},
        )


def add_members(actor: Principal, group_id: str, user_ids: list[str]) -> dict[str, Any]:
    """Assign up to 100 users to a group; unknown or deleted ids are reported, not fatal."""
    with get_database().transaction() as conn:
        _group_or_404(conn, group_id)
        found = repo.assign_group(conn, user_ids, group_id)
        if found:
            _audit(conn, actor, group_id, "members_added", extra={"user_ids": found})
    missing = [u for u in user_ids if u not in set(found)]
    return {"assigned": found, "not_found": missing}
