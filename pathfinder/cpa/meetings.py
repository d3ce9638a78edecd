"""Mentor meetings: written by the mentor, acknowledged by the candidate.

PER asks candidates to meet their CPA mentor at least semi-annually and to record it in
PERT; the mentor documents the discussion and any concerns but does not assess
competencies (``research/cpa-pert-domain.md``, "Roles"). A meeting is therefore written
through a mentor share with the comment scope, never by the candidate, and the candidate's
only act on it is to acknowledge it. The next meeting is due
``mentor_meeting_interval_months`` (6) after the last one, or after the PER start date
when there has been none; progress warns 30 days before and when it is overdue.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth.principal import Principal
from pathfinder.cpa import people_repo, repo
from pathfinder.cpa.errors import InvalidTransition, ShareScope, invalid
from pathfinder.cpa.grants import Grant, record_access, utc
from pathfinder.cpa.months import add_months
from pathfinder.cpa.paging import CpaPageQuery, decode_cursor, page_body, paginate
from pathfinder.cpa.progress import Deadline, Notice
from pathfinder.cpa.schemas import MeetingCreate
from pathfinder.cpa.service import iso, utcnow
from pathfinder.db import Database, get_database
from pathfinder.ids import new_id
from pathfinder.mail import Message, get_mailer
from pathfinder.security.fields import FIRST_ROW_VERSION, field_cipher, unreadable_fields

TABLE = "pf_cpa_mentor_meetings"
DUE_SOON_DAYS = 30


def meeting_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "share_id": row["share_id"],
        "meeting_date": iso(row["meeting_date"]),
        "topics": row.get("topics"),
        "concerns": row.get("concerns"),
        "next_steps": row.get("next_steps"),
        "acknowledged_at": iso(utc(row["acknowledged_at"])),
        "created_at": iso(utc(row["created_at"])),
        **unreadable_fields(row),
    }


def record_meeting(conn: Connection, grant: Grant, body: MeetingCreate) -> dict[str, Any]:
    """The mentor's record of a meeting with the candidate (mentor share, comment scope)."""
    if grant.role != "mentor":
        raise ShareScope(
            "Only the candidate's mentor records mentor meetings.",
            scope=grant.scope,
            needed="mentor",
        )
    grant.require("comment")
    now = utcnow()
    if body.meeting_date > now.date():
        raise invalid("meeting_date", "must not be in the future")
    repo.lock_owner(conn, grant.owner_id)
    row = {
        "id": new_id(),
        "user_id": grant.owner_id,
        "share_id": grant.share_id,
        "author_user_id": grant.grantee_user_id,
        "meeting_date": body.meeting_date,
        "topics": body.topics,
        "concerns": body.concerns,
        "next_steps": body.next_steps,
        "row_version": FIRST_ROW_VERSION,
        "acknowledged_at": None,
        "created_at": now,
        "updated_at": now,
    }
    people_repo.insert_meeting(
        conn, field_cipher(conn).seal_row(TABLE, row, user_id=grant.owner_id)
    )
    record_access(
        conn, grant, "meeting", "cpa_mentor_meeting", row["id"], now, event="sensitive_create"
    )
    return meeting_json(row)


def _page(
    conn: Connection, owner_id: str, query: CpaPageQuery, share_id: str | None
) -> dict[str, Any]:
    key = decode_cursor(query.cursor, 1)
    rows = people_repo.list_meetings(
        conn, owner_id, share_id, limit=query.limit, before=key[0] if key else None
    )
    page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
    opened = field_cipher(conn).open_rows(TABLE, page, user_id=owner_id, tolerant=True)
    return page_body([meeting_json(r) for r in opened], cursor, query.limit)


def grantee_meetings(conn: Connection, grant: Grant, query: CpaPageQuery) -> dict[str, Any]:
    """The meetings recorded through this share (a mentor never sees another's notes)."""
    if grant.role != "mentor":
        raise ShareScope("Mentor meetings are shared with the mentor only.", scope=grant.scope)
    record_access(conn, grant, "read", "cpa_mentor_meetings", None, utcnow())
    return _page(conn, grant.owner_id, query, grant.share_id)


def list_meetings(principal: Principal, query: CpaPageQuery) -> dict[str, Any]:
    """Every meeting my mentors recorded, newest first."""
    with get_database().transaction() as conn:
        return _page(conn, principal.user_id, query, None)


def acknowledge(principal: Principal, meeting_id: str) -> dict[str, Any]:
    """I have read my mentor's record of our meeting."""
    now = utcnow()
    with get_database().transaction() as conn:
        row = people_repo.get_meeting(conn, principal.user_id, meeting_id)
        if row is None:
            raise NotFound("No such meeting.")
        if row["acknowledged_at"] is not None:
            raise InvalidTransition("The meeting is acknowledged already.")
        people_repo.acknowledge_meeting(conn, meeting_id, now)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_mentor_meeting",
            target_id=meeting_id,
            details={"action": "acknowledged"},
        )
        opened = field_cipher(conn).open_row(
            TABLE, {**row, "acknowledged_at": now}, user_id=principal.user_id, tolerant=True
        )
    return meeting_json(opened)


def last_meeting_date(conn: Connection, owner_id: str) -> date | None:
    return people_repo.last_meeting_date(conn, owner_id)


def meeting_deadline(
    last: date | None, per_start: date | None, as_of: date, interval_months: int
) -> tuple[Deadline, Notice | None] | None:
    """The next semi-annual mentor meeting, and a warning when it is due soon or overdue."""
    base = last or per_start
    if base is None:
        return None
    due = add_months(base, interval_months)
    overdue = as_of > due
    deadline = Deadline(
        "mentor_meeting",
        due,
        overdue,
        False,
        f"Meet your CPA mentor at least every {interval_months} months and have the meeting "
        "recorded.",
    )
    if overdue:
        return deadline, Notice(
            "mentor_meeting_overdue",
            f"Your mentor meeting was due on {due.isoformat()}"
            + (f" (last meeting {last.isoformat()})." if last else " (no meeting recorded)."),
            due,
        )
    if due - as_of <= timedelta(days=DUE_SOON_DAYS):
        return deadline, Notice(
            "mentor_meeting_due", f"Your next mentor meeting is due by {due.isoformat()}.", due
        )
    return deadline, None


def send_meeting_reminders(db: Database, now: datetime) -> int:
    """Mail each candidate with a live mentor share whose next meeting is due within
    ``DUE_SOON_DAYS`` or overdue; once per due date (the outbox row is the memory).

    Runs in the app context (the mailer). Returns how many reminders were queued.
    """
    from pathfinder.cpa.framework import default_version, load_framework

    sent = 0
    with db.transaction() as conn:
        owners = people_repo.mentor_share_owners(conn)
        live = sorted({row["user_id"] for row in owners if (utc(row["expires_at"]) or now) > now})
        version = default_version(conn, now.date())
        framework = load_framework(conn, version) if version else None
    interval = framework.rules.mentor_meeting_interval_months if framework else 6
    for owner_id in live:
        with db.transaction() as conn:
            first_start = people_repo.first_period_start(conn, owner_id)
            found = meeting_deadline(
                last_meeting_date(conn, owner_id), first_start, now.date(), interval
            )
            if found is None or found[1] is None:
                continue
            due = found[0].due
            email = people_repo.user_email(conn, owner_id)
            subject = f"Your CPA mentor meeting is due by {due.isoformat()}"
            if email is None or people_repo.outbox_has(conn, email, "cpa_meeting_due", subject):
                continue
            get_mailer().queue(
                conn,
                Message(
                    recipient=str(email),
                    template="cpa_meeting_due",
                    subject=subject,
                    body=(
                        f"{found[1].message} PER asks you to meet your CPA mentor at least "
                        f"every {interval} months and to have the meeting recorded; your "
                        "mentor records it in Pathfinder through the share you gave them.\n"
                    ),
                ),
            )
            sent += 1
    return sent
