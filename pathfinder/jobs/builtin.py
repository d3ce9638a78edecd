"""The platform's jobs. Each is idempotent and batched, and says what it touched.

Domain rules live in their domains; a job here only decides when and over what to call them,
so ``pathfinder jobs run NAME`` and the scheduler run exactly what a test can call directly.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from pathfinder import audit
from pathfinder.jobs.registry import JobContext, JobResult, job
from pathfinder.provisioning import registry
from pathfinder.provisioning.verify import verify_user
from pathfinder.schema.shared.analytics import refresh_user_stats, user_stats
from pathfinder.schema.shared.identity import user_sessions

DAILY = {"trigger": "cron", "hour": 3, "minute": 0}
HOURLY = {"trigger": "cron", "minute": 15}


@job(
    "session_cleanup",
    "Delete sessions that expired or were revoked more than SESSION_RETENTION_DAYS ago.",
    {"trigger": "cron", "hour": 2, "minute": 30},
)
def session_cleanup(ctx: JobContext) -> JobResult:
    """Sessions are kept after they end so recent audit rows can point at them; then go."""
    days = int(ctx.app.config.get("SESSION_RETENTION_DAYS", 90))
    cutoff = ctx.now - timedelta(days=days)
    batch = int(ctx.app.config.get("JOB_BATCH_SIZE", 1000))
    total = 0
    s = user_sessions.c
    while True:
        with ctx.db.transaction() as conn:
            ids = (
                conn.execute(
                    sa.select(s.id)
                    .where(
                        sa.or_(
                            s.expires_at < cutoff,
                            sa.and_(s.revoked_at.is_not(None), s.revoked_at < cutoff),
                        )
                    )
                    .limit(batch)
                )
                .scalars()
                .all()
            )
            if not ids:
                break
            # Rows of one family point at each other (replaced_by): clear before deleting.
            conn.execute(
                user_sessions.update().where(s.replaced_by.in_(ids)).values(replaced_by=None)
            )
            total += conn.execute(user_sessions.delete().where(s.id.in_(ids))).rowcount
    return JobResult(total, {"cutoff": cutoff.isoformat()})


@job(
    "refresh_user_stats",
    "Refresh pf_mv_user_stats (materialized view on Oracle/PostgreSQL, table on SQLite).",
    {"trigger": "cron", "minute": 5},
)
def refresh_stats(ctx: JobContext) -> JobResult:
    with ctx.db.transaction() as conn:
        refresh_user_stats(conn)
        rows = conn.execute(sa.select(sa.func.count()).select_from(user_stats)).scalar_one()
    return JobResult(int(rows))


@job(
    "audit_verify",
    "Verify the audit log's hash chain; a broken link fails the run and is logged.",
    {"trigger": "cron", "hour": 4, "minute": 0},
    max_runtime_seconds=6 * 3600,
)
def audit_verify(ctx: JobContext) -> JobResult:
    with ctx.db.transaction() as conn:
        report = audit.verify_chain(conn)
    details: dict[str, object] = {"rows_checked": report.checked}
    if report.broken is not None:
        details["error"] = f"audit chain broken at {report.broken}"
        return JobResult(report.checked, details, failed=True)
    return JobResult(report.checked, details)


@job(
    "tenant_verify",
    "Compare every user's tables with the template and report drift.",
    {"trigger": "cron", "hour": 4, "minute": 30},
    max_runtime_seconds=6 * 3600,
)
def tenant_verify(ctx: JobContext) -> JobResult:
    drifted: list[str] = []
    checked = 0
    after: str | None = None
    while True:
        with ctx.db.transaction() as conn:
            batch = registry.list_tenants(conn, states=["ready"], after=after, limit=500)
        for record in batch:
            checked += 1
            if not verify_user(ctx.db, record.username).clean:
                drifted.append(record.username)
        if len(batch) < 500:
            break
        after = batch[-1].username
    details: dict[str, object] = {"checked": checked, "drifted": drifted[:100]}
    if drifted:
        details["error"] = f"{len(drifted)} user(s) drift from the template"
        return JobResult(checked, details, failed=True)
    return JobResult(checked, details)


@job(
    "key_rotation",
    "Rotate data keys older than DEK_MAX_AGE_DAYS (re-encrypting their values).",
    {"trigger": "cron", "hour": 1, "minute": 0},
    max_runtime_seconds=6 * 3600,
)
def key_rotation(ctx: JobContext) -> JobResult:
    from pathfinder.security.key_audit import record_key_audit
    from pathfinder.security.keys import get_key_store
    from pathfinder.security.rotation import rotate_due_deks

    days = int(ctx.app.config.get("DEK_MAX_AGE_DAYS", 365))
    with ctx.app.app_context():
        report = rotate_due_deks(
            ctx.db,
            get_key_store(ctx.app),
            created_before=ctx.now - timedelta(days=days),
            max_batches=int(ctx.app.config.get("KEY_ROTATION_MAX_BATCHES", 10000)),
            audit=record_key_audit,
        )
    details: dict[str, object] = {
        "rotated": len(report.rotations),
        "failures": dict(list(report.failures.items())[:50]),
        "stopped_early": report.stopped_early,
    }
    if report.failures:
        details["error"] = f"{len(report.failures)} user(s) could not be rotated"
        return JobResult(len(report.rotations), details, failed=True)
    return JobResult(len(report.rotations), details)
