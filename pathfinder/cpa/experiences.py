"""CPA PERT rules, part 2: experiences and their versions.

An experience is one write-up for one competency inside a report. Its text is never
updated in place: an edit inserts a new row pointing at the one it replaces
(``previous_version_id``, unique, so two concurrent edits of one version cannot both
succeed) and marks the old row as no longer current. Restoring an old version is an edit
whose content is that version's. The id in a URL names one version; activities and time
entries belong to the experience as a whole and move to each new version.

The four narrative parts are sealed with the field cipher before they reach the table and
opened after they are read; their character counts are taken on the plain text and checked
against the configured limit (:mod:`pathfinder.cpa.narrative`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import Conflict, NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.cpa import narrative, repo
from pathfinder.cpa.errors import InvalidTransition, ResponseTooLong, StaleVersion
from pathfinder.cpa.framework import Framework
from pathfinder.cpa.narrative import PARTS
from pathfinder.cpa.paging import CpaPageQuery, decode_cursor, page_body, paginate
from pathfinder.cpa.schemas import CpaExperienceCreate, CpaExperienceUpdate, ExperienceReview
from pathfinder.cpa.service import (
    framework_for,
    iso,
    owned_report,
    record_milestones,
    require_editable,
    touch_report,
    utcnow,
)
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.security.fields import FIRST_ROW_VERSION, field_cipher, unreadable_fields

TABLE = "pf_cpa_pert_experiences"
CONTENT_FIELDS = (
    "sub_competency_code",
    "experience_title",
    "experience_start_date",
    "experience_end_date",
    "proficiency_level",
    *PARTS,
)


def experience_json(row: Mapping[str, Any], framework: Framework | None = None) -> dict[str, Any]:
    """An opened experience row with its character counts against the current limit."""
    counts = narrative.count(row, narrative.response_char_limit())
    competency = framework.competency(row["sub_competency_code"]) if framework else None
    end = row["experience_end_date"]
    return {
        "id": row["id"],
        "report_id": row["report_id"],
        "framework_version": row["framework_version"],
        "sub_competency_code": row["sub_competency_code"],
        "sub_competency_name": competency["name"] if competency else None,
        "experience_title": row["experience_title"],
        "experience_start_date": iso(row["experience_start_date"]),
        "experience_end_date": iso(end),
        "duration_days": (end - row["experience_start_date"]).days + 1 if end else None,
        "proficiency_level": row["proficiency_level"],
        "approved_level": row["approved_level"],
        "approval_status": row["approval_status"],
        **{part: row.get(part) for part in PARTS},
        "character_count": row["character_count"],
        "word_count": row["word_count"],
        "counts": counts.as_json(),
        "version_number": row["version_number"],
        "previous_version_id": row["previous_version_id"],
        "is_current_version": row["is_current_version"],
        "deleted_at": iso(row.get("deleted_at")),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        **unreadable_fields(row),
    }


def _clean_texts(fields: Mapping[str, Any]) -> dict[str, str | None]:
    """Narrative parts with line breaks normalised; an empty part is stored as NULL."""
    out: dict[str, str | None] = {}
    for part in PARTS:
        text = fields.get(part)
        out[part] = narrative.normalise(text) if text else None
    return out


def validate_content(
    framework: Framework, report: Mapping[str, Any], fields: Mapping[str, Any]
) -> narrative.Counts:
    """Known competency, dates inside the report period, text within the limit."""
    errors: list[dict[str, str]] = []
    code = fields["sub_competency_code"]
    if framework.competency(code) is None:
        errors.append(
            {
                "field": "sub_competency_code",
                "message": f"{code} is not a competency of framework {framework.version}",
            }
        )
    start: date = fields["experience_start_date"]
    end: date | None = fields["experience_end_date"]
    first, last = report["period_start"], report["period_end"]
    inside = f"must be within the report period {first.isoformat()} to {last.isoformat()}"
    if not first <= start <= last:
        errors.append({"field": "experience_start_date", "message": inside})
    if end is not None and not first <= end <= last:
        errors.append({"field": "experience_end_date", "message": inside})
    if end is not None and end < start:
        errors.append(
            {"field": "experience_end_date", "message": "must not be before experience_start_date"}
        )
    if errors:
        raise ValidationProblem("One or more fields are invalid.", errors=errors)
    counts = narrative.count(fields, narrative.response_char_limit())
    if counts.over_limit:
        message = narrative.describe_over_limit(counts)
        raise ResponseTooLong(
            message,
            counts=counts.as_json(),
            errors=[{"field": part, "message": message} for part, n in counts.parts.items() if n],
        )
    return counts


def insert_version(
    conn: Connection,
    principal: Principal,
    report: Mapping[str, Any],
    framework: Framework,
    fields: Mapping[str, Any],
    now: datetime,
    *,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate and insert one experience version (sealed); return it opened."""
    content = {**{k: fields.get(k) for k in CONTENT_FIELDS}, **_clean_texts(fields)}
    counts = validate_content(framework, report, content)
    row = {
        "id": new_id(),
        "report_id": report["id"],
        "user_id": principal.user_id,
        "framework_version": report["framework_version"],
        **content,
        "approved_level": None,
        "character_count": counts.total,
        "word_count": counts.words,
        "approval_status": "draft",
        "previous_version_id": previous["id"] if previous else None,
        "version_number": previous["version_number"] + 1 if previous else 1,
        "is_current_version": True,
        "deleted_at": None,
        "created_at": now,
        "updated_at": now,
        # Each version is a row of its own, sealed once and never re-sealed by an edit.
        "row_version": FIRST_ROW_VERSION,
    }
    repo.insert_experience(conn, field_cipher(conn).seal_row(TABLE, row, user_id=principal.user_id))
    return row


def _opened(
    conn: Connection, principal: Principal, row: Mapping[str, Any], *, tolerant: bool = False
) -> dict[str, Any]:
    return field_cipher(conn).open_row(TABLE, row, user_id=principal.user_id, tolerant=tolerant)


def owned_experience(
    conn: Connection, principal: Principal, experience_id: str, *, allow_deleted: bool = False
) -> dict[str, Any]:
    """Any version of one of my experiences; 404 when it is not mine (or is deleted)."""
    row = repo.get_experience(conn, principal.user_id, experience_id)
    if row is None or (row["deleted_at"] is not None and not allow_deleted):
        raise NotFound("No such experience.")
    return row


def lineage(graph: list[dict[str, Any]], version_id: str) -> list[dict[str, Any]]:
    """The versions of the experience holding ``version_id``, oldest first."""
    by_id = {r["id"]: r for r in graph}
    successor = {r["previous_version_id"]: r for r in graph if r["previous_version_id"]}
    node = by_id[version_id]
    while node["previous_version_id"] in by_id:
        node = by_id[node["previous_version_id"]]
    chain = []
    current: dict[str, Any] | None = node
    while current is not None:
        chain.append(current)
        current = successor.get(current["id"])
    return chain


def current_version_of(
    conn: Connection, principal: Principal, row: Mapping[str, Any]
) -> dict[str, Any]:
    """The current version of the experience ``row`` belongs to (404 when deleted)."""
    if row["is_current_version"]:
        current = dict(row)
    else:
        graph = repo.version_graph(conn, principal.user_id, row["report_id"])
        newest = lineage(graph, row["id"])[-1]
        current = owned_experience(conn, principal, newest["id"], allow_deleted=True)
    if current["deleted_at"] is not None:
        raise NotFound("No such experience.")
    return current


def _require_current(row: Mapping[str, Any], seen: int, current: Mapping[str, Any]) -> None:
    if not row["is_current_version"] or row["version_number"] != seen:
        raise StaleVersion(
            f"Version {seen} is not the current version of this experience (version "
            f"{current['version_number']}, id {current['id']}). Reload it and apply your "
            "change again.",
            current_version_id=current["id"],
            current_version_number=current["version_number"],
        )


# -- routes' entry points ----------------------------------------------------------------------


def experience_exists(principal: Principal, experience_id: str) -> None:
    with get_database().transaction() as conn:
        owned_experience(conn, principal, experience_id)


def create_experience(
    principal: Principal, report_id: str, body: CpaExperienceCreate
) -> dict[str, Any]:
    """Add a write-up to one of my editable reports (version 1)."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        report = owned_report(conn, principal, report_id)
        require_editable(report)
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        row = insert_version(conn, principal, report, framework, body.model_dump(), now)
        touch_report(conn, report, now)
        record_milestones(
            conn, principal.user_id, framework.version, {row["sub_competency_code"]}, now
        )
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="cpa_experience",
            target_id=row["id"],
            details={"report_id": report_id, "code": row["sub_competency_code"]},
        )
    return experience_json(row, framework)


def list_experiences(principal: Principal, report_id: str, query: CpaPageQuery) -> dict[str, Any]:
    """Current versions of a report's experiences, opened, keyset-paginated."""
    key = decode_cursor(query.cursor, 1)
    with get_database().transaction() as conn:
        report = owned_report(conn, principal, report_id)
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        rows = repo.current_experiences(
            conn, principal.user_id, report_id, limit=query.limit, after=key[0] if key else None
        )
        page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
        opened = field_cipher(conn).open_rows(TABLE, page, user_id=principal.user_id, tolerant=True)
    return page_body([experience_json(r, framework) for r in opened], cursor, query.limit)


def get_experience(principal: Principal, experience_id: str) -> dict[str, Any]:
    """One version (current or not) of one of my experiences, opened."""
    with get_database().transaction() as conn:
        row = owned_experience(conn, principal, experience_id)
        framework = framework_for(conn, row["framework_version"], field="framework_version")
        opened = _opened(conn, principal, row, tolerant=True)
        current = row if row["is_current_version"] else current_version_of(conn, principal, row)
    body = experience_json(opened, framework)
    body["current_version_id"] = current["id"]
    return body


def update_experience(
    principal: Principal, experience_id: str, body: CpaExperienceUpdate
) -> dict[str, Any]:
    """Edit the current version: a new version is written, the old one is kept."""
    changes = body.model_dump(exclude_unset=True, exclude={"version_number"})
    for name in ("sub_competency_code", "experience_title", "experience_start_date"):
        if name in changes and changes[name] is None:
            raise ValidationProblem(
                "One or more fields are invalid.",
                errors=[{"field": name, "message": "may be changed but not removed"}],
            )
    if "proficiency_level" in changes and changes["proficiency_level"] is None:
        raise ValidationProblem(
            "One or more fields are invalid.",
            errors=[{"field": "proficiency_level", "message": "may be changed but not removed"}],
        )
    return _new_version(principal, experience_id, body.version_number, changes, restore=False)


def restore_version(principal: Principal, version_id: str, seen_current: int) -> dict[str, Any]:
    """Make an older version's content current again, as a new version."""
    return _new_version(principal, version_id, seen_current, {}, restore=True)


def _new_version(
    principal: Principal,
    experience_id: str,
    seen: int,
    changes: dict[str, Any],
    *,
    restore: bool,
) -> dict[str, Any]:
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = owned_experience(conn, principal, experience_id, allow_deleted=restore)
        current = current_version_of(conn, principal, row)
        report = owned_report(conn, principal, row["report_id"])
        if restore:
            if current["version_number"] != seen:
                _require_current(current, seen, current)  # raises: stale
            if row["id"] == current["id"]:
                raise Conflict(
                    "That version is already the current one.", slug="cpa-already-current"
                )
            source = _opened(conn, principal, row)
        else:
            _require_current(row, seen, current)
            source = {**_opened(conn, principal, row), **changes}
        require_editable(report)
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        if not repo.retire_current(conn, current["id"], now):
            raise StaleVersion("The experience changed while this request ran; try again.")
        new = insert_version(conn, principal, report, framework, source, now, previous=current)
        repo.move_children(conn, current["id"], new["id"], now)
        touch_report(conn, report, now)
        record_milestones(
            conn,
            principal.user_id,
            framework.version,
            {new["sub_competency_code"], current["sub_competency_code"]},
            now,
        )
        details: dict[str, Any] = {
            "version_number": new["version_number"],
            "previous_version_id": current["id"],
        }
        if restore:
            details["restored_from"] = row["id"]
        else:
            details["fields"] = sorted(changes)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_experience",
            target_id=new["id"],
            details=details,
        )
    return experience_json(new, framework)


def list_versions(principal: Principal, experience_id: str, query: CpaPageQuery) -> dict[str, Any]:
    """Every version of the experience, newest first (metadata and counts, no text)."""
    key = decode_cursor(query.cursor, 1)
    before = None
    if key is not None:
        if not key[0].isdigit():
            raise ValidationProblem(
                "One or more query parameters are invalid.",
                errors=[{"field": "cursor", "message": "not a cursor returned by this list"}],
            )
        before = int(key[0])
    with get_database().transaction() as conn:
        row = owned_experience(conn, principal, experience_id, allow_deleted=True)
        graph = repo.version_graph(conn, principal.user_id, row["report_id"])
    chain = list(reversed(lineage(graph, row["id"])))
    if before is not None:
        chain = [v for v in chain if v["version_number"] < before]
    page, cursor = paginate(chain, query.limit, lambda v: (str(v["version_number"]),))
    items = [
        {
            "id": v["id"],
            "version_number": v["version_number"],
            "previous_version_id": v["previous_version_id"],
            "is_current_version": v["is_current_version"],
            "deleted_at": iso(v["deleted_at"]),
            "sub_competency_code": v["sub_competency_code"],
            "experience_title": v["experience_title"],
            "proficiency_level": v["proficiency_level"],
            "character_count": v["character_count"],
            "word_count": v["word_count"],
            "approval_status": v["approval_status"],
            "created_at": iso(v["created_at"]),
        }
        for v in page
    ]
    return page_body(items, cursor, query.limit)


def delete_experience(principal: Principal, experience_id: str, seen: int) -> None:
    """Remove an experience from its report (soft delete of the current version)."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = owned_experience(conn, principal, experience_id)
        current = current_version_of(conn, principal, row)
        _require_current(row, seen, current)
        report = owned_report(conn, principal, row["report_id"])
        require_editable(report)
        repo.update_experience(conn, row["id"], {"deleted_at": now, "updated_at": now})
        touch_report(conn, report, now)
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="cpa_experience",
            target_id=row["id"],
        )


def review_experience(
    principal: Principal, experience_id: str, body: ExperienceReview
) -> dict[str, Any]:
    """Record the reviewer's assessment of a submitted experience, apart from my own level."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = owned_experience(conn, principal, experience_id)
        current = current_version_of(conn, principal, row)
        if row["id"] != current["id"]:
            raise StaleVersion(
                "Reviews are recorded on the current version.",
                current_version_id=current["id"],
                current_version_number=current["version_number"],
            )
        report = owned_report(conn, principal, row["report_id"])
        if report["status"] not in ("submitted", "reviewed"):
            raise InvalidTransition(
                f"The report is {report['status']}; a reviewer's assessment is recorded once "
                "the report has been submitted.",
            )
        # A level given with a rejection or revision request is kept for the record, but
        # only an approved experience counts as reviewer-confirmed progress.
        values = {
            "approval_status": body.approval_status,
            "approved_level": body.approved_level,
            "updated_at": now,
        }
        repo.update_experience(conn, row["id"], values)
        if report["status"] == "submitted":
            touch_report(conn, report, now, status="reviewed", reviewed_at=now)
        else:
            touch_report(conn, report, now)
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        record_milestones(
            conn, principal.user_id, framework.version, {row["sub_competency_code"]}, now
        )
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_experience",
            target_id=row["id"],
            details={
                "approval_status": body.approval_status,
                "approved_level": body.approved_level,
            },
        )
        opened = _opened(conn, principal, {**row, **values}, tolerant=True)
    return experience_json(opened, framework)
