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

DAILY = {"trigger": "cron", "hour": 3, "minute": 0}
HOURLY = {"trigger": "cron", "minute": 15}


@job(
    "session_cleanup",
    "Delete sessions ended more than SESSION_RETENTION_DAYS ago, and expired idempotency keys.",
    {"trigger": "cron", "hour": 2, "minute": 30},
)
def session_cleanup(ctx: JobContext) -> JobResult:
    """The sessions retention on its own schedule (the same purge the policy applies)."""
    from pathfinder.jobs.retention import purge_sessions

    days = int(ctx.app.config.get("SESSION_RETENTION_DAYS", 90))
    cutoff = ctx.now - timedelta(days=days)
    total = purge_sessions(ctx.db, cutoff, int(ctx.app.config.get("JOB_BATCH_SIZE", 1000)))
    from pathfinder.api.idempotency import delete_expired

    with ctx.db.transaction() as conn:
        keys = delete_expired(conn, ctx.now)
    return JobResult(total + keys, {"cutoff": cutoff.isoformat(), "idempotency_keys": keys})


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
    "Verify the audit log: rows, Merkle tree, signed and exported checkpoints.",
    {"trigger": "cron", "hour": 4, "minute": 0},
    max_runtime_seconds=6 * 3600,
)
def audit_verify(ctx: JobContext) -> JobResult:
    with ctx.db.connect() as conn:
        report = audit.verify_configured(conn, ctx.app)
        conn.rollback()
    details: dict[str, object] = {
        "rows_checked": report.rows_checked,
        "tree_size": report.tree_size,
        "unsealed": report.unsealed,
        "gaps": report.gap_count,
    }
    if not report.ok:
        details["error"] = "; ".join(str(f) for f in report.findings[:5])
        return JobResult(report.rows_checked, details, failed=True)
    return JobResult(report.rows_checked, details)


@job(
    "audit_seal",
    "Seal committed audit rows into the Merkle tree and export a signed checkpoint "
    "(the scheduler also seals every AUDIT_SEAL_INTERVAL_SECONDS without a run record).",
    {"trigger": "cron", "minute": "*/30"},
)
def audit_seal(ctx: JobContext) -> JobResult:
    report = audit.seal(ctx.db, ctx.app.config)
    return JobResult(
        report.rows,
        {
            "tree_size": report.tree_size,
            "checkpoints": report.checkpoints,
            "open_gaps": report.open_gaps,
        },
    )


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


@job(
    "kek_schedule",
    "Keep the master-key schedule: re-wrap data keys under a new KEK, say what is due.",
    {"trigger": "cron", "hour": 0, "minute": 30},
    max_runtime_seconds=6 * 3600,
)
def kek_schedule(ctx: JobContext) -> JobResult:
    """Re-wrap under the current KEK, record drained versions, fail loudly when action is due.

    Fails (so it shows in ``jobs list`` and the job-failure alerting) while the current KEK
    is older than KEK_ROTATION_DAYS or an old version past its removal date is still in the
    keyring: both are the operator's to do, and both bound what an erasure guarantees.
    """
    from pathfinder.security.kek_schedule import sync_schedule
    from pathfinder.security.key_audit import record_key_audit
    from pathfinder.security.keys import get_key_store
    from pathfinder.security.rotation import pending_kek_rewraps, rotate_kek

    config = ctx.app.config
    provider = get_key_store(ctx.app).provider
    settings = {
        "rotation_days": int(config.get("KEK_ROTATION_DAYS", 90)),
        "backup_retention_days": int(config.get("BACKUP_RETENTION_DAYS", 35)),
    }
    sync_schedule(ctx.db, provider, ctx.now, **settings)
    rewrapped = 0
    if pending_kek_rewraps(ctx.db, provider):
        with ctx.app.app_context():
            result = rotate_kek(
                ctx.db,
                provider,
                max_batches=int(config.get("KEY_ROTATION_MAX_BATCHES", 10000)),
                audit=record_key_audit,
            )
        rewrapped = result.rewrapped
    schedule = sync_schedule(ctx.db, provider, ctx.now, **settings)
    due = schedule.due()
    details: dict[str, object] = {
        "rewrapped": rewrapped,
        "versions": [v.as_json(ctx.now) for v in schedule.versions],
        "due": due,
    }
    if due:
        details["error"] = "; ".join(due)
        return JobResult(rewrapped, details, failed=True)
    return JobResult(rewrapped, details)


@job(
    "retention",
    "Apply pf_data_retention_policies: delete or archive rows older than each retention "
    "(audit rows are copied to archive files, never deleted).",
    {"trigger": "cron", "hour": 2, "minute": 0},
    max_runtime_seconds=6 * 3600,
)
def retention(ctx: JobContext) -> JobResult:
    from pathfinder.audit.archive import archive_directory
    from pathfinder.jobs.retention import apply_retention

    with ctx.app.app_context():
        report = apply_retention(ctx.db, ctx.now, archive_dir=archive_directory(ctx.app))
    details: dict[str, object] = {
        "applied": report.applied,
        "skipped": report.skipped,
        "policies": report.details,
    }
    return JobResult(sum(report.applied.values()), details)


@job(
    "invitations",
    "Send one reminder before an invitation expires; mark expired invitations.",
    {"trigger": "cron", "minute": 20},
)
def invitations(ctx: JobContext) -> JobResult:
    from pathfinder.admin.invitations import expire_invitations, send_invitation_reminders

    with ctx.app.app_context():
        reminded = send_invitation_reminders(ctx.db, ctx.now)
        expired = expire_invitations(ctx.db, ctx.now)
    return JobResult(reminded + expired, {"reminded": reminded, "expired": expired})


@job(
    "cpa_deadline_reminders",
    "E-mail a reminder 7 and 1 days before a CPA report's submission deadline "
    "(unless the user turned cpa_deadlines mail off).",
    {"trigger": "cron", "hour": 8, "minute": 0},
)
def cpa_deadline_reminders(ctx: JobContext) -> JobResult:
    from pathfinder.cpa.reminders import send_deadline_reminders

    with ctx.app.app_context():
        queued = send_deadline_reminders(ctx.db, ctx.now.date())
    return JobResult(queued, {"queued": queued})


@job(
    "cpa_meeting_reminders",
    "Remind CPA candidates with a mentor share that their semi-annual mentor meeting is due.",
    {"trigger": "cron", "hour": 7, "minute": 0},
)
def cpa_meeting_reminders(ctx: JobContext) -> JobResult:
    from pathfinder.cpa.meetings import send_meeting_reminders

    with ctx.app.app_context():
        sent = send_meeting_reminders(ctx.db, ctx.now)
    return JobResult(sent, {"reminded": sent})


@job(
    "account_deletions",
    "Delete accounts whose cooling-off has ended: tables, keys, profile, audit pseudonyms.",
    {"trigger": "cron", "minute": 40},
    max_runtime_seconds=2 * 3600,
)
def account_deletions(ctx: JobContext) -> JobResult:
    from pathfinder.admin.deletion import process_due_deletions

    with ctx.app.app_context():
        deleted = process_due_deletions(ctx.db, ctx.now)
    return JobResult(deleted, {"deleted": deleted})


@job(
    "summaries",
    "Rebuild stale tier-2/3 summaries and compute the day's career metrics for every user.",
    {"trigger": "cron", "hour": 3, "minute": 30},
    max_runtime_seconds=6 * 3600,
)
def summaries(ctx: JobContext) -> JobResult:
    from pathfinder.analytics.metrics import compute_all_career_metrics
    from pathfinder.career.summary_service import rebuild_stale_summaries

    rebuilt = 0
    after: str | None = None
    with ctx.app.app_context():
        while True:
            with ctx.db.transaction() as conn:
                batch = registry.list_tenants(conn, states=["ready"], after=after, limit=500)
            for record in batch:
                rebuilt += int(
                    bool(rebuild_stale_summaries(ctx.db, record.username, ctx.now.date()))
                )
            if len(batch) < 500:
                break
            after = batch[-1].username
        metrics = compute_all_career_metrics(ctx.db, ctx.now.date())
    details: dict[str, object] = {
        "summaries_rebuilt": rebuilt,
        "metric_users": metrics.users,
        "metric_rows": metrics.rows,
        "failures": dict(list(metrics.failures.items())[:50]),
    }
    if metrics.failures:
        details["error"] = f"{len(metrics.failures)} user(s) failed computing metrics"
        return JobResult(rebuilt + metrics.rows, details, failed=True)
    return JobResult(rebuilt + metrics.rows, details)


@job(
    "analytics_rollup",
    "Refresh user stats and count yesterday's usage events by type.",
    {"trigger": "cron", "hour": 0, "minute": 30},
)
def analytics_rollup(ctx: JobContext) -> JobResult:
    from pathfinder.analytics.overview import rollup_daily_events

    yesterday = (ctx.now - timedelta(days=1)).date()
    rollup = rollup_daily_events(ctx.db, yesterday)
    return JobResult(rollup.total_events, rollup.as_json())


@job(
    "export_cleanup",
    "Remove GDPR export files whose download link expired or was used.",
    {"trigger": "cron", "minute": 50},
)
def export_cleanup(ctx: JobContext) -> JobResult:
    from pathfinder.admin.export import purge_expired_exports

    removed = purge_expired_exports(ctx.app.instance_path, ctx.now)
    return JobResult(int(removed), {"removed": int(removed)})
