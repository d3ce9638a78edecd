"""The domain jobs run once against prepared data, and change exactly what they should."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.ids import new_id
from pathfinder.jobs.runner import run_job
from pathfinder.schema.shared.analytics import user_analytics
from pathfinder.schema.shared.identity import users
from pathfinder.schema.shared.reference import data_retention_policies
from pathfinder.schema.shared.security import audit_log
from tests.conftest import DEFAULT_PASSWORD, AuthActions


def experience(title: str, start: str, end: str | None) -> dict[str, object]:
    return {
        "title": title,
        "company": "Acme",
        "employment_type": "full_time",
        "start_date": start,
        "end_date": end,
        "is_current": end is None,
    }


def test_retention_archives_old_roles_deletes_old_events_and_keeps_audit(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    old = client.post(
        "/api/v1/me/experiences",
        headers=headers,
        json=experience("Clerk", "2001-01-01", "2004-06-30"),
    )
    recent = client.post(
        "/api/v1/me/experiences", headers=headers, json=experience("Analyst", "2019-01-01", None)
    )
    assert old.status_code == recent.status_code == 201, old.get_json()
    user_id = auth.user_id("alice")
    now = datetime.now(UTC)
    with db.transaction() as conn:
        for age in (800, 10):
            conn.execute(
                user_analytics.insert().values(
                    id=new_id(),
                    user_id=user_id,
                    event_type="page_view",
                    created_at=now - timedelta(days=age),
                )
            )
        audit_rows = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()

    record = run_job(app, "retention")

    assert record.outcome == "succeeded", record.error
    live = client.get("/api/v1/me/experiences", headers=headers).get_json()["items"]
    archived = client.get("/api/v1/me/experiences/archive", headers=headers).get_json()["items"]
    assert [e["title"] for e in live] == ["Analyst"]
    assert [e["title"] for e in archived] == ["Clerk"]
    with db.transaction() as conn:
        ages = conn.execute(sa.select(user_analytics.c.created_at)).scalars().all()
        assert len(ages) == 1 and now - ages[0] < timedelta(days=11)
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
            >= audit_rows
        )
        runs = conn.execute(
            sa.select(data_retention_policies.c.policy_key, data_retention_policies.c.last_run)
        ).all()
    assert all(last is not None for _, last in runs)


def test_account_deletion_job_deletes_only_due_accounts(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    due = auth.headers(auth.register("leaving"))
    auth.register("staying")
    scheduled = client.post("/api/v1/me/deletion", headers=due, json={"password": DEFAULT_PASSWORD})
    assert scheduled.status_code in (200, 201, 202), scheduled.get_json()
    assert run_job(app, "account_deletions").rows_touched == 0  # still cooling off
    with db.transaction() as conn:
        conn.execute(
            users.update()
            .where(users.c.username == "leaving")
            .values(deletion_scheduled_for=datetime.now(UTC) - timedelta(minutes=1))
        )
    record = run_job(app, "account_deletions")
    assert record.outcome == "succeeded", record.error
    assert record.rows_touched == 1
    with db.transaction() as conn:
        statuses = dict(conn.execute(sa.select(users.c.id, users.c.account_status)).all())
    assert "deleted" in statuses.values() and "active" in statuses.values()
    auth.login("staying")
    assert run_job(app, "audit_verify").outcome == "succeeded"


def test_summaries_job_computes_todays_metrics(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("carol"))
    client.post(
        "/api/v1/me/experiences", headers=headers, json=experience("Dev", "2015-01-01", None)
    )
    before = client.get("/api/v1/me/analytics/metrics", headers=headers).get_json()["items"]
    record = run_job(app, "summaries")
    assert record.outcome == "succeeded", record.error
    after = client.get("/api/v1/me/analytics/metrics", headers=headers).get_json()["items"]
    today = datetime.now(UTC).date().isoformat()
    new = [m for m in after if m not in before]
    assert new and all(m["metric_date"] == today for m in new)


def test_analytics_rollup_counts_yesterdays_events(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    auth.register("dana")
    user_id = auth.user_id("dana")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with db.transaction() as conn:
        for event_type in ("page_view", "page_view", "feature_use"):
            conn.execute(
                user_analytics.insert().values(
                    id=new_id(),
                    user_id=user_id,
                    event_type=event_type,
                    created_at=yesterday.replace(hour=12, minute=0),
                )
            )
    record = run_job(app, "analytics_rollup")
    assert record.outcome == "succeeded", record.error
    assert record.rows_touched == 3


def test_invitations_job_reminds_once_and_expires(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    from pathfinder.schema.shared.identity import user_invitations
    from pathfinder.schema.shared.messaging import outbox

    admin = auth.register("inviter")
    auth.set_role("inviter", "admin")
    created = client.post(
        "/api/v1/admin/invitations",
        headers=auth.headers(admin),
        json={"invitations": [{"email": "soon@example.com"}, {"email": "gone@example.com"}]},
    )
    assert created.status_code == 201, created.get_json()
    now = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(
            user_invitations.update()
            .where(user_invitations.c.email_normalized == "soon@example.com")
            .values(expires_at=now + timedelta(hours=12))
        )
        conn.execute(
            user_invitations.update()
            .where(user_invitations.c.email_normalized == "gone@example.com")
            .values(created_at=now - timedelta(days=9), expires_at=now - timedelta(hours=1))
        )
    first = run_job(app, "invitations")
    second = run_job(app, "invitations")
    assert first.outcome == second.outcome == "succeeded"
    with db.transaction() as conn:
        statuses = dict(
            conn.execute(
                sa.select(user_invitations.c.email_normalized, user_invitations.c.status)
            ).all()
        )
        reminders = conn.execute(
            sa.select(sa.func.count()).where(
                outbox.c.template == "invitation_reminder", outbox.c.recipient == "soon@example.com"
            )
        ).scalar_one()
    assert statuses == {"soon@example.com": "pending", "gone@example.com": "expired"}
    assert reminders == 1


def test_export_cleanup_removes_expired_exports(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    from pathfinder.jobs.builtin import export_cleanup
    from pathfinder.jobs.registry import JobContext

    headers = auth.headers(auth.register("erin"))
    requested = client.post("/api/v1/me/export", headers=headers, json={})
    assert requested.status_code in (200, 201, 202), requested.get_json()
    exports = Path(app.instance_path) / "exports"
    assert any(exports.iterdir())
    assert run_job(app, "export_cleanup").rows_touched == 0  # the link is still valid
    later = JobContext(app, db, datetime.now(UTC) + timedelta(days=30))
    assert export_cleanup(later).rows_touched == 1
