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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask.cli import AppGroup
from sqlalchemy.dialects import postgresql, sqlite

from pathfinder.cli.errors import dba_errors, one_line
from pathfinder.cli.operator import dba_action
from pathfinder.db import get_database
from pathfinder.provisioning import Provisioner, ProvisioningError, Result, registry
from pathfinder.provisioning.locks import TenantBusy
from pathfinder.provisioning.plan import migration_steps
from pathfinder.provisioning.verify import Drift, orphaned_user_files, repair_user, verify_user
from pathfinder.schema.naming import InvalidUsername, normalize_username
from pathfinder.schema.oracle_profile import oracle_dialect
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, SQLITE_TENANT_SCHEMA

tenants_group = AppGroup("tenants", help="Provision, verify, migrate and drop users' tables.")

F = TypeVar("F", bound=Callable[..., Any])

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
    with _progress(names, "Verifying") as bar:
        for name in bar:
            drifts.append(verify_user(database, name))
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
@click.option("--batch-size", type=click.IntRange(1, 10000), default=None)
@dba_errors
def migrate_command(dry_run: bool, dialect: str | None, batch_size: int | None) -> None:
    """Bring every ready user to the latest template version (resumable)."""
    database = get_database()
    from flask import current_app

    size = batch_size or int(current_app.config["MIGRATE_BATCH_SIZE"])
    provisioner = Provisioner(database)
    pending = provisioner.count_pending_migrations()
    if pending == 0:
        click.echo(f"All users are at template version {LATEST_TEMPLATE_VERSION}; nothing to do.")
        return
    if dry_run:
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
            for step in migration_steps(
                record.username, record.template_version, LATEST_TEMPLATE_VERSION, schema=schema
            ):
                click.echo(f"{step.sql(target)};")
        return
    records = list(provisioner.pending_migrations(batch_size=size))
    _run_batch(
        [r.username for r in records],
        f"Migrating to v{LATEST_TEMPLATE_VERSION}",
        lambda name: _migrate_one(provisioner, name),
        event="tenant_provisioned",
        command="tenants migrate",
    )


def _migrate_one(provisioner: Provisioner, name: str) -> Done:
    result = provisioner.migrate_user(name)
    outcome = result.outcome.replace("_", " ")
    line = f"{name}: {outcome} (v{result.template_version}, {result.steps_run} step(s))"
    return line, _result_details(result)
