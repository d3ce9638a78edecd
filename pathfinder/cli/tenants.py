"""``pathfinder tenants ...``: the DBA's view of the provisioning engine.

Errors a DBA can fix (a bad username, a missing file, a busy user, an unreachable database)
print one line and exit non-zero; batches show a progress bar on stderr and go on past a
failing user, reporting every failure at the end.

Every command that changes a user's tables writes one audit row per user after acting on
them, with the operator as actor (:mod:`pathfinder.cli.operator` says why after, not with).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from flask.cli import AppGroup
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pathfinder.cli.errors import dba_errors, one_line
from pathfinder.cli.operator import UserActionRow, dba_action, record_dba_actions
from pathfinder.cli.progress import Progress
from pathfinder.db import get_database
from pathfinder.provisioning import Provisioner, ProvisioningError, Result, registry
from pathfinder.provisioning.batches import run_batches
from pathfinder.provisioning.locks import TenantBusy
from pathfinder.provisioning.migrate import UserMigration
from pathfinder.provisioning.plan import cached_migration_steps
from pathfinder.provisioning.verify import Drift, orphaned_user_files, repair_user
from pathfinder.provisioning.verify_batch import verify_users
from pathfinder.schema.naming import InvalidUsername, normalize_username
from pathfinder.schema.oracle_profile import oracle_dialect
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, SQLITE_TENANT_SCHEMA

tenants_group = AppGroup("tenants", help="Provision, verify, migrate and drop users' tables.")

F = TypeVar("F", bound=Callable[..., Any])

# Users per catalog read of `verify` on PostgreSQL.
VERIFY_BATCH = 500

DIALECTS = {"oracle": oracle_dialect, "postgresql": postgresql.dialect, "sqlite": sqlite.dialect}


def _usernames(names: Iterable[str], csv_file: Path | None) -> list[str]:
    """Usernames from arguments and/or a CSV file (column ``username``, else the first)."""
    collected = list(names)
    if csv_file is not None:
        with csv_file.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if rows and rows[0] and rows[0][0].strip().lower() in ("username", "user"):
            column = 0
            header = [c.strip().lower() for c in rows[0]]
            column = header.index("username") if "username" in header else 0
            rows = rows[1:]
        else:
            column = 0
        collected += [row[column].strip() for row in rows if row and row[column].strip()]
    if not collected:
        raise click.UsageError("name at least one USERNAME or give --file")
    canonical: list[str] = []
    for raw in collected:
        try:
            name = normalize_username(raw)
        except InvalidUsername as exc:
            raise click.ClickException(f"invalid username {raw!r}: {exc}") from exc
        if name not in canonical:
            canonical.append(name)
    return canonical


def _progress(items: list[str], label: str) -> Any:
    return click.progressbar(
        items,
        label=label,
        file=sys.stderr,
        show_pos=True,
        item_show_func=lambda name: name or "",
    )


# What a batch action did to one user: the line printed for the DBA, and the audit details.
Done = tuple[str, dict[str, Any]]


def _run_batch(
    names: list[str], label: str, action: Callable[[str], Done], *, event: str, command: str
) -> None:
    """Run ``action`` for each user, one audit row ``event`` per user, failures at the end."""
    failures: list[str] = []
    done: list[str] = []
    with _progress(names, label) as bar:
        for name in bar:
            try:
                with dba_action(event, command, username=name) as row:
                    line, row.details = action(name)
                done.append(line)
            except (ProvisioningError, TenantBusy) as exc:
                failures.append(f"{name}: {one_line(exc)}")
    for line in done:
        click.echo(line)
    for line in failures:
        click.echo(f"error: {line}", err=True)
    if failures:
        raise click.ClickException(f"{len(failures)} of {len(names)} user(s) failed")


@tenants_group.command("provision")
@click.argument("usernames", nargs=-1)
@click.option("--file", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dba_errors
def provision_command(usernames: tuple[str, ...], csv_file: Path | None) -> None:
    """Create users' tables at the latest template version (safe to repeat)."""
    names = _usernames(usernames, csv_file)
    provisioner = Provisioner(get_database())

    def provision(name: str) -> Done:
        result = provisioner.provision(name)
        line = f"{name}: {result.outcome.replace('_', ' ')} (template v{result.template_version})"
        return line, _result_details(result)

    _run_batch(
        names, "Provisioning", provision, event="tenant_provisioned", command="tenants provision"
    )


@tenants_group.command("deprovision")
@click.argument("usernames", nargs=-1)
@click.option("--file", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@dba_errors
def deprovision_command(usernames: tuple[str, ...], csv_file: Path | None, yes: bool) -> None:
    """Drop exactly the registered tables of the named users (their data is lost)."""
    names = _usernames(usernames, csv_file)
    if not yes:
        click.confirm(
            f"Drop every table of {len(names)} user(s) ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''})?",
            abort=True,
        )
    provisioner = Provisioner(get_database())

    def deprovision(name: str) -> Done:
        result = provisioner.deprovision(name)
        details = {"result": result.outcome, "objects_dropped": result.steps_run}
        if result.outcome == "absent":
            return f"{name}: nothing to drop", details
        return f"{name}: dropped {result.steps_run} object(s)", details

    _run_batch(
        names,
        "Deprovisioning",
        deprovision,
        event="tenant_deprovisioned",
        command="tenants deprovision",
    )


def _result_details(result: Result) -> dict[str, Any]:
    return {
        "result": result.outcome,
        "template_version": result.template_version,
        "steps_run": result.steps_run,
    }


@tenants_group.command("list")
@click.option(
    "--state",
    type=click.Choice(["requested", "creating", "ready", "failed", "deprovisioning", "dropped"]),
    multiple=True,
    help="Only users in these states.",
)
@dba_errors
def list_command(state: tuple[str, ...]) -> None:
    """List users in the provisioning registry."""
    database = get_database()
    with database.transaction() as conn:
        records = registry.list_tenants(conn, states=list(state) or None)
    if not records:
        click.echo("no users")
        return
    click.echo(f"{'USERNAME':<31} {'STATE':<15} {'VERSION':>7} {'ATTEMPTS':>8}  LAST ERROR")
    for r in records:
        version = str(r.template_version) if r.template_version is not None else "-"
        click.echo(
            f"{r.username:<31} {r.state:<15} {version:>7} {r.attempts:>8}  {r.last_error or ''}"
        )


@tenants_group.command("status")
@click.argument("username")
@dba_errors
def status_command(username: str) -> None:
    """Show one user's registry row and registered objects."""
    name = normalize_username(username)
    database = get_database()
    with database.transaction() as conn:
        record = registry.get_tenant(conn, name)
        objects = registry.registered_objects(conn, name)
    if record is None:
        raise click.ClickException(f"{name}: not in the provisioning registry")
    click.echo(f"username: {record.username}")
    click.echo(f"state: {record.state}")
    click.echo(
        f"template version: {record.template_version or '-'} (latest {LATEST_TEMPLATE_VERSION})"
    )
    click.echo(f"attempts: {record.attempts}")
    click.echo(f"last error: {record.last_error or '-'}")
    click.echo(f"requested: {record.requested_at.isoformat()}")
    click.echo(f"ready: {record.ready_at.isoformat() if record.ready_at else '-'}")
    click.echo(f"objects ({len(objects)}):")
    for obj in objects:
        click.echo(f"  {obj.object_type:<6} {obj.object_name} (v{obj.template_version})")


def _selected_users(usernames: tuple[str, ...], all_users: bool) -> list[str]:
    if all_users and usernames:
        raise click.UsageError("give USERNAMEs or --all, not both")
    if all_users:
        with get_database().transaction() as conn:
            return [
                r.username
                for r in registry.list_tenants(
                    conn, states=["ready", "creating", "failed", "deprovisioning"]
                )
            ]
    return _usernames(usernames, None)


def _report(drifts: list[Drift], *, all_users: bool = False) -> None:
    dirty = [d for d in drifts if not d.clean]
    for drift in dirty:
        for line in drift.lines():
            click.echo(f"{drift.username}: {line}")
    click.echo(f"{len(drifts)} user(s) checked, {len(dirty)} with drift")
    orphans = orphaned_user_files(get_database()) if all_users else []
    for name in orphans:
        click.echo(f"orphaned user file with no registry row (left in place): {name!r}")
    if orphans:
        click.echo(f"{len(orphans)} orphaned user file(s)")
    if dirty or orphans:
        raise SystemExit(1)


@tenants_group.command("verify")
@click.argument("usernames", nargs=-1)
@click.option("--all", "all_users", is_flag=True, help="Every user in the registry.")
@dba_errors
def verify_command(usernames: tuple[str, ...], all_users: bool) -> None:
    """Compare the catalog with the template; exit 1 when anything differs."""
    names = _selected_users(usernames, all_users)
    database = get_database()
    drifts: list[Drift] = []
    progress = Progress("Verifying", len(names))
    # Batches: on PostgreSQL one catalog read covers each (verify_batch), elsewhere the
    # batch is only how often the progress line moves.
    for start in range(0, len(names), VERIFY_BATCH):
        batch = verify_users(database, names[start : start + VERIFY_BATCH])
        drifts.extend(batch)
        progress.advance(len(batch), failed=sum(not d.clean for d in batch))
    if len(names) > 1:
        click.echo(progress.finish(), err=True)
    _report(drifts, all_users=all_users)


@tenants_group.command("repair")
@click.argument("usernames", nargs=-1)
@click.option("--all", "all_users", is_flag=True, help="Every user in the registry.")
@dba_errors
def repair_command(usernames: tuple[str, ...], all_users: bool) -> None:
    """Create missing objects and reconcile the registry; never drops anything."""
    names = _selected_users(usernames, all_users)
    database = get_database()
    provisioner = Provisioner(database)
    drifts: list[Drift] = []
    with _progress(names, "Repairing") as bar:
        for name in bar:
            with dba_action("sys_dba_action", "tenants repair", username=name) as row:
                drift = repair_user(database, name, provisioner)
                # Drift repair leaves (extra objects, which it never drops) is what makes the
                # command exit 1, so it is a failure here too; the findings are counted only.
                findings = len(drift.lines())
                row.outcome = "success" if drift.clean else "failure"
                row.details = {"drift_left": findings}
            drifts.append(drift)
    _report(drifts, all_users=all_users)


@tenants_group.command("migrate")
@click.option("--dry-run", is_flag=True, help="Print the SQL instead of running it.")
@click.option(
    "--dialect",
    type=click.Choice(sorted(DIALECTS)),
    help="With --dry-run: compile for this dialect instead of the configured database's.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10000),
    default=None,
    help="Users per batch: one transaction on PostgreSQL, one registry commit on SQLite "
    "(default MIGRATE_BATCH_SIZE).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Batches migrated at once, each on a connection of its own.",
)
@click.option(
    "--to",
    "to_version",
    type=click.IntRange(1, LATEST_TEMPLATE_VERSION),
    default=LATEST_TEMPLATE_VERSION,
    show_default=True,
    help="Template version to bring users to (an earlier one stages an upgrade).",
)
@click.option("--verbose", "-v", is_flag=True, help="One line per user, not only failures.")
@dba_errors
def migrate_command(
    dry_run: bool,
    dialect: str | None,
    batch_size: int | None,
    jobs: int,
    to_version: int,
    verbose: bool,
) -> None:
    """Bring every ready user to the latest template version (resumable)."""
    database = get_database()
    from flask import current_app

    size = batch_size or int(current_app.config["MIGRATE_BATCH_SIZE"])
    provisioner = Provisioner(database)
    pending = provisioner.count_pending_migrations(target=to_version)
    if pending == 0:
        click.echo(f"All users are at template version {to_version}; nothing to do.")
        return
    if dry_run:
        _print_migration_sql(provisioner, database, dialect, size, to_version)
        return
    names = [
        r.username
        for r in provisioner.pending_migrations(target=to_version, batch_size=max(size, 1000))
    ]
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def record(conn: Connection, outcomes: Sequence[UserMigration]) -> None:
        record_dba_actions(
            conn,
            "tenant_provisioned",
            "tenants migrate",
            [_migration_row(outcome) for outcome in outcomes if not outcome.busy],
        )

    migrator = provisioner.migrator(target=to_version, on_outcomes=record)

    def work(batch: list[str]) -> list[UserMigration]:
        with app.app_context():  # worker threads: the audit rows need the app's keys
            return migrator.migrate(batch)

    progress = Progress(f"Migrating to v{to_version}", len(names))
    outcomes = run_batches(
        names,
        work,
        batch_size=size,
        jobs=jobs,
        on_batch=lambda done: progress.advance(len(done), failed=sum(o.failed for o in done)),
    )
    click.echo(progress.finish(), err=True)
    _report_migration(outcomes, to_version, verbose=verbose)


def _print_migration_sql(
    provisioner: Provisioner, database: Any, dialect: str | None, size: int, to_version: int
) -> None:
    name = dialect or database.dialect_name
    # The configured database's own dialect, or the 19c profile ddl/ is rendered with.
    target = database.engine.dialect if dialect is None else DIALECTS[name]()
    schema = SQLITE_TENANT_SCHEMA if name == "sqlite" else None
    for record in provisioner.pending_migrations(batch_size=size):
        if record.template_version is None:
            continue  # only ready users are pending, and they always have a version
        click.echo(
            f"-- {record.username}: v{record.template_version} -> v{LATEST_TEMPLATE_VERSION}"
        )
        for step in cached_migration_steps(
            record.username,
            record.template_version,
            LATEST_TEMPLATE_VERSION,
            schema=schema,
            dialect=target,
        ):
            click.echo(f"{step.sql(target)};")


def _migration_row(outcome: UserMigration) -> UserActionRow:
    details = {
        "result": outcome.outcome,
        "from_version": outcome.from_version,
        "template_version": outcome.to_version,
        "steps_run": outcome.steps_run,
    }
    if not outcome.failed:
        return UserActionRow(outcome.username, "success", details)
    error_class = (outcome.error or "Error").split(":", 1)[0]
    return UserActionRow(outcome.username, "failure", details, error_class)


def _report_migration(outcomes: Sequence[UserMigration], to_version: int, *, verbose: bool) -> None:
    migrated = [o for o in outcomes if o.outcome == "migrated"]
    current = [o for o in outcomes if o.outcome == "up_to_date"]
    failed = [o for o in outcomes if o.failed]
    if verbose:
        for o in migrated:
            click.echo(
                f"{o.username}: migrated (v{o.from_version} -> v{o.to_version}, "
                f"{o.steps_run} step(s))"
            )
        for o in current:
            click.echo(f"{o.username}: up to date (v{o.to_version})")
    for o in failed:
        click.echo(f"error: {o.username}: {o.error}", err=True)
    steps = sum(o.steps_run for o in migrated)
    click.echo(
        f"migrated {len(migrated):,} user(s) to template v{to_version} "
        f"({steps:,} statement(s)); {len(current):,} already there; {len(failed):,} failed"
    )
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(outcomes)} user(s) failed; run `tenants migrate` again "
            "once the cause is fixed (each failure is in the user's last_error)"
        )
