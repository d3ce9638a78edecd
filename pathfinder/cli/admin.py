"""``pathfinder admin ...``: what only someone with server access may do."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from pathfinder.admin.service import create_site_admin, generate_password
from pathfinder.api.errors import Problem
from pathfinder.auth.schemas import check_email
from pathfinder.schema.naming import InvalidUsername

admin_group = AppGroup("admin", help="Administrative commands for operators.")


@admin_group.command("create-site-admin")
@click.argument("username")
@click.option("--email", required=True, help="The site admin's e-mail address.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating one.",
)
def create_site_admin_command(username: str, email: str, password_stdin: bool) -> None:
    """Create a site admin. The only way to make the first one: there is no HTTP route."""
    try:
        check_email(email)
    except ValueError as exc:
        raise click.ClickException(f"invalid e-mail address {email!r}") from exc
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise click.ClickException("no password on standard input")
    else:
        password = generate_password()
    try:
        user_id = create_site_admin(username, email, password)
    except InvalidUsername as exc:
        raise click.ClickException(f"invalid username {username!r}: {exc}") from exc
    except Problem as exc:
        raise click.ClickException(exc.detail or exc.title) from exc
    click.echo(f"Created site admin {username.lower()} ({user_id}).")
    if not password_stdin:
        click.echo(f"One-time password (shown once, change it after signing in): {password}")
