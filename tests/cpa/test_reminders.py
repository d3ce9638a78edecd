"""Deadline reminders: sent before a report's deadline, once a day, unless turned off;
security mail is sent whatever the notification settings say."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.jobs.runner import run_job
from tests.admin import mails
from tests.conftest import AuthActions
from tests.cpa.factories import create_report

TODAY = datetime.now(UTC).date()


def _report_due(client: FlaskClient, headers: dict[str, str], due: date, half: int = 1) -> dict:
    start, end = ("2024-01-01", "2024-06-30") if half == 1 else ("2024-07-01", "2024-12-31")
    return create_report(client, headers, start, end, submission_deadline=due.isoformat())


def test_a_reminder_goes_out_once_before_the_deadline(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("duesoon"))
    _report_due(client, headers, TODAY + timedelta(days=7))
    _report_due(client, headers, TODAY + timedelta(days=3), half=2)  # not a reminder day
    record = run_job(app, "cpa_deadline_reminders")
    assert record.outcome == "succeeded", record.error
    sent = mails(db, "duesoon@example.com", "cpa_deadline_reminder")
    assert len(sent) == 1 and "due in 7 days" in sent[0]["body"]
    run_job(app, "cpa_deadline_reminders")
    assert len(mails(db, "duesoon@example.com", "cpa_deadline_reminder")) == 1


def test_turned_off_reminders_are_not_sent_but_security_mail_is(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("quiet"))
    _report_due(client, headers, TODAY + timedelta(days=1))
    saved = client.put(
        "/api/v1/me/preferences",
        headers=headers,
        json={"notification_settings": {"email_enabled": False}},
    )
    assert saved.status_code == 200
    assert run_job(app, "cpa_deadline_reminders").rows_touched == 0
    assert mails(db, "quiet@example.com", "cpa_deadline_reminder") == []
    forgot = client.post("/api/v1/auth/password/forgot", json={"email": "quiet@example.com"})
    assert forgot.status_code in (200, 202, 204)
    assert len(mails(db, "quiet@example.com", "password_reset")) == 1

    client.put(
        "/api/v1/me/preferences",
        headers=headers,
        json={"notification_settings": {"email": {"cpa_deadlines": True}}},
    )
    assert run_job(app, "cpa_deadline_reminders").rows_touched == 1
    client.put(
        "/api/v1/me/preferences",
        headers=headers,
        json={"notification_settings": {"email": {"cpa_deadlines": False}}},
    )
    auth.register("other_quiet")
    other = auth.headers(auth.login("other_quiet"))
    _report_due(client, other, TODAY + timedelta(days=1))
    assert run_job(app, "cpa_deadline_reminders").rows_touched == 1  # only the other user
