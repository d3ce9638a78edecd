"""The ``pathfinder`` command: Flask's CLI plus the DBA and admin command groups.

Each group lives in its own module and is added by :func:`init_app`, so ``flask --app wsgi``
and ``pathfinder`` offer the same commands.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup


def init_app(app: Flask) -> None:
    """Add every command group to ``app.cli``."""
    from pathfinder.analytics.cli import analytics_group
    from pathfinder.cli import admin, database, ddl, jobs, keys, serve, tenants
    from pathfinder.cli import audit as audit_cli
    from pathfinder.cli import flags as flags_cli
    from pathfinder.cli import mail as mail_cli
    from pathfinder.retention.cli import retention_group

    app.cli.add_command(admin.admin_group)
    app.cli.add_command(serve.serve_command)
    app.cli.add_command(jobs.jobs_group)
    app.cli.add_command(jobs.scheduler_command)
    app.cli.add_command(database.db_group)
    app.cli.add_command(ddl.ddl_group)
    app.cli.add_command(tenants.tenants_group)
    app.cli.add_command(audit_cli.audit_group)
    app.cli.add_command(keys.keys_group)
    app.cli.add_command(flags_cli.flags_group)
    app.cli.add_command(mail_cli.mail_group)
    app.cli.add_command(analytics_group)
    app.cli.add_command(retention_group)


def _create_app() -> Flask:
    from pathfinder import create_app

    return create_app()


def main() -> None:
    """Console-script entry point."""
    cli = FlaskGroup(create_app=_create_app, help="Pathfinder: API server and DBA tools.")
    cli.main(prog_name="pathfinder")
