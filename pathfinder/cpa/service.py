"""CPA PERT rules, part 1: the framework, report periods, progress and milestones.

Experiences live in :mod:`pathfinder.cpa.experiences`, activities and time in
:mod:`pathfinder.cpa.tracking`, submissions in :mod:`pathfinder.cpa.submissions` and the
per-user drafts in :mod:`pathfinder.cpa.drafts`; they share the helpers defined here.

Every change runs in one transaction with its audit row, after locking the owner's user
row (:func:`repo.lock_owner`), so two requests of one user cannot both pass an overlap check
or both record the same milestone. A report's ``version`` is its optimistic lock: every
change to the report or to anything in it (experiences, submissions, status) increments
it, and a change made against an older version is a 409.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.cpa import repo
from pathfinder.cpa.errors import PeriodOverlap, ReportLocked, StaleVersion, invalid
from pathfinder.cpa.framework import (
    Framework,
    default_version,
    load_framework,
    serialise_framework,
)
from pathfinder.cpa.paging import CpaPageQuery, decode_cursor, page_body, paginate
from pathfinder.cpa.progress import (
    Evidence,
    Period,
    evaluate,
    period_months,
    period_warnings,
    to_json,
)
from pathfinder.cpa.schemas import MilestoneQuery, ProgressQuery, ReportCreate, ReportUpdate
from pathfinder.db import get_database
from pathfinder.ids import new_id

# A report can be edited while the candidate is writing it or revising it after review.
EDITABLE_STATUSES = ("draft", "revision_requested")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def hours(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


# -- framework ---------------------------------------------------------------------------------


def framework_for(
    conn: Connection, version: str | None, *, field: str, on: date | None = None
) -> Framework:
    """The framework ``version`` (or the one in force on ``on``); 422 naming ``field``."""
    chosen = version or default_version(conn, on)
    framework = load_framework(conn, chosen) if chosen else None
    if framework is None:
        raise invalid(field, f"unknown framework version {chosen!r}")
    return framework


def get_framework(version: str | None) -> dict[str, Any]:
    """The framework with its areas, competencies and level descriptors."""
    with get_database().transaction() as conn:
        chosen = version or default_version(conn)
        framework = load_framework(conn, chosen) if chosen else None
    if framework is None:
        raise NotFound(f"No competency framework {chosen!r}; run `pathfinder db init`.")
    return serialise_framework(framework)


# -- reports -----------------------------------------------------------------------------------


def report_json(row: dict[str, Any], warnings: list[Any] | None = None) -> dict[str, Any]:
    period = Period(row["period_start"], row["period_end"], row["route"])
    return {
        "id": row["id"],
        "route": row["route"],
        "framework_version": row["framework_version"],
        "employer_name": row["employer_name"],
        "position_title": row["position_title"],
        "period_start": iso(row["period_start"]),
        "period_end": iso(row["period_end"]),
        "period_months": round(period_months(period), 2),
        "hours_worked": hours(row["hours_worked"]),
        "leave_days": row["leave_days"],
        "submission_deadline": iso(row.get("submission_deadline")),
        "status": row["status"],
        "version": row["version"],
        "submitted_at": iso(row["submitted_at"]),
        "reviewed_at": iso(row["reviewed_at"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        **({"warnings": warnings} if warnings is not None else {}),
    }


def owned_report(conn: Connection, principal: Principal, report_id: str) -> dict[str, Any]:
    """The caller's live report, or 404 (another user's report does not exist for them)."""
    row = repo.get_report(conn, principal.user_id, report_id)
    if row is None:
        raise NotFound("No such report.")
    return row


def require_editable(report: dict[str, Any]) -> None:
    if report["status"] not in EDITABLE_STATUSES:
        raise ReportLocked(
            f"The report is {report['status']}; it can be changed only while it is a draft "
            "or after a revision was requested.",
            status_value=report["status"],
        )


def require_version(report: dict[str, Any], seen: int) -> None:
    if report["version"] != seen:
        raise StaleVersion(
            f"The report is at version {report['version']}, not {seen}: someone changed it "
            "since you read it. Reload it and apply your change again.",
            current_version=report["version"],
        )


def touch_report(
    conn: Connection, report: dict[str, Any], now: datetime, **values: Any
) -> dict[str, Any]:
    """Bump the report's version (and apply ``values``) after a change inside it."""
    if not repo.update_report(
        conn, report["user_id"], report["id"], report["version"], {**values, "updated_at": now}
    ):
        raise StaleVersion("The report changed while this request ran; try again.")
    return {**report, **values, "version": report["version"] + 1, "updated_at": now}


def _check_overlap(
    conn: Connection, user_id: str, start: date, end: date, exclude_id: str | None
) -> None:
    clash = repo.overlapping_reports(conn, user_id, start, end, exclude_id=exclude_id)
    if clash:
        other = clash[0]
        raise PeriodOverlap(
            f"The period {start.isoformat()} to {end.isoformat()} overlaps your report "
            f"{other['id']} ({other['period_start'].isoformat()} to "
            f"{other['period_end'].isoformat()}, {other['employer_name']}). Report periods "
            "must follow each other without overlapping; overlapping jobs cannot both count.",
            conflicting_report_id=other["id"],
        )


def _report_warnings(
    conn: Connection, report: dict[str, Any], framework: Framework
) -> list[dict[str, Any]]:
    """Length of this period, and gaps before and after it (warnings, never errors)."""
    rows = repo.all_reports(conn, report["user_id"])
    before = [r for r in rows if r["period_end"] < report["period_start"]]
    after = [r for r in rows if r["period_start"] > report["period_end"]]
    near = [*before[-1:], report, *after[:1]]
    periods = [Period(r["period_start"], r["period_end"], r["route"], 0, r["id"]) for r in near]
    found = period_warnings(periods, framework.rules)
    keep = [w for w in found if w.code != "period_length" or w.ref == report["id"]]
    return to_json(keep)


def list_reports(principal: Principal, query: CpaPageQuery) -> dict[str, Any]:
    """My reports in period order, keyset-paginated."""
    key = decode_cursor(query.cursor, 2)
    after = None
    if key is not None:
        try:
            after = (date.fromisoformat(key[0]), key[1])
        except ValueError:
            raise invalid("cursor", "not a cursor returned by this list") from None
    with get_database().transaction() as conn:
        rows = repo.list_reports(conn, principal.user_id, limit=query.limit, after=after)
    page, cursor = paginate(rows, query.limit, lambda r: (r["period_start"].isoformat(), r["id"]))
    return page_body([report_json(r) for r in page], cursor, query.limit)


def create_report(principal: Principal, body: ReportCreate) -> dict[str, Any]:
    """A new draft report period; 409 when it overlaps another of my periods."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        framework = framework_for(
            conn, body.framework_version, field="framework_version", on=body.period_start
        )
        _check_overlap(conn, principal.user_id, body.period_start, body.period_end, None)
        row = {
            "id": new_id(),
            "user_id": principal.user_id,
            "route": body.route,
            "framework_version": framework.version,
            "employer_name": body.employer_name,
            "position_title": body.position_title,
            "period_start": body.period_start,
            "period_end": body.period_end,
            "hours_worked": body.hours_worked,
            "leave_days": body.leave_days,
            "submission_deadline": body.submission_deadline,
            "status": "draft",
            "version": 1,
            "submitted_at": None,
            "reviewed_at": None,
            "deleted_at": None,
            "created_at": now,
            "updated_at": now,
        }
        repo.insert_report(conn, row)
        warnings = _report_warnings(conn, row, framework)
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="cpa_report",
            target_id=row["id"],
            details={"route": body.route},
        )
    return report_json(row, warnings)


def get_report(principal: Principal, report_id: str) -> dict[str, Any]:
    """One of my reports, with its warnings and how many experiences it holds."""
    with get_database().transaction() as conn:
        row = owned_report(conn, principal, report_id)
        framework = framework_for(conn, row["framework_version"], field="framework_version")
        warnings = _report_warnings(conn, row, framework)
        count = len(
            repo.current_experiences(conn, principal.user_id, report_id, limit=None, after=None)
        )
    body = report_json(row, warnings)
    body["experience_count"] = count
    return body


def report_exists(principal: Principal, report_id: str) -> None:
    """404 unless ``report_id`` is one of my live reports (checked before a bad body's 422)."""
    with get_database().transaction() as conn:
        owned_report(conn, principal, report_id)


def update_report(principal: Principal, report_id: str, body: ReportUpdate) -> dict[str, Any]:
    """Change a draft report's fields; 409 on a stale ``version``, overlap or locked status."""
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    for name in ("route", "employer_name", "position_title", "period_start", "period_end"):
        if name in changes and changes[name] is None:
            raise invalid(name, "may be changed but not removed")
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        report = owned_report(conn, principal, report_id)
        require_version(report, body.version)
        require_editable(report)
        start = changes.get("period_start", report["period_start"])
        end = changes.get("period_end", report["period_end"])
        if end <= start:
            raise invalid("period_end", "must be after period_start")
        if start != report["period_start"] or end != report["period_end"]:
            _check_overlap(conn, principal.user_id, start, end, report_id)
            _check_experiences_inside(conn, principal, report_id, start, end)
        updated = touch_report(conn, report, now, **changes)
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        warnings = _report_warnings(conn, updated, framework)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_report",
            target_id=report_id,
            details={"fields": sorted(changes), "version": updated["version"]},
        )
    return report_json(updated, warnings)


def _check_experiences_inside(
    conn: Connection, principal: Principal, report_id: str, start: date, end: date
) -> None:
    rows = repo.current_experiences(conn, principal.user_id, report_id, limit=None, after=None)
    outside = [
        r["id"]
        for r in rows
        if r["experience_start_date"] < start
        or (r["experience_end_date"] or r["experience_start_date"]) > end
    ]
    if outside:
        raise ValidationProblem(
            "The new period would leave experiences outside it; change their dates first.",
            errors=[
                {"field": "period_start", "message": f"experience {eid} falls outside the period"}
                for eid in outside
            ],
        )


def delete_report(principal: Principal, report_id: str, version: int) -> None:
    """Remove a draft report that was never finally submitted (kept as a soft delete)."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        report = owned_report(conn, principal, report_id)
        require_version(report, version)
        if report["status"] != "draft" or repo.has_final_submission(conn, report_id):
            raise ReportLocked(
                "Only a draft report that was never submitted can be deleted.",
                status_value=report["status"],
            )
        touch_report(conn, report, now, deleted_at=now)
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="cpa_report",
            target_id=report_id,
        )


# -- progress and milestones -------------------------------------------------------------------


def evidence_of(rows: list[dict[str, Any]]) -> tuple[list[Evidence], list[Evidence]]:
    """Self-assessed and reviewer-confirmed evidence, kept apart, from experience rows.

    An experience shows its competency on its end date (its start date while ongoing).
    A reviewer level counts only when the reviewer approved the experience.
    """
    own: list[Evidence] = []
    confirmed: list[Evidence] = []
    for r in rows:
        on = r["experience_end_date"] or r["experience_start_date"]
        own.append(Evidence(r["sub_competency_code"], r["proficiency_level"], on))
        if r["approval_status"] == "approved" and r["approved_level"] is not None:
            confirmed.append(Evidence(r["sub_competency_code"], r["approved_level"], on))
    return own, confirmed


def progress(principal: Principal, query: ProgressQuery) -> dict[str, Any]:
    """Duration, technical and enabling status, deadlines and warnings on ``as_of``."""
    from pathfinder.cpa.meetings import last_meeting_date, meeting_deadline

    as_of = query.as_of or date.today()
    with get_database().transaction() as conn:
        reports = repo.all_reports(conn, principal.user_id)
        version = query.framework_version or (reports[-1]["framework_version"] if reports else None)
        framework = framework_for(conn, version, field="framework_version")
        rows = repo.evidence_rows(conn, principal.user_id, framework.version)
        last_meeting = last_meeting_date(conn, principal.user_id)
    own, confirmed = evidence_of(rows)
    periods = [
        Period(r["period_start"], r["period_end"], r["route"], r["leave_days"] or 0, r["id"])
        for r in reports
    ]
    result = evaluate(
        framework_version=framework.version,
        rules=framework.rules,
        competencies=framework.refs,
        periods=periods,
        self_evidence=own,
        reviewer_evidence=confirmed,
        as_of=as_of,
        per_start=query.per_start_date,
    )
    if not result.duration.met:
        per_start = query.per_start_date or min((p.start for p in periods), default=None)
        meeting = meeting_deadline(
            last_meeting, per_start, as_of, framework.rules.mentor_meeting_interval_months
        )
        if meeting is not None:
            result.deadlines.append(meeting[0])
            if meeting[1] is not None:
                result.warnings.append(meeting[1])
    body = to_json(result)
    body["periods"] = [
        {
            "report_id": r["id"],
            "route": r["route"],
            "period_start": iso(r["period_start"]),
            "period_end": iso(r["period_end"]),
            "leave_days": r["leave_days"] or 0,
            "status": r["status"],
        }
        for r in reports
    ]
    body["hours_note"] = (
        "Hours are optional supporting data; progress toward the PER is measured in months "
        "and competency levels."
    )
    return body


def _showing(rows: list[dict[str, Any]], code: str, level: int, source: str) -> list[str]:
    """Ids of the experiences that show ``code`` at ``level`` or higher for ``source``."""
    shown = []
    for r in rows:
        if r["sub_competency_code"] != code:
            continue
        if source == "self":
            reached = r["proficiency_level"]
        else:
            reached = r["approved_level"] if r["approval_status"] == "approved" else None
        if reached is not None and reached >= level:
            shown.append(str(r["id"]))
    return sorted(shown)


def record_milestones(
    conn: Connection, user_id: str, framework_version: str, codes: set[str], now: datetime
) -> None:
    """Record the first time each of ``codes`` reaches a new highest level, per source."""
    rows = repo.evidence_rows(conn, user_id, framework_version)
    own, confirmed = evidence_of(rows)
    for source, evidence in (("self", own), ("reviewer", confirmed)):
        for code in sorted(codes):
            shown = [e for e in evidence if e.code == code]
            if not shown:
                continue
            top = max(e.level for e in shown)
            previous = repo.highest_milestone(conn, user_id, framework_version, code, source)
            if previous is not None and top <= previous:
                continue
            key_experiences = _showing(rows, code, top, source)
            repo.insert_milestone(
                conn,
                {
                    "id": new_id(),
                    "user_id": user_id,
                    "framework_version": framework_version,
                    "sub_competency_code": code,
                    "previous_level": previous,
                    "achieved_level": top,
                    "achieved_on": min(e.on for e in shown if e.level == top),
                    "evidence_count": sum(1 for e in shown if e.level >= top),
                    "source": source,
                    "notes": None,
                    "hours_accumulated": repo.hours_logged(conn, key_experiences),
                    "key_experiences": key_experiences,
                    "created_at": now,
                },
            )


def list_milestones(principal: Principal, query: MilestoneQuery) -> dict[str, Any]:
    """When each competency first reached each level, oldest first."""
    key = decode_cursor(query.cursor, 2)
    after = None
    if key is not None:
        try:
            after = (date.fromisoformat(key[0]), key[1])
        except ValueError:
            raise invalid("cursor", "not a cursor returned by this list") from None
    with get_database().transaction() as conn:
        rows = repo.list_milestones(
            conn, principal.user_id, source=query.source, limit=query.limit, after=after
        )
    page, cursor = paginate(rows, query.limit, lambda r: (r["achieved_on"].isoformat(), r["id"]))
    items = [
        {
            "id": r["id"],
            "framework_version": r["framework_version"],
            "sub_competency_code": r["sub_competency_code"],
            "previous_level": r["previous_level"],
            "achieved_level": r["achieved_level"],
            "achieved_on": iso(r["achieved_on"]),
            "evidence_count": r["evidence_count"],
            "source": r["source"],
            "hours_accumulated": hours(r["hours_accumulated"]),
            "key_experiences": r["key_experiences"] or [],
            "created_at": iso(r["created_at"]),
        }
        for r in page
    ]
    return page_body(items, cursor, query.limit)
