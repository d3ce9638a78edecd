"""E-mail reminders before a CPA report's submission deadline.

A report with a ``submission_deadline`` that is still a draft (or sent back for revision)
gets one reminder ``CPA_DEADLINE_REMINDER_DAYS`` before it (7 and 1 days by default). It is
mail of the ``cpa_deadlines`` category, which the user can turn off in their notification
settings (:mod:`pathfinder.preferences`); the mailer drops it then. A second run on the same
day sends nothing new: a reminder already in the outbox today for the same report (same
recipient and subject) is not queued again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from pathfinder.db import Database
from pathfinder.mail import Message, get_mailer
from pathfinder.mail.links import action_text
from pathfinder.schema.shared.cpa import reports
from pathfinder.schema.shared.identity import users
from pathfinder.schema.shared.messaging import outbox

TEMPLATE = "cpa_deadline_reminder"
CATEGORY = "cpa_deadlines"
OPEN_STATUSES = ("draft", "revision_requested")


def _days_before() -> list[int]:
    configured = current_app.config.get("CPA_DEADLINE_REMINDER_DAYS", "7,1")
    return sorted({int(d) for d in str(configured).split(",") if d.strip()}, reverse=True)


def send_deadline_reminders(db: Database, today: date) -> int:
    """Queue today's reminders; returns how many were queued. Call in an app context."""
    deadlines = [today + timedelta(days=d) for d in _days_before()]
    day_start = datetime.combine(today, time(0), tzinfo=UTC)
    link = action_text("see_cpa_reports")
    queued = 0
    with db.transaction() as conn:
        due = conn.execute(
            sa.select(
                reports.c.id,
                reports.c.employer_name,
                reports.c.period_start,
                reports.c.period_end,
                reports.c.submission_deadline,
                users.c.id.label("user_id"),
                users.c.email,
            )
            .join(users, users.c.id == reports.c.user_id)
            .where(
                reports.c.submission_deadline.in_(deadlines),
                reports.c.status.in_(OPEN_STATUSES),
                reports.c.deleted_at.is_(None),
                users.c.account_status == "active",
            )
            .order_by(reports.c.submission_deadline, reports.c.id)
        ).mappings()
        for row in list(due):
            deadline: date = row["submission_deadline"]
            subject = f"Your CPA report for {row['employer_name']} is due on {deadline.isoformat()}"
            sent_today = conn.execute(
                sa.select(sa.func.count()).where(
                    outbox.c.recipient == row["email"],
                    outbox.c.template == TEMPLATE,
                    outbox.c.subject == subject,
                    outbox.c.created_at >= day_start,
                )
            ).scalar_one()
            if sent_today:
                continue
            days = (deadline - today).days
            message = Message(
                recipient=row["email"],
                template=TEMPLATE,
                subject=subject,
                body=(
                    f"Your experience report for {row['employer_name']} "
                    f"({row['period_start']:%Y-%m-%d} to {row['period_end']:%Y-%m-%d}) is due "
                    f"in {days} day{'s' if days != 1 else ''}, on {deadline:%Y-%m-%d}, and is "
                    f"not submitted yet.\n\n{link}\n\nYou can turn these reminders off in "
                    "your notification settings."
                ),
                category=CATEGORY,
                user_id=row["user_id"],
            )
            if get_mailer().queue(conn, message) is not None:
                queued += 1
    return queued
