"""``pathfinder retention list|set|run``: retention policies for DBAs.

``set`` writes one ``sys_config_changed`` row per changed policy (in its own transaction, as
the API does) with the operator as actor; ``run`` writes a ``sys_dba_action`` row after the
run, ``--dry-run`` included, so what an operator looked at or did is on record.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from pathfinder.api.validation import ValidationProblem
from pathfinder.audit.archive import archive_directory
from pathfinder.cli.errors import dba_errors
from pathfinder.cli.operator import dba_action, dba_actor
from pathfinder.db import get_database
from pathfinder.jobs.retention import apply_retention
from pathfinder.retention import service
from pathfinder.retention.schemas import MAX_RETENTION_DAYS, RetentionPoliciesUpdate

retention_group = AppGroup("retention", help="List, change and run data retention policies.")


@retention_group.command("list")
@dba_errors
def list_command() -> None:
    """Every policy: key, table, days, action, active, last run."""
    for p in service.list_policies(get_database())["items"]:
        state = "active" if p["is_active"] else "inactive"
        last = p["last_run"] or "never run"
        click.echo(
            f"{p['policy_key']:<18} {p['table']:<20} {p['retention_days']:>6} days  "
            f"{p['action']:<20} {state:<8} last run: {last}"
        )


@retention_group.command("set")
@click.argument("policy_key")
@click.option("--days", type=click.IntRange(1, MAX_RETENTION_DAYS), help="Keep rows this long.")
@click.option(
    "--action",
    type=click.Choice(["archive", "delete", "archive_then_delete"]),
    help="What happens to older rows (the table decides which are allowed).",
)
@click.option("--active/--inactive", default=None, help="Apply the policy in runs, or not.")
@dba_errors
def set_command(policy_key: str, days: int | None, action: str | None, active: bool | None) -> None:
    """Change one policy's days, action or activity."""
    if days is None and action is None and active is None:
        raise click.UsageError("say what to change: --days, --action, --active or --inactive")
    change = {"policy_key": policy_key, "retention_days": days, "action": action}
    change["is_active"] = active
    body = RetentionPoliciesUpdate.model_validate({"policies": [change]})
    try:
        result = service.update_policies(get_database(), dba_actor(), body)
    except ValidationProblem as exc:
        errors = exc.extensions.get("errors") or []
        message = "; ".join(e["message"] for e in errors) or str(exc)
        raise click.ClickException(f"{policy_key}: {message}") from None
    for p in result["items"]:
        if p["policy_key"] == policy_key:
            state = "active" if p["is_active"] else "inactive"
            click.echo(f"{policy_key}: {p['retention_days']} days, {p['action']}, {state}")


@retention_group.command("run")
@click.option(
    "--dry-run", is_flag=True, help="Count what would be deleted or archived; change nothing."
)
@click.option("--policy", "policy_key", help="Run only this policy (even if inactive).")
@dba_errors
def run_command(dry_run: bool, policy_key: str | None) -> None:
    """Apply the active policies now (or preview them with --dry-run)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    command = "retention run --dry-run" if dry_run else "retention run"
    with dba_action("sys_dba_action", command, target_type="retention_policy") as row:
        report = apply_retention(
            get_database(),
            datetime.now(UTC),
            dry_run=dry_run,
            archive_dir=None if dry_run else archive_directory(app),
            only=policy_key,
        )
        row.details = {"dry_run": dry_run, "applied": report.applied, "skipped": report.skipped}
    if policy_key is not None and not report.applied and not report.skipped:
        raise click.ClickException(f"no retention policy {policy_key!r}")
    verb = "would touch" if dry_run else "touched"
    for key, count in report.applied.items():
        extra = report.details.get(key, {})
        seq = ""
        if extra.get("seq_from") is not None:
            seq = f" (audit seq {extra['seq_from']}..{extra['seq_to']})"
        click.echo(f"{key}: {verb} {count} row(s) older than {extra.get('cutoff')}{seq}")
    for key, why in report.skipped.items():
        click.echo(f"{key}: skipped ({why})")
