"""The experiences archive: moving roles out of tier 1 and reading them back.

A move is one transaction: the archive row is written, the skills tied to the role are kept
as standalone skills (their years and last use folded in, so the skills summary does not
forget them), the role is deleted, and the summaries are recomputed. The archive keeps the
role's id, so a restore gives the same id back. Encrypted columns are re-sealed on the way:
a value's AAD names its table, so a token copied as-is would not open in the other table.

Two ways in: the user archives one role (``POST /me/experiences/<id>/archive``), and the
retention job calls :func:`archive_experiences` for roles that ended long ago.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth.principal import Principal
from pathfinder.career import repo
from pathfinder.career.cursors import decode_cursor, invalid_cursor, page
from pathfinder.career.schemas import ArchiveQuery
from pathfinder.career.service import open_experience, seal_experience, serialise_experience
from pathfinder.career.summaries import period_of, union_days, years_of_days
from pathfinder.career.summary_service import refresh_summaries
from pathfinder.career.tenancy import user_unit, utc_today
from pathfinder.db import Database
from pathfinder.schema.naming import normalize_username
from pathfinder.schema.shared.identity import users
from pathfinder.schema.tenant import TenantTables
from pathfinder.security.fields import FieldCipher, field_cipher, next_row_version

RETENTION_REASON = "retention"


def _fold_skills(
    conn: Connection,
    tables: TenantTables,
    experiences: list[dict[str, Any]],
    today: date,
    now: datetime,
) -> None:
    """Keep the skills of roles about to be archived, as standalone skills.

    Per skill name (any case), the years its archived roles gave (the union of their
    periods, overlaps once) and the last day of use become the standalone skill's declared
    ``years_experience`` and ``last_used`` (never lowered), so the skills summary does not
    forget them. An existing standalone skill of that name absorbs them; otherwise one of
    the rows is kept and the others are deleted.
    """
    groups: dict[str, dict[str, Any]] = {}
    for experience in experiences:
        period = period_of(experience, today)
        for skill in repo.skills_of_experience(conn, tables, experience["id"]):
            group = groups.setdefault(skill["name"].lower(), {"skills": [], "periods": []})
            group["skills"].append(skill)
            group["periods"].append(period)
    for name, group in groups.items():
        skills: list[dict[str, Any]] = group["skills"]
        standalone = repo.find_skill(conn, tables, name, None)
        keeper = standalone or skills[0]
        members = ([standalone] if standalone else []) + skills
        years = max(
            [years_of_days(union_days(group["periods"]))]
            + [Decimal(str(s["years_experience"])) for s in members if s["years_experience"]]
        )
        used = [s["last_used"] for s in members if s["last_used"] is not None]
        used += [end for _, end in group["periods"]]
        levels = [s["proficiency_level"] for s in members if s["proficiency_level"]]
        repo.update_skill(
            conn,
            tables,
            keeper["id"],
            {
                "experience_id": None,
                "years_experience": years,
                "last_used": max(used),
                "is_primary": any(s["is_primary"] for s in members),
                "proficiency_level": max(levels) if levels else None,
                "category": next((s["category"] for s in members if s["category"]), None),
                "updated_at": now,
            },
        )
        for skill in skills:
            if skill["id"] != keeper["id"]:
                repo.delete_skill(conn, tables, skill["id"])


def move_to_archive(
    conn: Connection,
    tables: TenantTables,
    cipher: FieldCipher,
    *,
    user_id: str,
    experience_ids: list[str],
    reason: str,
    today: date,
) -> list[dict[str, Any]]:
    """Move the given experiences into the archive; returns the opened archive rows."""
    now = datetime.now(UTC)
    rows = [r for i in experience_ids if (r := repo.get_experience(conn, tables, i)) is not None]
    # Before the deletes below: deleting a role cascades to the skills tied to it.
    _fold_skills(conn, tables, rows, today, now)
    moved = []
    for row in rows:
        opened = open_experience(cipher, "experiences", row, user_id=user_id)
        # The version carries on across the move, so a ciphertext of an earlier life of
        # this id never matches again.
        archived = {
            **opened,
            "archived_at": now,
            "archive_reason": reason,
            "row_version": next_row_version(opened),
        }
        repo.insert_archive(
            conn,
            tables,
            [seal_experience(cipher, "experiences_archive", archived, user_id=user_id)],
        )
        repo.delete_experience(conn, tables, row["id"])
        moved.append(archived)
    return moved


def archive_experience(principal: Principal, experience_id: str, reason: str) -> dict[str, Any]:
    """Move one of my experiences into my archive."""
    today = utc_today()
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        if repo.get_experience(conn, tables, experience_id) is None:
            raise NotFound("No such experience.")
        moved = move_to_archive(
            conn,
            tables,
            field_cipher(conn),
            user_id=principal.user_id,
            experience_ids=[experience_id],
            reason=reason,
            today=today,
        )
        refresh_summaries(conn, tables, today)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="experience",
            target_id=experience_id,
            details={"action": "archive", "reason": reason},
        )
    return serialise_experience(moved[0])


def restore_experience(principal: Principal, archive_id: str) -> dict[str, Any]:
    """Move an archived experience back into my experiences (same id; skills stay standalone)."""
    today = utc_today()
    now = datetime.now(UTC)
    with user_unit(principal.username) as (conn, tables):
        repo.lock_summaries(conn, tables)
        row = repo.get_archive(conn, tables, archive_id)
        if row is None:
            raise NotFound("No such archived experience.")
        cipher = field_cipher(conn)
        opened = open_experience(cipher, "experiences_archive", row, user_id=principal.user_id)
        restored = {k: v for k, v in opened.items() if k not in ("archived_at", "archive_reason")}
        restored["updated_at"] = now
        restored["row_version"] = next_row_version(opened)
        repo.insert_experiences(
            conn,
            tables,
            [seal_experience(cipher, "experiences", restored, user_id=principal.user_id)],
        )
        repo.delete_archive(conn, tables, archive_id)
        refresh_summaries(conn, tables, today)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="experience",
            target_id=archive_id,
            details={"action": "restore"},
        )
    return serialise_experience(restored)


def get_archived(principal: Principal, archive_id: str) -> dict[str, Any]:
    """One archived experience of mine, decrypted."""
    with user_unit(principal.username) as (conn, tables):
        row = repo.get_archive(conn, tables, archive_id)
        if row is None:
            raise NotFound("No such archived experience.")
        opened = open_experience(
            field_cipher(conn),
            "experiences_archive",
            row,
            user_id=principal.user_id,
            tolerant=True,
        )
    return serialise_experience(opened)


def list_archived(principal: Principal, query: ArchiveQuery) -> dict[str, Any]:
    """One page of my archived experiences, most recently archived first."""
    after = decode_cursor(query.cursor, 2)
    keyset = None
    if after is not None:
        try:
            at = datetime.fromisoformat(after[0])
        except ValueError:
            raise invalid_cursor() from None
        keyset = (at if at.tzinfo else at.replace(tzinfo=UTC), after[1])
    with user_unit(principal.username) as (conn, tables):
        rows = repo.list_archive(conn, tables, limit=query.limit + 1, after=keyset)
        items, next_cursor = page(rows, query.limit, ("archived_at", "id"))
        cipher = field_cipher(conn)
        opened = [
            open_experience(
                cipher, "experiences_archive", r, user_id=principal.user_id, tolerant=True
            )
            for r in items
        ]
    return {
        "items": [serialise_experience(r) for r in opened],
        "next_cursor": next_cursor,
        "limit": query.limit,
    }


def archive_experiences(
    db: Database,
    username: str,
    older_than: date | timedelta,
    *,
    reason: str = RETENTION_REASON,
    today: date | None = None,
) -> int:
    """Archive ``username``'s past roles that ended before ``older_than``; for the retention job.

    ``older_than`` is a cutoff date, or an age (``timedelta``) counted back from today.
    Current roles are never archived. Everything moves in one transaction (all or none),
    with the summaries recomputed and one audit row; returns the number of roles moved.
    Call it in an app context (the key store and skills catalogue live on the app).
    """
    day = today or utc_today()
    cutoff = day - older_than if isinstance(older_than, timedelta) else older_than
    with db.transaction() as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.username == normalize_username(username))
        ).scalar()
    if user_id is None:
        raise LookupError(f"no user {username!r}")
    with user_unit(username, db) as (conn, tables):
        repo.lock_summaries(conn, tables)
        ids = repo.experiences_ended_before(conn, tables, cutoff)
        if not ids:
            return 0
        move_to_archive(
            conn,
            tables,
            field_cipher(conn),
            user_id=user_id,
            experience_ids=ids,
            reason=reason,
            today=day,
        )
        refresh_summaries(conn, tables, day)
        audit.record(
            conn,
            "sensitive_update",
            target_type="user",
            target_id=user_id,
            details={
                "action": "archive",
                "reason": reason,
                "cutoff": cutoff.isoformat(),
                "count": len(ids),
            },
        )
    return len(ids)
