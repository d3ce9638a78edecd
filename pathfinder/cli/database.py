"""``pathfinder db init|status``: create and inspect the shared schema."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from pathfinder.cli.errors import dba_errors
from pathfinder.db import get_database
from pathfinder.db.setup import LegacyAuditLog, database_status, init_database

db_group = AppGroup("db", help="Create and inspect the shared schema.")


@db_group.command("init")
@dba_errors
def init_command() -> None:
    """Create the shared tables and record schema versions (safe to repeat)."""
    database = get_database()
    try:
        created = init_database(database, production=bool(current_app.config.get("PRODUCTION")))
    except LegacyAuditLog as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Initialised {database.dialect_name} database: "
        f"{len(created)} table(s) created" + (f" ({', '.join(created)})" if created else "")
    )


@db_group.command("status")
def status_command() -> None:
    """Print the dialect, reachability and recorded schema versions; exit 1 if unusable."""
    status = database_status(get_database())
    click.echo(f"dialect: {status.dialect}")
    click.echo(f"reachable: {'yes' if status.reachable else 'no'}")
    if status.error:
        click.echo(f"error: {status.error}")
    click.echo(f"shared schema version: {status.shared_schema_version or 'not initialised'}")
    click.echo(f"template version: {status.template_version or 'not initialised'}")
    if not status.reachable or status.shared_schema_version is None:
        raise SystemExit(1)
