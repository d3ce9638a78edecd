"""``pathfinder audit verify``: check the tamper-evident audit log.

Exit status 0 with a summary when the chain holds; 1 with one line naming the first broken
``seq`` and why (edited, missing, reordered, link, duplicate, head) when it does not, so a
cron job or monitoring check can alert on the status alone. The line carries no row content:
the audit log may hold personal data, and a monitoring system is the wrong place for it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from pathfinder.audit.verify import DEFAULT_BATCH_SIZE, verify_chain
from pathfinder.db import get_database

audit_group = AppGroup("audit", help="Verify the tamper-evident audit log.")


def parse_since(value: str | None) -> int | datetime | None:
    """``--since``: digits are a ``seq``; anything else an ISO 8601 date/time (UTC if naive)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            "expected a seq number or an ISO date/time such as 2025-01-31T12:00:00Z",
            param_hint="--since",
        ) from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@audit_group.command("verify")
@click.option(
    "--since",
    "since_text",
    metavar="DATETIME|SEQ",
    help="Start at this seq, or at the first row written at or after this instant.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows read per query.",
)
def verify_command(since_text: str | None, batch_size: int) -> None:
    """Recompute every row's HMAC and link; report the first broken one."""
    since = parse_since(since_text)
    if isinstance(since, int) and since < 1:
        raise click.BadParameter("a seq starts at 1", param_hint="--since")

    def progress(count: int) -> None:
        if count % (batch_size * 100) < batch_size:
            click.echo(f"  {count} row(s) checked", err=True)

    try:
        with get_database().connect() as conn:
            report = verify_chain(conn, since=since, batch_size=batch_size, progress=progress)
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise click.ClickException(f"database error: {first[0] if first else exc}") from exc
    if report.broken is not None:
        click.echo(f"audit chain broken at {report.broken}", err=True)
        raise SystemExit(1)
    if report.anchor is not None:
        click.echo(
            f"rows before seq {report.first_seq} are not stored (archived?); the window is "
            f"anchored on prev_hash {report.anchor}: compare it with the archive's last row_hash"
        )
    head = report.head
    window = f"seq {report.first_seq}..{report.last_seq}" if report.checked else "no rows"
    click.echo(
        f"audit chain ok: {report.checked} row(s) verified ({window}); "
        f"head seq {head.seq if head else 0}" + (f" hash {head.hash}" if head and head.seq else "")
    )
