"""Rules of the reference data: reading and admin curation (seeding: ``seed.py``).

The catalogue drives skill extraction, which matches names and aliases case-insensitively.
So a name or alias may belong to one entry only: an admin edit that would make a term
ambiguous is a 409 naming the other entry, never a silent second match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import Conflict, NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.career.cursors import decode_cursor, page
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.reference import repo
from pathfinder.reference.repo import normalize_skill_name
from pathfinder.reference.schemas import (
    CareerPathCreate,
    CareerPathQuery,
    CareerPathUpdate,
    SkillCatalogCreate,
    SkillCatalogQuery,
    SkillCatalogUpdate,
)

# Fields an update may not set to null (the columns are NOT NULL or the value is required).
_SKILL_REQUIRED = ("name", "is_active")
_PATH_REQUIRED = ("path_key", "title", "stages")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def serialise_skill(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "category": row["category"],
        "aliases": repo.aliases_of(row),
        "description": row.get("description"),
        "is_active": bool(row["is_active"]),
        "created_at": _iso(row.get("created_at")),
        "updated_at": _iso(row.get("updated_at")),
    }


def serialise_path(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "path_key": row["path_key"],
        "title": row["title"],
        "description": row["description"],
        "typical_years": row["typical_years"],
        "required_skills": row["required_skills"] or [],
        "stages": row["stages"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def _null_errors(changes: dict[str, Any], required: tuple[str, ...]) -> None:
    errors = [
        {"field": name, "message": "may not be null"}
        for name in required
        if name in changes and changes[name] is None
    ]
    if errors:
        raise ValidationProblem("One or more fields are invalid.", errors=errors)


# -- skills catalogue --------------------------------------------------------------------------


def _record_change(
    conn: Connection,
    actor: Principal,
    target_type: str,
    target_id: str,
    action: str,
    **details: Any,
) -> None:
    """The audit row of an admin's change to reference data, in the change's transaction."""
    audit.record(
        conn,
        "authz_admin",
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        details={"action": action, **details},
    )


def list_skills(query: SkillCatalogQuery) -> dict[str, Any]:
    """One page of active catalogue entries, by name."""
    after = decode_cursor(query.cursor, 1)
    with get_database().transaction() as conn:
        rows = repo.list_skills(
            conn,
            q=query.q,
            category=query.category,
            limit=query.limit + 1,
            after=after[0] if after else None,
        )
    items, next_cursor = page(rows, query.limit, ("normalized_name",))
    return {
        "items": [serialise_skill(r) for r in items],
        "next_cursor": next_cursor,
        "limit": query.limit,
    }


def list_categories() -> dict[str, Any]:
    """Catalogue categories with their number of active skills."""
    with get_database().transaction() as conn:
        return {"items": repo.skill_categories(conn)}


def _check_terms(conn: Connection, name: str, aliases: list[str], except_id: str | None) -> None:
    """409 when the name or an alias is already a term of another entry.

    Callers drop aliases equal to the entry's own name first (they add nothing).
    """
    owners = repo.term_owners(conn, except_id=except_id)
    for term in [name, *aliases]:
        other = owners.get(normalize_skill_name(term))
        if other is not None:
            raise Conflict(
                f"'{term}' is already the name or an alias of the catalogue entry "
                f"'{other['name']}' ({other['id']}); a term may belong to one skill only.",
                slug="skill-term-taken",
                conflicting_id=other["id"],
            )


def create_skill(actor: Principal, body: SkillCatalogCreate) -> dict[str, Any]:
    """Add a catalogue entry (admins); its name and aliases must be new terms."""
    now = datetime.now(UTC)
    aliases = [
        a for a in body.aliases if normalize_skill_name(a) != normalize_skill_name(body.name)
    ]
    row = {
        "id": new_id(),
        "name": body.name,
        "normalized_name": normalize_skill_name(body.name),
        "category": body.category,
        "aliases": aliases,
        "description": body.description,
        "is_active": body.is_active,
        "created_at": now,
        "updated_at": now,
    }
    with get_database().transaction() as conn:
        _check_terms(conn, body.name, aliases, None)
        repo.insert_skills(conn, [row])
        _record_change(conn, actor, "ref_skill", row["id"], "create", name=body.name)
    return serialise_skill(row)


def get_skill(skill_id: str) -> dict[str, Any]:
    """One catalogue entry."""
    with get_database().transaction() as conn:
        row = repo.get_skill(conn, skill_id)
    if row is None:
        raise NotFound("No such catalogue entry.")
    return serialise_skill(row)


def update_skill(actor: Principal, skill_id: str, body: SkillCatalogUpdate) -> dict[str, Any]:
    """Change a catalogue entry (admins); renames and aliases keep terms unambiguous."""
    changes = body.model_dump(exclude_unset=True)
    _null_errors(changes, _SKILL_REQUIRED)
    with get_database().transaction() as conn:
        row = repo.get_skill(conn, skill_id)
        if row is None:
            raise NotFound("No such catalogue entry.")
        name = changes.get("name", row["name"])
        aliases = changes["aliases"] if "aliases" in changes else repo.aliases_of(row)
        aliases = [
            a for a in (aliases or []) if normalize_skill_name(a) != normalize_skill_name(name)
        ]
        if "name" in changes or "aliases" in changes:
            _check_terms(conn, name, aliases, skill_id)
            changes["aliases"] = aliases
        if "name" in changes:
            changes["normalized_name"] = normalize_skill_name(name)
        if changes:
            changes["updated_at"] = datetime.now(UTC)
            repo.update_skill(conn, skill_id, changes)
            _record_change(
                conn, actor, "ref_skill", skill_id, "update", fields=sorted(body.model_fields_set)
            )
        updated = repo.get_skill(conn, skill_id)
    assert updated is not None  # noqa: S101 - read back inside the same transaction
    return serialise_skill(updated)


def delete_skill(actor: Principal, skill_id: str) -> None:
    """Remove a catalogue entry (admins). Users' own skills keep their names."""
    with get_database().transaction() as conn:
        row = repo.get_skill(conn, skill_id)
        if row is None or not repo.delete_skill(conn, skill_id):
            raise NotFound("No such catalogue entry.")
        _record_change(conn, actor, "ref_skill", skill_id, "delete", name=row["name"])


# -- career paths ------------------------------------------------------------------------------


def list_career_paths(query: CareerPathQuery) -> dict[str, Any]:
    """One page of career paths, by key."""
    after = decode_cursor(query.cursor, 1)
    with get_database().transaction() as conn:
        rows = repo.list_career_paths(
            conn,
            q=query.q,
            key=query.key,
            limit=query.limit + 1,
            after=after[0] if after else None,
        )
    items, next_cursor = page(rows, query.limit, ("path_key",))
    return {
        "items": [serialise_path(r) for r in items],
        "next_cursor": next_cursor,
        "limit": query.limit,
    }


def _path_values(changes: dict[str, Any]) -> dict[str, Any]:
    """Pydantic stage models become plain JSON-ready dicts."""
    if changes.get("stages") is not None:
        changes["stages"] = [
            stage if isinstance(stage, dict) else stage.model_dump() for stage in changes["stages"]
        ]
    return changes


def create_career_path(actor: Principal, body: CareerPathCreate) -> dict[str, Any]:
    """Add a career path (admins); ``path_key`` is unique."""
    now = datetime.now(UTC)
    row = _path_values(body.model_dump())
    row.update(id=new_id(), created_at=now, updated_at=now)
    with get_database().transaction() as conn:
        if repo.career_path_key_exists(conn, body.path_key, except_id=None):
            raise Conflict(f"A career path with key '{body.path_key}' exists.", slug="path-exists")
        repo.insert_career_paths(conn, [row])
        _record_change(conn, actor, "ref_career_path", row["id"], "create", path_key=body.path_key)
    return serialise_path(row)


def get_career_path(path_id: str) -> dict[str, Any]:
    """One career path."""
    with get_database().transaction() as conn:
        row = repo.get_career_path(conn, path_id)
    if row is None:
        raise NotFound("No such career path.")
    return serialise_path(row)


def update_career_path(actor: Principal, path_id: str, body: CareerPathUpdate) -> dict[str, Any]:
    """Change a career path (admins)."""
    # The fields sent, each whole: `exclude_unset` would also drop what a stage left out
    # (its defaults), and the stored stage would lack them.
    dumped = body.model_dump()
    changes = _path_values({name: dumped[name] for name in body.model_fields_set})
    _null_errors(changes, _PATH_REQUIRED)
    with get_database().transaction() as conn:
        if repo.get_career_path(conn, path_id) is None:
            raise NotFound("No such career path.")
        key = changes.get("path_key")
        if key is not None and repo.career_path_key_exists(conn, key, except_id=path_id):
            raise Conflict(f"A career path with key '{key}' exists.", slug="path-exists")
        if changes:
            changes["updated_at"] = datetime.now(UTC)
            repo.update_career_path(conn, path_id, changes)
            _record_change(
                conn,
                actor,
                "ref_career_path",
                path_id,
                "update",
                fields=sorted(body.model_fields_set),
            )
        updated = repo.get_career_path(conn, path_id)
    assert updated is not None  # noqa: S101 - read back inside the same transaction
    return serialise_path(updated)


def delete_career_path(actor: Principal, path_id: str) -> None:
    """Remove a career path (admins)."""
    with get_database().transaction() as conn:
        row = repo.get_career_path(conn, path_id)
        if row is None or not repo.delete_career_path(conn, path_id):
            raise NotFound("No such career path.")
        _record_change(conn, actor, "ref_career_path", path_id, "delete", path_key=row["path_key"])
