"""Reading the outbox (``pf_outbox``): the messages queued, newest first.

Without SMTP settings every message stays in the table; on a development machine it is the
only place an invitation or a reset link can be read. ``pathfinder mail list|show`` read it
through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.schema.shared.messaging import outbox

SUMMARY_COLUMNS = (
    outbox.c.id,
    outbox.c.created_at,
    outbox.c.sent_at,
    outbox.c.last_error,
    outbox.c.template,
    outbox.c.recipient,
    outbox.c.subject,
)


def list_messages(
    conn: Connection,
    *,
    limit: int = 20,
    recipient: str | None = None,
    template: str | None = None,
) -> Sequence[RowMapping]:
    """The newest ``limit`` messages without their bodies, optionally for one recipient
    (case-insensitive) or of one template."""
    query = sa.select(*SUMMARY_COLUMNS).order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
    if recipient:
        query = query.where(sa.func.lower(outbox.c.recipient) == recipient.strip().lower())
    if template:
        query = query.where(outbox.c.template == template)
    return conn.execute(query.limit(limit)).mappings().all()


def get_message(conn: Connection, message_id: str) -> RowMapping | None:
    """One message with its body, by id (ids are ULIDs; case does not matter)."""
    return (
        conn.execute(sa.select(outbox).where(outbox.c.id == message_id.strip().upper()))
        .mappings()
        .first()
    )
