"""``pathfinder mail list|show``: read the outbox, where mail waits without an SMTP server.

On a development machine (no ``PATHFINDER_MAIL_SMTP_HOST``) invitations, verification and
reset messages are kept in ``pf_outbox`` only; these commands read them without ``sqlite3``.
A message body may hold a single-use token that takes over an account (a reset), so
``mail show`` records who read which message (``sys_dba_action``), as other DBA commands
do; ``mail list`` shows no bodies and records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click
from flask.cli import AppGroup

from pathfinder.cli.errors import dba_errors
from pathfinder.cli.operator import dba_action
from pathfinder.db import get_database
from pathfinder.mail.repo import get_message, list_messages

mail_group = AppGroup("mail", help="Read the outbox (mail kept without an SMTP server).")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _state(row: Mapping[str, Any]) -> str:
    """``sent`` by SMTP, ``failed`` (the last attempt; it is retried), or ``queued``."""
    if row["sent_at"] is not None:
        return "sent"
    return "failed" if row["last_error"] else "queued"


@mail_group.command("list")
@click.option("--to", "recipient", default=None, help="Only messages to this address.")
@click.option("--template", default=None, help="Only this kind (invitation, password_reset...).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@dba_errors
def list_command(recipient: str | None, template: str | None, limit: int) -> None:
    """The newest messages, newest first: id, time (UTC), state, kind, recipient, subject."""
    with get_database().transaction() as conn:
        rows = list_messages(conn, limit=limit, recipient=recipient, template=template)
    if not rows:
        click.echo("The outbox is empty." if not (recipient or template) else "No messages.")
        return
    for row in rows:
        click.echo(
            f"{row['id']}  {_when(row['created_at'])}  {_state(row):<6}  "
            f"{row['template']:<26}  {row['recipient']}  {row['subject']}"
        )


@mail_group.command("show")
@click.argument("message_id")
@dba_errors
def show_command(message_id: str) -> None:
    """One message in full (MESSAGE_ID from ``pathfinder mail list``)."""
    with get_database().transaction() as conn:
        row = get_message(conn, message_id)
    if row is None:
        raise click.ClickException(f"no message {message_id!r} in the outbox")
    with dba_action(
        "sys_dba_action", "mail show", target_type="message", target_display=str(row["id"])
    ) as action:
        action.details = {"template": row["template"]}
        click.echo(f"Id:       {row['id']}")
        click.echo(f"Created:  {_when(row['created_at'])} UTC")
        click.echo(
            f"State:    {_state(row)}"
            + (f" at {_when(row['sent_at'])} UTC" if row["sent_at"] else "")
        )
        click.echo(f"To:       {row['recipient']}")
        click.echo(f"Kind:     {row['template']}")
        click.echo(f"Subject:  {row['subject']}")
        click.echo("")
        click.echo(row["body"])
