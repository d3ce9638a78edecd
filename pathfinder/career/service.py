"""Experiences (tier 1) and skills: the rules, in one transaction per request.

Every write follows the same order, inside one transaction on the caller's own tables:
lock the user's summaries (serialises this user's writers), read and check, seal the
encrypted columns, write, recompute tiers 2 and 3 (:func:`refresh_summaries`), write the
audit row. The change, its summaries and its audit row commit together or not at all.

Another user's id is simply not in the caller's tables, so it answers 404 like an id that
never existed.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import Conflict, NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.career import repo
from pathfinder.career.cursors import decode_cursor, invalid_cursor, page
from pathfinder.career.schemas import (
    BulkExperienceCreate,
    DuplicateRequest,
    ExperienceCreate,
    ExperienceQuery,
    ExperienceUpdate,
    SkillCreate,
    SkillQuery,
    SkillUpdate,
    check_experience,
    experience_errors,
)
from pathfinder.career.skills import SkillMatcher, catalog_matcher
from pathfinder.career.summary_service import refresh_summaries
from pathfinder.career.tenancy import user_unit, utc_today
from pathfinder.ids import new_id
from pathfinder.schema.tenant import TenantTables
from pathfinder.security.fields import (
    FIRST_ROW_VERSION,
    FieldCipher,
    field_cipher,
    unreadable_fields,
)

EXPERIENCE_FIELDS = (
    "title",
    "company",
    "department",
    "location",
    "employment_type",
    "role_level",
    "industry",
    "start_date",
    "end_date",
    "is_current",
    "description",
    "key_achievements",
    "technologies",
    "team_size",
)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


# -- experiences: encoding ---------------------------------------------------------------------


def _achievements_as_text(record: dict[str, Any]) -> dict[str, Any]:
    row = dict(record)
    if "key_achievements" in row and row["key_achievements"] is not None:
        row["key_achievements"] = json.dumps(row["key_achievements"], ensure_ascii=False)
    return row


def seal_experience(
    cipher: FieldCipher, table: str, record: dict[str, Any], *, user_id: str
) -> dict[str, Any]:
    """A storable whole row: achievements as JSON text, encrypted columns sealed for ``table``.

    ``table`` is ``experiences`` or ``experiences_archive``: the AAD binds each value to its
    table, so moving a row between them re-seals it.
    """
    return cipher.seal_row(table, _achievements_as_text(record), user_id=user_id)


def reseal_experience(
    cipher: FieldCipher, stored: dict[str, Any], changes: dict[str, Any], *, user_id: str
) -> dict[str, Any]:
    """The values that apply ``changes`` to a stored experience at its next row version."""
    return cipher.reseal("experiences", stored, _achievements_as_text(changes), user_id=user_id)


def open_experience(
    cipher: FieldCipher,
    table: str,
    row: dict[str, Any],
    *,
    user_id: str,
    tolerant: bool = False,
) -> dict[str, Any]:
    """The row with encrypted columns opened and achievements back as a list.

    ``tolerant`` (reads): a value that does not open is None and named in the row's
    unreadable list rather than failing the answer.
    """
    opened = cipher.open_row(table, row, user_id=user_id, tolerant=tolerant)
    if opened.get("key_achievements") is not None:
        opened["key_achievements"] = json.loads(opened["key_achievements"])
    return opened


def serialise_experience(row: dict[str, Any]) -> dict[str, Any]:
    """An opened experience (or archived one) as JSON."""
    out: dict[str, Any] = {"id": row["id"]}
    for name in EXPERIENCE_FIELDS:
        out[name] = _iso(row.get(name))
    out["is_current"] = bool(row.get("is_current"))
    out["key_achievements"] = row.get("key_achievements") or []
    out["technologies"] = row.get("technologies") or []
    for name in ("created_at", "updated_at", "archived_at", "archive_reason"):
        if name in row:
            out[name] = _iso(row[name])
    out.update(unreadable_fields(row))
    return out


def _new_experience(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = {name: record.get(name) for name in EXPERIENCE_FIELDS}
    row["is_current"] = bool(row["is_current"])
    row.update(id=new_id(), created_at=now, updated_at=now, row_version=FIRST_ROW_VERSION)
    return row


def _experience_or_404(
    conn: Connection, tables: TenantTables, experience_id: str
) -> dict[str, Any]:
    row = repo.get_experience(conn, tables, experience_id)
    if row is None:
        raise NotFound("No such experience.")
    return row


# -- experiences: operations -------------------------------------------------------------------


def create_experience(principal: Principal, body: ExperienceCreate) -> dict[str, Any]:
    """Add one experience."""
    return create_experiences(principal, [body])[0]


def bulk_create(principal: Principal, body: BulkExperienceCreate) -> list[dict[str, Any]]:
    """Add up to 50 experiences in one transaction: all of them, or (any invalid) none."""
    return create_experiences(principal, body.items, prefix="items")


def create_experiences(
    principal: Principal, items: list[ExperienceCreate], *, prefix: str | None = None
) -> list[dict[str, Any]]:
    """Check every item first (all errors at once), then insert them all in one transaction."""
    today = utc_today()
    records = [item.model_dump() for item in items]
    errors = []
    for index, record in enumerate(records):
        errors += experience_errors(record, prefix=f"{prefix}.{index}." if prefix else "")
    if errors:
        raise ValidationProblem("One or more fields are invalid.", errors=errors)
    now = datetime.now(UTC)
    rows = [_new_experience(record, now) for record in records]
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        cipher = field_cipher(conn)
        sealed = [
            seal_experience(cipher, "experiences", row, user_id=principal.user_id) for row in rows
        ]
        repo.insert_experiences(conn, tables, sealed)
        refresh_summaries(conn, tables, today)
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="experience",
            target_id=rows[0]["id"] if len(rows) == 1 else None,
            details={"count": len(rows), "ids": [r["id"] for r in rows]},
        )
    return [serialise_experience(row) for row in rows]


def get_experience(principal: Principal, experience_id: str) -> dict[str, Any]:
    """One of my experiences, decrypted."""
    with user_unit(principal.username) as (conn, tables):
        row = _experience_or_404(conn, tables, experience_id)
        opened = open_experience(
            field_cipher(conn), "experiences", row, user_id=principal.user_id, tolerant=True
        )
    return serialise_experience(opened)


def update_experience(
    principal: Principal, experience_id: str, body: ExperienceUpdate
) -> dict[str, Any]:
    """Change the fields sent; the rules are checked on the merged record."""
    changes = body.model_dump(exclude_unset=True)
    today = utc_today()
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        cipher = field_cipher(conn)
        row = _experience_or_404(conn, tables, experience_id)
        merged = {**open_experience(cipher, "experiences", row, user_id=principal.user_id)}
        merged.update(changes)
        check_experience(merged)
        if changes:
            merged["updated_at"] = datetime.now(UTC)
            values = reseal_experience(
                cipher,
                row,
                {**changes, "updated_at": merged["updated_at"]},
                user_id=principal.user_id,
            )
            merged["row_version"] = values["row_version"]
            repo.update_experience(conn, tables, experience_id, values)
            if set(changes) & set(repo.SUMMARY_EXPERIENCE_COLUMNS):
                # Description, achievements, department, location: no summary uses them.
                refresh_summaries(conn, tables, today)
            audit.record(
                conn,
                "sensitive_update",
                actor=principal,
                target_type="experience",
                target_id=experience_id,
                details={"fields": sorted(changes)},
            )
    return serialise_experience(merged)


def delete_experience(principal: Principal, experience_id: str) -> None:
    """Delete one of my experiences and the skills tied to it."""
    today = utc_today()
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        _experience_or_404(conn, tables, experience_id)
        repo.delete_experience(conn, tables, experience_id)
        refresh_summaries(conn, tables, today)
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="experience",
            target_id=experience_id,
        )


def duplicate_experience(
    principal: Principal, experience_id: str, body: DuplicateRequest
) -> dict[str, Any]:
    """Copy one of my experiences (a new id; re-sealed for it), with its skills if asked."""
    today = utc_today()
    now = datetime.now(UTC)
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        cipher = field_cipher(conn)
        source = _experience_or_404(conn, tables, experience_id)
        opened = open_experience(cipher, "experiences", source, user_id=principal.user_id)
        copy = _new_experience(opened, now)
        if body.title is not None:
            copy["title"] = body.title
        sealed = seal_experience(cipher, "experiences", copy, user_id=principal.user_id)
        repo.insert_experiences(conn, tables, [sealed])
        if body.include_skills:
            skills = repo.skills_of_experience(conn, tables, experience_id)
            repo.insert_skills(
                conn,
                tables,
                [
                    {**s, "id": new_id(), "experience_id": copy["id"], "created_at": now,
                     "updated_at": now}
                    for s in skills
                ],
            )  # fmt: skip
        refresh_summaries(conn, tables, today)
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="experience",
            target_id=copy["id"],
            details={"duplicate_of": experience_id, "include_skills": body.include_skills},
        )
    return serialise_experience(copy)


def list_experiences(principal: Principal, query: ExperienceQuery) -> dict[str, Any]:
    """One page of my experiences, newest start first, filtered."""
    after = decode_cursor(query.cursor, 2)
    keyset = None
    if after is not None:
        try:
            keyset = (date.fromisoformat(after[0]), after[1])
        except ValueError:
            raise invalid_cursor() from None
    if query.start_from and query.start_to and query.start_to < query.start_from:
        raise ValidationProblem(
            "One or more query parameters are invalid.",
            errors=[{"field": "start_to", "message": "must be on or after start_from"}],
        )
    with user_unit(principal.username) as (conn, tables):
        terms: tuple[str, ...] = ()
        if query.skill:
            terms = tuple(catalog_matcher(conn).synonyms(query.skill))
        filters = repo.ExperienceFilter(
            company=query.company,
            title_text=query.q,
            skill_terms=terms,
            active_from=query.start_from,
            active_to=query.start_to,
            is_current=query.is_current,
            employment_type=query.employment_type,
        )
        rows = repo.list_experiences(conn, tables, filters, limit=query.limit + 1, after=keyset)
        items, next_cursor = page(rows, query.limit, ("start_date", "id"))
        cipher = field_cipher(conn)
        opened = [
            open_experience(cipher, "experiences", r, user_id=principal.user_id, tolerant=True)
            for r in items
        ]
    return {
        "items": [serialise_experience(r) for r in opened],
        "next_cursor": next_cursor,
        "limit": query.limit,
    }


def extract_skills(principal: Principal, experience_id: str, *, save: bool) -> dict[str, Any]:
    """Find catalogued skills in the experience's text; with ``save``, add the new ones.

    The text is the title, description, achievements and technologies, decrypted in memory
    only. Skills already tied to the experience (same name, any case) are reported as
    present and not added twice.
    """
    today = utc_today()
    now = datetime.now(UTC)
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        row = _experience_or_404(conn, tables, experience_id)
        opened = open_experience(field_cipher(conn), "experiences", row, user_id=principal.user_id)
        text = "\n".join(
            [
                str(opened["title"]),
                opened.get("description") or "",
                *(opened.get("key_achievements") or []),
                *(opened.get("technologies") or []),
            ]
        )
        matches = catalog_matcher(conn).find(text)
        present = {
            s["name"].lower() for s in repo.skills_of_experience(conn, tables, experience_id)
        }
        found = [
            {
                "name": m.name,
                "category": m.category,
                "matched": m.matched,
                "already_present": m.name.lower() in present,
            }
            for m in matches
        ]
        added = []
        if save:
            added = [
                _skill_row(
                    name=m.name,
                    category=m.category,
                    experience_id=experience_id,
                    source="extracted",
                    now=now,
                )
                for m in matches
                if m.name.lower() not in present
            ]
            if added:
                repo.insert_skills(conn, tables, added)
                refresh_summaries(conn, tables, today)
                audit.record(
                    conn,
                    "sensitive_create",
                    actor=principal,
                    target_type="skill",
                    target_id=None,
                    details={"experience_id": experience_id, "extracted": len(added)},
                )
    return {
        "experience_id": experience_id,
        "found": found,
        "added": [serialise_skill(s) for s in added],
    }


# -- skills ------------------------------------------------------------------------------------


def _skill_row(
    *,
    name: str,
    category: str | None,
    experience_id: str | None,
    source: str,
    now: datetime,
    proficiency_level: int | None = None,
    years_experience: Decimal | None = None,
    last_used: date | None = None,
    is_primary: bool = False,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "experience_id": experience_id,
        "name": name,
        "category": category,
        "proficiency_level": proficiency_level,
        "years_experience": years_experience,
        "last_used": last_used,
        "is_primary": is_primary,
        "source": source,
        "created_at": now,
        "updated_at": now,
    }


def serialise_skill(row: dict[str, Any]) -> dict[str, Any]:
    years = row.get("years_experience")
    return {
        "id": row["id"],
        "name": row["name"],
        "category": row.get("category"),
        "experience_id": row.get("experience_id"),
        "proficiency_level": row.get("proficiency_level"),
        "years_experience": float(years) if years is not None else None,
        "last_used": _iso(row.get("last_used")),
        "is_primary": bool(row.get("is_primary")),
        "source": row.get("source") or "manual",
        "created_at": _iso(row.get("created_at")),
        "updated_at": _iso(row.get("updated_at")),
    }


def _canonical_skill(
    matcher: SkillMatcher, name: str, category: str | None
) -> tuple[str, str | None]:
    """The catalogue's spelling of ``name`` and, unless given, its category."""
    entry = matcher.canonical(name)
    if entry is None:
        return name, category
    return entry.name, category if category is not None else entry.category


def _skill_or_404(conn: Connection, tables: TenantTables, skill_id: str) -> dict[str, Any]:
    row = repo.get_skill(conn, tables, skill_id)
    if row is None:
        raise NotFound("No such skill.")
    return row


def _check_duplicate(
    conn: Connection,
    tables: TenantTables,
    name: str,
    experience_id: str | None,
    except_id: str | None,
) -> None:
    """One skill per name (any case) per experience, and once among standalone skills."""
    existing = repo.find_skill(conn, tables, name, experience_id)
    if existing is not None and existing["id"] != except_id:
        where = "this experience" if experience_id else "your standalone skills"
        raise Conflict(
            f"'{existing['name']}' is already among {where}.",
            slug="skill-exists",
            existing_id=existing["id"],
        )


def create_skill(principal: Principal, body: SkillCreate) -> dict[str, Any]:
    """Add a skill, standalone or tied to one of my experiences (canonical catalogue name)."""
    today = utc_today()
    now = datetime.now(UTC)
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        if body.experience_id is not None:
            _experience_or_404(conn, tables, body.experience_id)
        name, category = _canonical_skill(catalog_matcher(conn), body.name, body.category)
        _check_duplicate(conn, tables, name, body.experience_id, None)
        row = _skill_row(
            name=name,
            category=category,
            experience_id=body.experience_id,
            source="manual",
            now=now,
            proficiency_level=body.proficiency_level,
            years_experience=body.years_experience,
            last_used=body.last_used,
            is_primary=body.is_primary,
        )
        repo.insert_skills(conn, tables, [row])
        refresh_summaries(conn, tables, today)
        audit.record(
            conn, "sensitive_create", actor=principal, target_type="skill", target_id=row["id"]
        )
    return serialise_skill(row)


def get_skill(principal: Principal, skill_id: str) -> dict[str, Any]:
    with user_unit(principal.username) as (conn, tables):
        return serialise_skill(_skill_or_404(conn, tables, skill_id))


def update_skill(principal: Principal, skill_id: str, body: SkillUpdate) -> dict[str, Any]:
    """Change the fields sent; a new name is spelled as the catalogue spells it."""
    changes = body.model_dump(exclude_unset=True)
    nulls = [n for n in ("name", "is_primary") if n in changes and changes[n] is None]
    today = utc_today()
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        row = _skill_or_404(conn, tables, skill_id)
        if nulls:
            raise ValidationProblem(
                "One or more fields are invalid.",
                errors=[{"field": n, "message": "may not be null"} for n in nulls],
            )
        if changes.get("experience_id") is not None:
            _experience_or_404(conn, tables, changes["experience_id"])
        if "name" in changes:
            entry = catalog_matcher(conn).canonical(changes["name"])
            if entry is not None:
                changes["name"] = entry.name
                if "category" not in changes and row["category"] is None:
                    changes["category"] = entry.category
        merged = {**row, **changes}
        if "name" in changes or "experience_id" in changes:
            _check_duplicate(conn, tables, merged["name"], merged["experience_id"], skill_id)
        if changes:
            changes["updated_at"] = merged["updated_at"] = datetime.now(UTC)
            repo.update_skill(conn, tables, skill_id, changes)
            refresh_summaries(conn, tables, today)
            audit.record(
                conn,
                "sensitive_update",
                actor=principal,
                target_type="skill",
                target_id=skill_id,
                details={"fields": sorted(body.model_fields_set)},
            )
    return serialise_skill(merged)


def delete_skill(principal: Principal, skill_id: str) -> None:
    today = utc_today()
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        _skill_or_404(conn, tables, skill_id)
        repo.delete_skill(conn, tables, skill_id)
        refresh_summaries(conn, tables, today)
        audit.record(
            conn, "sensitive_delete", actor=principal, target_type="skill", target_id=skill_id
        )


def list_skills(principal: Principal, query: SkillQuery) -> dict[str, Any]:
    """One page of my skills by name, filtered."""
    after = decode_cursor(query.cursor, 2)
    filters = repo.SkillFilter(
        name_text=query.q,
        category=query.category,
        experience_id=query.experience_id,
        standalone=query.standalone,
    )
    with user_unit(principal.username) as (conn, tables):
        rows = repo.list_skills(
            conn,
            tables,
            filters,
            limit=query.limit + 1,
            after=(after[0], after[1]) if after else None,
        )
    items, next_cursor = page(rows, query.limit, ("sort_name", "id"))
    return {
        "items": [serialise_skill(r) for r in items],
        "next_cursor": next_cursor,
        "limit": query.limit,
    }


def experience_skills(
    principal: Principal, experience_id: str, query: SkillQuery
) -> dict[str, Any]:
    """One page of the skills tied to one of my experiences."""
    with user_unit(principal.username) as (conn, tables):
        _experience_or_404(conn, tables, experience_id)
    scoped = query.model_copy(update={"experience_id": experience_id, "standalone": None})
    return {"experience_id": experience_id, **list_skills(principal, scoped)}
