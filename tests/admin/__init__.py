"""Helpers for the administration tests: admins, the outbox, audit rows, problems.

Kept here rather than in a conftest so each test module says where its helpers come from.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.schema.shared.messaging import outbox
from pathfinder.schema.shared.security import audit_log
from tests.conftest import AuthActions


def problem(response: Any) -> dict[str, Any]:
    """The problem document of an error response (asserting its media type)."""
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def admin(auth: AuthActions, username: str, role: str = "admin") -> dict[str, str]:
    """Register ``username``, give it ``role`` and return fresh auth headers."""
    auth.register(username)
    auth.set_role(username, role)
    return auth.headers(auth.login(username))


def mails(db: Database, recipient: str, template: str | None = None) -> list[dict[str, Any]]:
    """Messages queued for ``recipient`` (oldest first)."""
    query = sa.select(outbox).where(outbox.c.recipient == recipient).order_by(outbox.c.created_at)
    if template is not None:
        query = query.where(outbox.c.template == template)
    with db.transaction() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def link_token(body: str, path: str) -> str:
    """The token of the first ``.../<path>/<token>`` link, ``?token=`` or ``"token": "..."``
    in a mail body."""
    found = (
        re.search(rf"/{path}/([A-Za-z0-9_-]+)", body)
        or re.search(r"token=([A-Za-z0-9_-]+)", body)
        or re.search(r'"token": "([A-Za-z0-9_-]+)"', body)
    )
    assert found, body
    return found.group(1)


def audit_events(db: Database, event: str) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.event_type == event).order_by(audit_log.c.seq)
        ).mappings()
        return [dict(r) for r in rows]
