"""CPA PERT rules, part 4: submissions (frozen reports), their history, and exports.

A submission freezes a report as it is: a canonical payload and its SHA-256
(:mod:`pathfinder.cpa.exports`). Three types:

- ``draft``: a snapshot to preview or export; the report stays editable; may be deleted.
- ``final``: the report as the candidate sends it through PERT; the report becomes
  ``submitted`` and can no longer be edited; the submission can never be changed or
  deleted, only its review status recorded.
- ``revision``: like final, for a report whose review asked for changes.

Review outcomes are recorded by the candidate (Pathfinder has no line to the provincial
bodies): ``accepted`` makes the report accepted; ``needs_changes`` or ``rejected`` make it
``revision_requested`` (editable again); ``withdrawn`` returns it to where it was before
the submission. Every status change of a submission is a history row with who and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound, Problem
from pathfinder.auth.principal import Principal
from pathfinder.cpa import exports, narrative, repo
from pathfinder.cpa.errors import InvalidTransition, ResponseTooLong, SubmissionImmutable, invalid
from pathfinder.cpa.experiences import TABLE as EXPERIENCES_TABLE
from pathfinder.cpa.paging import CpaPageQuery, decode_cursor, page_body, paginate
from pathfinder.cpa.schemas import SubmissionCreate, SubmissionStatusChange
from pathfinder.cpa.service import (
    framework_for,
    iso,
    owned_report,
    require_version,
    touch_report,
    utcnow,
)
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.security.fields import field_cipher

# What a final or revision submission needs the report's status to be.
REQUIRED_REPORT_STATUS = {"final": "draft", "revision": "revision_requested"}
FIRST_ACTION = {"draft": "created", "final": "submitted", "revision": "revised"}
# Recorded outcome -> (history action, report status afterwards).
OUTCOMES = {
    "accepted": ("accepted", "accepted"),
    "needs_changes": ("reviewed", "revision_requested"),
    "rejected": ("rejected", "revision_requested"),
}


class SubmissionIntegrityError(Problem):
    status = 500
    slug = "cpa-submission-integrity"
    title = "The submission does not match its checksum"


def submission_json(row: Mapping[str, Any]) -> dict[str, Any]:
    body = {
        "id": row["id"],
        "report_id": row["report_id"],
        "submission_type": row["submission_type"],
        "status": row["status"],
        "report_version": row["report_version"],
        "checksum_sha256": row["checksum_sha256"],
        "is_final": row["is_final"],
        "cpa_reference_number": row.get("cpa_reference_number"),
        "cpa_confirmation_code": row.get("cpa_confirmation_code"),
        "experience_count": row.get("experience_count"),
        "total_word_count": row.get("total_word_count"),
        "submitted_at": iso(row["submitted_at"]),
        "created_at": iso(row["created_at"]),
    }
    payload = row.get("payload")
    if payload is not None:
        body["totals"] = payload["totals"]
        body["experiences"] = [
            {
                "id": e["id"],
                "sub_competency_code": e["sub_competency_code"],
                "title": e["title"],
                "proficiency_level": e["proficiency_level"],
                "character_count": e["character_count"],
                "word_count": e["word_count"],
            }
            for e in payload["experiences"]
        ]
    return body


def history_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "action": row["action"],
        "previous_status": row["previous_status"],
        "new_status": row["new_status"],
        "actor_id": row["actor_id"],
        "notes": row["notes"],
        "created_at": iso(row["created_at"]),
    }


def _history(
    conn: Connection,
    principal: Principal,
    submission_id: str,
    action: str,
    previous: str | None,
    new: str,
    now: datetime,
    notes: str | None = None,
) -> None:
    repo.insert_history(
        conn,
        {
            "id": new_id(),
            "submission_id": submission_id,
            "action": action,
            "previous_status": previous,
            "new_status": new,
            "actor_id": principal.user_id,
            "notes": notes,
            "created_at": now,
        },
    )


def _owned_submission(conn: Connection, principal: Principal, submission_id: str) -> dict[str, Any]:
    row = repo.get_submission(conn, principal.user_id, submission_id)
    if row is None:
        raise NotFound("No such submission.")
    return row


def submission_exists(principal: Principal, submission_id: str) -> None:
    with get_database().transaction() as conn:
        _owned_submission(conn, principal, submission_id)


def create_submission(
    principal: Principal, report_id: str, body: SubmissionCreate
) -> dict[str, Any]:
    """Freeze the report at ``body.version`` into a submission with its checksum."""
    now = utcnow()
    kind = body.submission_type
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        report = owned_report(conn, principal, report_id)
        require_version(report, body.version)
        needed = REQUIRED_REPORT_STATUS.get(kind)
        if needed is not None and report["status"] != needed:
            raise InvalidTransition(
                f"A {kind} submission needs the report to be {needed.replace('_', ' ')}; "
                f"it is {report['status'].replace('_', ' ')}.",
                status_value=report["status"],
            )
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        rows = repo.current_experiences(conn, principal.user_id, report_id, limit=None, after=None)
        if not rows:
            raise invalid("report", "add at least one experience before submitting")
        opened = field_cipher(conn).open_rows(EXPERIENCES_TABLE, rows, user_id=principal.user_id)
        limit = narrative.response_char_limit()
        over = [r for r in opened if narrative.count(r, limit).over_limit]
        if over:
            raise ResponseTooLong(
                f"{len(over)} response(s) are over the {limit:,}-character limit: "
                + ", ".join(f"{r['sub_competency_code']} ({r['id']})" for r in over)
                + ". Shorten them before submitting.",
                experience_ids=[r["id"] for r in over],
                errors=[{"field": "report", "message": "an experience is over the limit"}],
            )
        submission_id = new_id()
        payload = exports.build_payload(
            report=report,
            experiences=opened,
            framework=framework,
            username=principal.username,
            submission_id=submission_id,
            submission_type=kind,
            character_limit=limit,
            prepared_at=now,
        )
        is_final = kind in REQUIRED_REPORT_STATUS
        row = {
            "id": submission_id,
            "report_id": report_id,
            "user_id": principal.user_id,
            "submission_type": kind,
            "status": "pending",
            "report_version": report["version"],
            "payload": exports.without_texts(payload),
            "checksum_sha256": exports.checksum(payload),
            "submitted_at": now if is_final else None,
            "is_final": is_final,
            "cpa_reference_number": body.cpa_reference_number,
            "cpa_confirmation_code": body.cpa_confirmation_code,
            "experience_count": payload["totals"]["experiences"],
            "total_word_count": payload["totals"]["words"],
            "created_at": now,
        }
        repo.insert_submission(conn, row)
        _history(conn, principal, submission_id, FIRST_ACTION[kind], None, "pending", now)
        if is_final:
            touch_report(conn, report, now, status="submitted", submitted_at=now)
            repo.set_report_approval(conn, report_id, "submitted", now)
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="cpa_submission",
            target_id=submission_id,
            details={"report_id": report_id, "type": kind, "checksum": row["checksum_sha256"]},
        )
    return submission_json(row)


def list_submissions(principal: Principal, report_id: str, query: CpaPageQuery) -> dict[str, Any]:
    key = decode_cursor(query.cursor, 1)
    with get_database().transaction() as conn:
        owned_report(conn, principal, report_id)
        rows = repo.list_submissions(
            conn, principal.user_id, report_id, limit=query.limit, after=key[0] if key else None
        )
    page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
    return page_body([submission_json(r) for r in page], cursor, query.limit)


def get_submission(principal: Principal, submission_id: str) -> dict[str, Any]:
    with get_database().transaction() as conn:
        row = _owned_submission(conn, principal, submission_id)
    return submission_json(row)


def change_status(
    principal: Principal, submission_id: str, body: SubmissionStatusChange
) -> dict[str, Any]:
    """Record a review outcome (or a withdrawal) of a final or revision submission."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = _owned_submission(conn, principal, submission_id)
        if not row["is_final"]:
            raise InvalidTransition(
                "A draft snapshot is never reviewed; make a final submission to record a "
                "review outcome."
            )
        if row["status"] != "pending":
            raise InvalidTransition(
                f"The submission is already {row['status'].replace('_', ' ')}; a recorded "
                "outcome is final.",
                status_value=row["status"],
            )
        latest = repo.latest_final_submission(conn, row["report_id"])
        if latest is None or latest["id"] != row["id"]:
            raise InvalidTransition("A newer submission of this report supersedes this one.")
        report = owned_report(conn, principal, row["report_id"])
        if body.status == "withdrawn":
            action = "withdrawn"
            back = "draft" if row["submission_type"] == "final" else "revision_requested"
            report_values: dict[str, Any] = {"status": back}
            repo.set_report_approval(conn, report["id"], "draft", now)
        else:
            action, report_status = OUTCOMES[body.status]
            report_values = {"status": report_status, "reviewed_at": now}
        references = {
            name: getattr(body, name)
            for name in ("cpa_reference_number", "cpa_confirmation_code")
            if getattr(body, name) is not None
        }
        repo.update_submission_status(conn, submission_id, body.status, **references)
        _history(conn, principal, submission_id, action, "pending", body.status, now, body.notes)
        updated = touch_report(conn, report, now, **report_values)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_submission",
            target_id=submission_id,
            details={"status": body.status, "report_status": updated["status"]},
        )
    result = submission_json({**row, **references, "status": body.status})
    result["report_status"] = updated["status"]
    result["report_version"] = updated["version"]
    return result


def delete_submission(principal: Principal, submission_id: str) -> None:
    """Delete a draft snapshot; a final or revision submission is immutable (409)."""
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = _owned_submission(conn, principal, submission_id)
        if row["is_final"]:
            raise SubmissionImmutable(
                "A final submission is kept as it was sent; record a withdrawal instead."
            )
        repo.delete_submission(conn, submission_id)
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="cpa_submission",
            target_id=submission_id,
        )


def list_history(principal: Principal, submission_id: str, query: CpaPageQuery) -> dict[str, Any]:
    key = decode_cursor(query.cursor, 1)
    with get_database().transaction() as conn:
        _owned_submission(conn, principal, submission_id)
        rows = repo.list_history(
            conn, submission_id, limit=query.limit, after=key[0] if key else None
        )
    page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
    return page_body([history_json(r) for r in page], cursor, query.limit)


def full_payload(conn: Connection, principal: Principal, row: Mapping[str, Any]) -> dict[str, Any]:
    """The stored payload with its narratives opened, checked against the checksum."""
    stored = row["payload"]
    ids = [e["id"] for e in stored["experiences"]]
    versions = repo.experiences_by_id(conn, principal.user_id, ids)
    cipher = field_cipher(conn)
    texts = {
        eid: cipher.open_row(EXPERIENCES_TABLE, version, user_id=principal.user_id)
        for eid, version in versions.items()
    }
    try:
        payload = exports.with_texts(stored, texts)
    except LookupError as exc:
        raise SubmissionIntegrityError(str(exc)) from None
    if exports.checksum(payload) != row["checksum_sha256"]:
        raise SubmissionIntegrityError(
            "The rebuilt payload does not match the stored checksum; it was not exported."
        )
    return payload


def export_submission(principal: Principal, submission_id: str, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of a submission in ``fmt``.

    Rendering happens outside any transaction (a SQLite transaction holds the write lock);
    the audit row is written afterwards, and a failure there means no export is returned.
    """
    with get_database().transaction() as conn:
        row = _owned_submission(conn, principal, submission_id)
        payload = full_payload(conn, principal, row)
    meta = submission_json({**row, "payload": None})
    content = exports.render(fmt, payload, meta)
    with get_database().transaction() as conn:
        audit.record(
            conn,
            "data_export",
            actor=principal,
            target_type="cpa_submission",
            target_id=submission_id,
            details={"format": fmt, "bytes": len(content)},
        )
    return content, exports.MEDIA_TYPES[fmt], f"pert-submission-{submission_id}.{fmt}"
