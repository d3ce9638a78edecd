"""Outgoing e-mail behind one interface: SMTP when configured, else the ``pf_outbox`` table.

A message of an optional category (a deadline reminder) is not queued at all when its
recipient turned that category off in their notification settings; security and account
mail is always queued. Every message is first written to ``pf_outbox`` in the caller's
transaction, so a message
exists exactly when the change that caused it commits. The SMTP mailer then hands it to the
server after commit; the outbox mailer (the default: development, tests, deployments without
mail) stops there and admins read the table. Message bodies may carry single-use links, so
they are never logged.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.engine import Connection

from pathfinder.ids import new_id
from pathfinder.preferences import SECURITY, wants_email
from pathfinder.schema.shared.messaging import outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    recipient: str
    template: str
    subject: str
    body: str
    # "security" (the default) is always sent; another category (pathfinder.preferences.
    # OPTIONAL_EMAIL_CATEGORIES) is dropped when ``user_id`` turned it off.
    category: str = SECURITY
    user_id: str | None = None


class Mailer(Protocol):
    def queue(self, conn: Connection, message: Message) -> str | None:
        """Record ``message`` in the caller's transaction; return its outbox id, or None
        when the recipient's notification settings turned its category off."""

    def deliver_pending(self, conn: Connection, limit: int = 100) -> int:
        """Send queued messages (a no-op for the outbox mailer); return how many were sent."""


class OutboxMailer:
    """Keeps messages in ``pf_outbox``; nothing leaves the machine."""

    def queue(self, conn: Connection, message: Message) -> str | None:
        if not wants_email(conn, message.user_id, message.category):
            log.info(
                "mail %s not queued: the user turned %s off", message.template, message.category
            )
            return None
        message_id = new_id()
        conn.execute(
            outbox.insert().values(
                id=message_id,
                recipient=message.recipient,
                template=message.template,
                subject=message.subject,
                body=message.body,
                created_at=datetime.now(UTC),
            )
        )
        return message_id

    def deliver_pending(self, conn: Connection, limit: int = 100) -> int:
        return 0


@dataclass
class SmtpMailer(OutboxMailer):
    """Queues like the outbox mailer, then sends queued rows through an SMTP server."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    sender: str = "pathfinder@localhost"
    starttls: bool = True

    def deliver_pending(self, conn: Connection, limit: int = 100) -> int:
        rows = (
            conn.execute(
                sa.select(outbox)
                .where(outbox.c.sent_at.is_(None))
                .order_by(outbox.c.created_at)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        sent = 0
        if not rows:
            return 0
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            for row in rows:
                email = EmailMessage()
                email["From"] = self.sender
                email["To"] = row["recipient"]
                email["Subject"] = row["subject"]
                email.set_content(row["body"])
                try:
                    smtp.send_message(email)
                except smtplib.SMTPException as exc:
                    conn.execute(
                        outbox.update()
                        .where(outbox.c.id == row["id"])
                        .values(last_error=type(exc).__name__)
                    )
                    continue
                conn.execute(
                    outbox.update()
                    .where(outbox.c.id == row["id"])
                    .values(sent_at=datetime.now(UTC), last_error=None)
                )
                sent += 1
        return sent


def init_app(app: Flask) -> None:
    """Choose the mailer from ``MAIL_SMTP_HOST`` (unset: the outbox mailer); check the base
    URLs mailed links are built on, so a malformed one stops start-up, not a mail."""
    from pathfinder.mail.links import check_base_urls

    check_base_urls(app.config)
    host = app.config.get("MAIL_SMTP_HOST")
    if host:
        mailer: Mailer = SmtpMailer(
            host=str(host),
            port=int(app.config.get("MAIL_SMTP_PORT", 587)),
            username=app.config.get("MAIL_SMTP_USERNAME"),
            password=app.config.get("MAIL_SMTP_PASSWORD"),
            sender=str(app.config.get("MAIL_SENDER", "pathfinder@localhost")),
            starttls=bool(app.config.get("MAIL_SMTP_STARTTLS", True)),
        )
    else:
        mailer = OutboxMailer()
    app.extensions["pathfinder.mailer"] = mailer


def get_mailer() -> Mailer:
    return current_app.extensions["pathfinder.mailer"]
