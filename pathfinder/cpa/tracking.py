"""CPA PERT rules, part 3: an experience's activities (breakdown) and daily time entries.

Both are optional supporting data: the PER measures months and competency levels, never
hours (hours matter for public-accounting licensing only). They belong to the experience,
not to one text version, so a URL may name any version and they follow each new version.
They can be kept up to date whatever the report's status, since a submission freezes the
write-ups, not these records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth.principal import Principal
from pathfinder.cpa import repo
from pathfinder.cpa.errors import DuplicateTimeEntry, invalid
from pathfinder.cpa.experiences import current_version_of, owned_experience
from pathfinder.cpa.framework import Framework
from pathfinder.cpa.paging import CpaPageQuery, decode_cursor, page_body, paginate
from pathfinder.cpa.schemas import ActivityCreate, ActivityUpdate, TimeEntryCreate, TimeEntryUpdate
from pathfinder.cpa.service import framework_for, iso, owned_report, utcnow
from pathfinder.db import get_database
from pathfinder.ids import new_id

DAY_HOURS = Decimal(24)


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def activity_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "experience_id": row["experience_id"],
        "activity_type": row["activity_type"],
        "activity_description": row["activity_description"],
        "start_date": iso(row["start_date"]),
        "end_date": iso(row["end_date"]),
        "hours_spent": _number(row["hours_spent"]),
        "competencies_demonstrated": row["competencies_demonstrated"] or [],
        "deliverables": row["deliverables"] or [],
        "business_impact": row.get("business_impact"),
        "sort_order": row["sort_order"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def time_entry_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "experience_id": row["experience_id"],
        "entry_date": iso(row["entry_date"]),
        "hours": _number(row["hours"]),
        "activity_category": row["activity_category"],
        "description": row["description"],
        # NULL in entries from before the flags existed: the seed's default, true.
        "is_billable": row.get("is_billable") is not False,
        "is_cpa_eligible": row.get("is_cpa_eligible") is not False,
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _experience_context(
    conn: Connection, principal: Principal, experience_id: str
) -> tuple[dict[str, Any], dict[str, Any], Framework]:
    """(current version, report, framework) of the experience ``experience_id`` names."""
    row = owned_experience(conn, principal, experience_id)
    current = current_version_of(conn, principal, row)
    report = owned_report(conn, principal, current["report_id"])
    framework = framework_for(conn, report["framework_version"], field="framework_version")
    return current, report, framework


def _check_activity(
    fields: Mapping[str, Any], report: Mapping[str, Any], framework: Framework
) -> None:
    errors: list[dict[str, str]] = []
    first, last = report["period_start"], report["period_end"]
    for name in ("start_date", "end_date"):
        value = fields.get(name)
        if value is not None and not first <= value <= last:
            errors.append(
                {
                    "field": name,
                    "message": f"must be within the report period {first.isoformat()} to "
                    f"{last.isoformat()}",
                }
            )
    start, end = fields.get("start_date"), fields.get("end_date")
    if start is not None and end is not None and end < start:
        errors.append({"field": "end_date", "message": "must not be before start_date"})
    for index, code in enumerate(fields.get("competencies_demonstrated") or []):
        if framework.competency(code) is None:
            errors.append(
                {
                    "field": f"competencies_demonstrated.{index}",
                    "message": f"{code} is not a competency of framework {framework.version}",
                }
            )
    if errors:
        raise ValidationProblem("One or more fields are invalid.", errors=errors)


# -- activities --------------------------------------------------------------------------------


def list_activities(
    principal: Principal, experience_id: str, query: CpaPageQuery
) -> dict[str, Any]:
    key = decode_cursor(query.cursor, 2)
    after = None
    if key is not None:
        if not key[0].isdigit():
            raise invalid("cursor", "not a cursor returned by this list")
        after = (int(key[0]), key[1])
    with get_database().transaction() as conn:
        current, _, _ = _experience_context(conn, principal, experience_id)
        rows = repo.list_activities(conn, current["id"], limit=query.limit, after=after)
    page, cursor = paginate(rows, query.limit, lambda r: (str(r["sort_order"]), r["id"]))
    return page_body([activity_json(r) for r in page], cursor, query.limit)


def create_activity(
    principal: Principal, experience_id: str, body: ActivityCreate
) -> dict[str, Any]:
    now = utcnow()
    fields = body.model_dump()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        current, report, framework = _experience_context(conn, principal, experience_id)
        _check_activity(fields, report, framework)
        if fields["sort_order"] is None:
            fields["sort_order"] = repo.next_sort_order(conn, current["id"])
        row = {
            "id": new_id(),
            "experience_id": current["id"],
            **fields,
            "created_at": now,
            "updated_at": now,
        }
        repo.insert_activity(conn, row)
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="cpa_activity",
            target_id=row["id"],
            details={"experience_id": current["id"]},
        )
    return activity_json(row)


def _owned_activity(conn: Connection, principal: Principal, activity_id: str) -> dict[str, Any]:
    row = repo.get_activity(conn, principal.user_id, activity_id)
    if row is None:
        raise NotFound("No such activity.")
    return row


def get_activity(principal: Principal, activity_id: str) -> dict[str, Any]:
    """One activity of my breakdowns (what ``If-Match`` on its PATCH compares with)."""
    with get_database().transaction() as conn:
        return activity_json(_owned_activity(conn, principal, activity_id))


def activity_exists(principal: Principal, activity_id: str) -> None:
    with get_database().transaction() as conn:
        _owned_activity(conn, principal, activity_id)


def update_activity(principal: Principal, activity_id: str, body: ActivityUpdate) -> dict[str, Any]:
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    for name in ("activity_type", "sort_order"):
        if name in changes and changes[name] is None:
            raise invalid(name, "may be changed but not removed")
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = _owned_activity(conn, principal, activity_id)
        report = owned_report(conn, principal, row["report_id"])
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        merged = {**row, **changes}
        _check_activity(merged, report, framework)
        repo.update_activity(conn, activity_id, {**changes, "updated_at": now})
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_activity",
            target_id=activity_id,
            details={"fields": sorted(changes)},
        )
    return activity_json({**merged, "updated_at": now})


def delete_activity(principal: Principal, activity_id: str) -> None:
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        _owned_activity(conn, principal, activity_id)
        repo.delete_activity(conn, activity_id)
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="cpa_activity",
            target_id=activity_id,
        )


# -- time entries ------------------------------------------------------------------------------


def _totals(conn: Connection, experience_id: str) -> dict[str, Any]:
    rows = repo.time_totals(conn, experience_id)
    by_category = {r["activity_category"]: float(r["hours"] or 0) for r in rows}
    return {
        "hours": round(sum(by_category.values()), 2),
        "entries": sum(int(r["entries"]) for r in rows),
        "by_category": by_category,
        "billable_hours": round(sum(float(r["billable_hours"] or 0) for r in rows), 2),
        "cpa_eligible_hours": round(sum(float(r["cpa_eligible_hours"] or 0) for r in rows), 2),
    }


def _check_day(
    conn: Connection,
    principal: Principal,
    day: date,
    hours: Decimal,
    *,
    exclude_entry_id: str | None = None,
) -> None:
    """A day has 24 hours across all my experiences, not 24 per experience."""
    logged = Decimal(
        str(repo.day_hours(conn, principal.user_id, day, exclude_entry_id=exclude_entry_id))
    )
    if logged + hours > DAY_HOURS:
        raise invalid(
            "hours",
            f"{day.isoformat()} already has {float(logged):g} hours logged across your "
            "experiences; a day has at most 24",
        )


def list_time_entries(
    principal: Principal, experience_id: str, query: CpaPageQuery
) -> dict[str, Any]:
    """Daily entries (keyset by date) with the experience's totals."""
    key = decode_cursor(query.cursor, 2)
    after = None
    if key is not None:
        try:
            after = (date.fromisoformat(key[0]), key[1])
        except ValueError:
            raise invalid("cursor", "not a cursor returned by this list") from None
    with get_database().transaction() as conn:
        current, _, _ = _experience_context(conn, principal, experience_id)
        rows = repo.list_time_entries(conn, current["id"], limit=query.limit, after=after)
        totals = _totals(conn, current["id"])
    page, cursor = paginate(rows, query.limit, lambda r: (r["entry_date"].isoformat(), r["id"]))
    body = page_body([time_entry_json(r) for r in page], cursor, query.limit)
    body["totals"] = totals
    return body


def create_time_entry(
    principal: Principal, experience_id: str, body: TimeEntryCreate
) -> dict[str, Any]:
    """One entry per experience and day (409 for a second), inside the experience's dates."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        current, report, _ = _experience_context(conn, principal, experience_id)
        first = current["experience_start_date"]
        last = current["experience_end_date"] or report["period_end"]
        if not first <= body.entry_date <= last:
            raise invalid(
                "entry_date",
                f"must be within the experience's dates {first.isoformat()} to {last.isoformat()}",
            )
        existing = repo.time_entry_on(conn, current["id"], body.entry_date)
        if existing is not None:
            raise DuplicateTimeEntry(
                f"This experience already has an entry for {body.entry_date.isoformat()}; "
                "change that one instead.",
                existing_entry_id=existing["id"],
            )
        _check_day(conn, principal, body.entry_date, body.hours)
        row = {
            "id": new_id(),
            "experience_id": current["id"],
            "entry_date": body.entry_date,
            "hours": body.hours,
            "activity_category": body.activity_category,
            "description": body.description,
            "is_billable": body.is_billable,
            "is_cpa_eligible": body.is_cpa_eligible,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with conn.begin_nested():
                repo.insert_time_entry(conn, row)
        except sa.exc.IntegrityError:
            raise DuplicateTimeEntry(
                f"This experience already has an entry for {body.entry_date.isoformat()}."
            ) from None
        totals = _totals(conn, current["id"])
        audit.record(
            conn,
            "sensitive_create",
            actor=principal,
            target_type="cpa_time_entry",
            target_id=row["id"],
            details={"experience_id": current["id"]},
        )
    return {**time_entry_json(row), "totals": totals}


def _owned_entry(conn: Connection, principal: Principal, entry_id: str) -> dict[str, Any]:
    row = repo.get_time_entry(conn, principal.user_id, entry_id)
    if row is None:
        raise NotFound("No such time entry.")
    return row


def get_time_entry(principal: Principal, entry_id: str) -> dict[str, Any]:
    """One of my time entries (what ``If-Match`` on its PATCH compares with)."""
    with get_database().transaction() as conn:
        return time_entry_json(_owned_entry(conn, principal, entry_id))


def time_entry_exists(principal: Principal, entry_id: str) -> None:
    with get_database().transaction() as conn:
        _owned_entry(conn, principal, entry_id)


def update_time_entry(principal: Principal, entry_id: str, body: TimeEntryUpdate) -> dict[str, Any]:
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    for name in ("hours", "activity_category", "is_billable", "is_cpa_eligible"):
        if name in changes and changes[name] is None:
            raise invalid(name, "may be changed but not removed")
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = _owned_entry(conn, principal, entry_id)
        if "hours" in changes:
            _check_day(
                conn, principal, row["entry_date"], changes["hours"], exclude_entry_id=entry_id
            )
        repo.update_time_entry(conn, entry_id, {**changes, "updated_at": now})
        totals = _totals(conn, row["experience_id"])
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_time_entry",
            target_id=entry_id,
            details={"fields": sorted(changes)},
        )
    return {**time_entry_json({**row, **changes, "updated_at": now}), "totals": totals}


def delete_time_entry(principal: Principal, entry_id: str) -> None:
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        _owned_entry(conn, principal, entry_id)
        repo.delete_time_entry(conn, entry_id)
        audit.record(
            conn,
            "sensitive_delete",
            actor=principal,
            target_type="cpa_time_entry",
            target_id=entry_id,
        )
