"""CPA PERT rules, part 5: free drafts in the user's own ``pert_responses`` table.

Drafts are where a candidate writes before a report period exists: one per idea, any
competency, any length (the count and the limit are shown, never enforced, so a long first
draft can be trimmed). Promoting a draft copies it into a report as a new experience, and
there every experience rule applies: known competency, dates inside the period, the
character limit. Drafts live in ``pf_user_<username>_pert_responses``, so the transaction
covers the user's tables and the shared ones together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import Conflict, NotFound, ServiceUnavailable
from pathfinder.auth.principal import Principal
from pathfinder.cpa import narrative, repo
from pathfinder.cpa.errors import invalid
from pathfinder.cpa.experiences import experience_json, insert_version
from pathfinder.cpa.narrative import PARTS
from pathfinder.cpa.paging import decode_cursor, page_body, paginate
from pathfinder.cpa.schemas import DraftCreate, DraftListQuery, DraftPromote, DraftUpdate
from pathfinder.cpa.service import (
    framework_for,
    iso,
    record_milestones,
    require_editable,
    touch_report,
    utcnow,
)
from pathfinder.db import TenantNotProvisioned, get_database
from pathfinder.ids import new_id
from pathfinder.schema.tenant import TenantTables
from pathfinder.security.fields import (
    FIRST_ROW_VERSION,
    ROW_VERSION_COLUMN,
    field_cipher,
    next_row_version,
    unreadable_fields,
)

TABLE = "pert_responses"


@contextmanager
def _tenant(principal: Principal) -> Iterator[tuple[Connection, TenantTables]]:
    try:
        with get_database().tenant_transaction(principal.username) as (conn, tables):
            yield conn, tables
    except TenantNotProvisioned:
        raise ServiceUnavailable(
            "Your data space is not ready yet; try again in a moment.",
            slug="tenant-not-ready",
            headers={"Retry-After": "5"},
        ) from None


def draft_json(row: Mapping[str, Any]) -> dict[str, Any]:
    counts = narrative.count(row, narrative.response_char_limit())
    return {
        "id": row["id"],
        "framework_version": row["framework_version"],
        "sub_competency_code": row["sub_competency_code"],
        "proficiency_level": row["proficiency_level"],
        "title": row["title"],
        **{part: row.get(part) for part in PARTS},
        "character_count": row["character_count"],
        "word_count": row["word_count"],
        "counts": counts.as_json(),
        "status": row["status"],
        "promoted_experience_id": row["promoted_experience_id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        **unreadable_fields(row),
    }


def _summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """A draft in a list: no texts (they are opened one draft at a time)."""
    return {
        key: (iso(value) if key in ("created_at", "updated_at") else value)
        for key, value in row.items()
        if key not in PARTS and key != ROW_VERSION_COLUMN
    }


def _texts(fields: Mapping[str, Any]) -> dict[str, str | None]:
    return {part: narrative.normalise(fields[part]) if fields.get(part) else None for part in PARTS}


def _owned(
    conn: Connection,
    tables: TenantTables,
    principal: Principal,
    draft_id: str,
    *,
    tolerant: bool = False,
) -> dict[str, Any]:
    row = repo.get_draft(conn, tables, draft_id)
    if row is None:
        raise NotFound("No such draft.")
    return field_cipher(conn).open_row(TABLE, row, user_id=principal.user_id, tolerant=tolerant)


def draft_exists(principal: Principal, draft_id: str) -> None:
    with _tenant(principal) as (conn, tables):
        if repo.get_draft(conn, tables, draft_id) is None:
            raise NotFound("No such draft.")


def list_drafts(principal: Principal, query: DraftListQuery) -> dict[str, Any]:
    key = decode_cursor(query.cursor, 1)
    with _tenant(principal) as (conn, tables):
        rows = repo.list_drafts(
            conn,
            tables,
            code=query.sub_competency_code,
            status=query.status,
            limit=query.limit,
            after=key[0] if key else None,
        )
    page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
    return page_body([_summary(r) for r in page], cursor, query.limit)


def create_draft(principal: Principal, body: DraftCreate) -> dict[str, Any]:
    now = utcnow()
    with _tenant(principal) as (conn, tables):
        framework = framework_for(conn, body.framework_version, field="framework_version")
        if framework.competency(body.sub_competency_code) is None:
            raise invalid(
                "sub_competency_code",
                f"{body.sub_competency_code} is not a competency of framework {framework.version}",
            )
        texts = _texts(body.model_dump())
        counts = narrative.count(texts, narrative.response_char_limit())
        row = {
            "id": new_id(),
            "framework_version": framework.version,
            "sub_competency_code": body.sub_competency_code,
            "proficiency_level": body.proficiency_level,
            "title": body.title,
            **texts,
            "character_count": counts.total,
            "word_count": counts.words,
            "status": "draft",
            "promoted_experience_id": None,
            "created_at": now,
            "updated_at": now,
            "row_version": FIRST_ROW_VERSION,
        }
        sealed = field_cipher(conn).seal_row(TABLE, row, user_id=principal.user_id)
        repo.insert_draft(conn, tables, sealed)
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="cpa_draft",
            target_id=row["id"],
        )
    return draft_json(row)


def get_draft(principal: Principal, draft_id: str) -> dict[str, Any]:
    with _tenant(principal) as (conn, tables):
        row = _owned(conn, tables, principal, draft_id, tolerant=True)
    return draft_json(row)


def update_draft(principal: Principal, draft_id: str, body: DraftUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for name in ("sub_competency_code", "proficiency_level"):
        if name in changes and changes[name] is None:
            raise invalid(name, "may be changed but not removed")
    now = utcnow()
    with _tenant(principal) as (conn, tables):
        row = _owned(conn, tables, principal, draft_id)
        framework = framework_for(conn, row["framework_version"], field="framework_version")
        code = changes.get("sub_competency_code", row["sub_competency_code"])
        if framework.competency(code) is None:
            raise invalid(
                "sub_competency_code",
                f"{code} is not a competency of framework {framework.version}",
            )
        merged = {**row, **changes, **_texts({**row, **changes})}
        counts = narrative.count(merged, narrative.response_char_limit())
        merged.update(
            character_count=counts.total,
            word_count=counts.words,
            updated_at=now,
            # Every narrative part is re-sealed below, so the row moves to its next version.
            row_version=next_row_version(row),
        )
        values = {
            k: merged[k]
            for k in (
                "sub_competency_code",
                "proficiency_level",
                "title",
                *PARTS,
                "character_count",
                "word_count",
                "updated_at",
                ROW_VERSION_COLUMN,
            )
        }
        sealed = field_cipher(conn).seal_row(
            TABLE, values, user_id=principal.user_id, row_id=draft_id
        )
        repo.update_draft(conn, tables, draft_id, sealed)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_draft",
            target_id=draft_id,
            details={"fields": sorted(changes)},
        )
    return draft_json(merged)


def delete_draft(principal: Principal, draft_id: str) -> None:
    with _tenant(principal) as (conn, tables):
        if repo.get_draft(conn, tables, draft_id) is None:
            raise NotFound("No such draft.")
        repo.delete_draft(conn, tables, draft_id)
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="cpa_draft",
            target_id=draft_id,
        )


def promote_draft(principal: Principal, draft_id: str, body: DraftPromote) -> dict[str, Any]:
    """Copy a draft into one of my editable reports as a new experience."""
    now = utcnow()
    with _tenant(principal) as (conn, tables):
        repo.lock_owner(conn, principal.user_id)
        draft = _owned(conn, tables, principal, draft_id)
        if draft["status"] == "promoted":
            raise Conflict(
                f"This draft was already promoted to experience {draft['promoted_experience_id']}.",
                slug="cpa-draft-promoted",
                experience_id=draft["promoted_experience_id"],
            )
        report = repo.get_report(conn, principal.user_id, body.report_id)
        if report is None:
            raise invalid("report_id", "no such report")
        require_editable(report)
        if report["framework_version"] != draft["framework_version"]:
            raise invalid(
                "report_id",
                f"the report follows framework {report['framework_version']}, the draft "
                f"{draft['framework_version']}",
            )
        title = body.experience_title or draft["title"]
        if not title:
            raise invalid("experience_title", "needed: the draft has no title")
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        fields = {
            "sub_competency_code": draft["sub_competency_code"],
            "experience_title": title,
            "experience_start_date": body.experience_start_date,
            "experience_end_date": body.experience_end_date,
            "proficiency_level": draft["proficiency_level"],
            **{part: draft[part] for part in PARTS},
        }
        experience = insert_version(conn, principal, report, framework, fields, now)
        touch_report(conn, report, now)
        record_milestones(
            conn, principal.user_id, framework.version, {experience["sub_competency_code"]}, now
        )
        repo.update_draft(
            conn,
            tables,
            draft_id,
            {"status": "promoted", "promoted_experience_id": experience["id"], "updated_at": now},
        )
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="cpa_experience",
            target_id=experience["id"],
            details={"report_id": report["id"], "from_draft": draft_id},
        )
    promoted = {
        **draft,
        "status": "promoted",
        "promoted_experience_id": experience["id"],
        "updated_at": now,
    }
    return {"draft": draft_json(promoted), "experience": experience_json(experience, framework)}
