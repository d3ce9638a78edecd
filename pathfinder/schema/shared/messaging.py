"""``pf_outbox``: e-mail the platform sends, when no SMTP server is configured.

The outbox mailer writes each message here instead of sending it, so development and tests
work with no mail server and an operator can read what would have gone out. With SMTP
configured the same row records the message and when it was handed to the server.
"""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.shared.identity import EMAIL_LENGTH
from pathfinder.schema.types import UtcDateTime, id_type

outbox = sa.Table(
    "pf_outbox",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("recipient", sa.String(EMAIL_LENGTH), nullable=False),
    # What kind of message it is (password_reset, email_verification, invitation, ...).
    sa.Column("template", sa.String(50), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    sa.Column("last_error", sa.String(500)),
    sa.Index(None, "recipient", "created_at"),
    sa.Index(None, "sent_at"),
)
