"""Jobs run once through the CLI and the runner, with records, locks and failures kept apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder.db import Database
from pathfinder.jobs.registry import JOBS, JobContext, JobResult, job
from pathfinder.jobs.runner import run_job
from pathfinder.schema.shared.identity import user_sessions
from pathfinder.schema.shared.jobs import job_locks, job_runs
from tests.conftest import AuthActions


def runs_of(db: Database, name: str) -> list[dict]:  # type: ignore[type-arg]
    with db.transaction() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.select(job_runs)
                .where(job_runs.c.job_name == name)
                .order_by(job_runs.c.started_at)
            ).mappings()
        ]


def test_session_cleanup_deletes_only_old_ended_sessions(
    runner: FlaskCliRunner, auth: AuthActions, db: Database
) -> None:
    live = auth.register("alice")
    old = auth.login("alice")
    ended = auth.login("alice")
    long_ago = datetime.now(UTC) - timedelta(days=200)
    with db.transaction() as conn:
        # One session expired long ago, one revoked long ago.
        conn.execute(
            user_sessions.update()
            .where(user_sessions.c.family_id == old["session_id"])
            .values(created_at=long_ago - timedelta(days=31), expires_at=long_ago)
        )
        conn.execute(
            user_sessions.update()
            .where(user_sessions.c.family_id == ended["session_id"])
            .values(revoked_at=long_ago, revoked_reason="logout")
        )
    result = runner.invoke(args=["jobs", "run", "session_cleanup"])
    assert result.exit_code == 0, result.output
    assert "session_cleanup: succeeded (2 rows)" in result.output
    with db.transaction() as conn:
        families = set(conn.execute(sa.select(user_sessions.c.family_id)).scalars())
    assert families == {live["session_id"]}
    assert runs_of(db, "session_cleanup")[-1]["rows_touched"] == 2


def test_failing_job_is_recorded_and_does_not_hold_its_lock(app: Flask, db: Database) -> None:
    @job("always_fails", "test job", {"trigger": "interval", "hours": 1})
    def always_fails(ctx: JobContext) -> JobResult:
        raise RuntimeError("boom (injected)")

    try:
        record = run_job(app, "always_fails")
        assert record.outcome == "failed"
        assert "boom" in (record.error or "")
        again = run_job(app, "always_fails")
        assert again.outcome == "failed"  # the lock was released: it ran again
        assert [r["outcome"] for r in runs_of(db, "always_fails")] == ["failed", "failed"]
    finally:
        JOBS.pop("always_fails", None)


def test_a_job_never_runs_twice_at_once(app: Flask, db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(
            job_locks.insert().values(
                job_name="session_cleanup",
                holder="another-host:1:abc",
                locked_until=datetime.now(UTC) + timedelta(minutes=5),
            )
        )
    assert run_job(app, "session_cleanup").outcome == "skipped"
    # A crashed holder's lock is taken over once its time limit has passed.
    with db.transaction() as conn:
        conn.execute(
            job_locks.update().values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert run_job(app, "session_cleanup").outcome == "succeeded"


def test_unknown_job_is_one_clear_line(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["jobs", "run", "no_such_job"])
    assert result.exit_code == 1
    assert "unknown job 'no_such_job'" in result.output and "session_cleanup" in result.output


def test_audit_verify_job_fails_on_a_tampered_chain(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    auth.register("bob")
    assert run_job(app, "audit_verify").outcome == "succeeded"
    from pathfinder.schema.shared.security import audit_log

    with db.transaction() as conn:
        first = conn.execute(sa.select(sa.func.min(audit_log.c.seq))).scalar_one()
        conn.execute(audit_log.update().where(audit_log.c.seq == first).values(outcome="failure"))
    record = run_job(app, "audit_verify")
    assert record.outcome == "failed"
    assert f"seq {first}: edited" in (record.error or "")


def test_audit_seal_job_seals_and_records_its_run(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    auth.register("dora")
    record = run_job(app, "audit_seal")
    assert record.outcome == "succeeded" and record.rows_touched >= 1
    assert run_job(app, "audit_verify").outcome == "succeeded"


def test_tenant_verify_job_reports_drift(app: Flask, auth: AuthActions, db: Database) -> None:
    auth.register("carol")
    assert run_job(app, "tenant_verify").outcome == "succeeded"
    tables = db.tables_for("carol")
    index = next(iter(tables.skills.indexes))
    with db.connect() as conn, db.attached(conn, "carol"):
        with conn.begin():
            conn.execute(sa.schema.DropIndex(index))
    record = run_job(app, "tenant_verify")
    assert record.outcome == "failed"
    assert "1 user(s) drift" in (record.error or "")


def test_refresh_user_stats_job(app: Flask, auth: AuthActions) -> None:
    auth.register("dave")
    record = run_job(app, "refresh_user_stats")
    assert record.outcome == "succeeded"
    assert record.rows_touched == 1


def test_admin_jobs_endpoint(client: FlaskClient, app: Flask, auth: AuthActions) -> None:
    admin = auth.register("ops_admin")
    auth.set_role("ops_admin", "admin")
    run_job(app, "session_cleanup")
    body = client.get("/api/v1/admin/jobs", headers=auth.headers(admin)).get_json()
    by_name = {item["name"]: item for item in body["items"]}
    assert {"session_cleanup", "audit_verify", "tenant_verify", "key_rotation"} <= set(by_name)
    cleanup = by_name["session_cleanup"]
    assert cleanup["next_run_at"] and cleanup["last_runs"][0]["outcome"] == "succeeded"
    user = auth.register("plain_user")
    assert client.get("/api/v1/admin/jobs", headers=auth.headers(user)).status_code == 403


def test_key_rotation_job_rotates_only_old_keys(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    from pathfinder.schema.shared.security import encryption_keys

    auth.register("old_key")
    auth.register("new_key")
    old_id = auth.user_id("old_key")
    with db.transaction() as conn:
        conn.execute(
            encryption_keys.update()
            .where(encryption_keys.c.user_id == old_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=400))
        )
    record = run_job(app, "key_rotation")
    assert record.outcome == "succeeded", record.error
    assert record.rows_touched == 1
    with db.transaction() as conn:
        versions = dict(
            conn.execute(
                sa.select(
                    encryption_keys.c.user_id, sa.func.max(encryption_keys.c.key_version)
                ).group_by(encryption_keys.c.user_id)
            ).all()
        )
    assert versions[old_id] == 2
    assert versions[auth.user_id("new_key")] == 1
