"""Shares through the API for the CPA people tests, the route matrix and the live test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import get_database
from pathfinder.schema.shared.messaging import outbox
from tests.cpa.factories import API, create_experience, create_report

TOKEN_IN_ACCEPT = re.compile(r'"token": "([A-Za-z0-9_-]+)"')
TOKEN_IN_LINK = re.compile(r"/cpa/links/([A-Za-z0-9_-]+)")


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def share(
    client: FlaskClient, headers: dict[str, str], expected: int = 201, **body: Any
) -> dict[str, Any]:
    body.setdefault("expires_at", in_days(30))
    response = client.post(f"{API}/shares", headers=headers, json=body)
    assert response.status_code == expected, response.get_json()
    return dict(response.get_json())


def last_mail(app: Flask, recipient: str, template: str) -> str:
    with get_database(app).transaction() as conn:
        body = conn.execute(
            sa.select(outbox.c.body)
            .where(outbox.c.recipient == recipient, outbox.c.template == template)
            .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        ).scalar()
    assert body is not None, f"no {template} mail to {recipient}"
    return str(body)


def mails(app: Flask, template: str) -> list[dict[str, Any]]:
    with get_database(app).transaction() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.template == template)).mappings()
        return [dict(r) for r in rows]


def invitation_token(app: Flask, email: str) -> str:
    match = TOKEN_IN_ACCEPT.search(last_mail(app, email, "cpa_share_granted"))
    assert match, "no token in the invitation"
    return match.group(1)


def link_token(app: Flask, email: str) -> str:
    match = TOKEN_IN_LINK.search(last_mail(app, email, "cpa_share_granted"))
    assert match, "no link in the mail"
    return match.group(1)


def accept(client: FlaskClient, headers: dict[str, str], token: str) -> dict[str, Any]:
    response = client.post(
        f"{API}/share-invitations/accept", headers=headers, json={"token": token}
    )
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def completed_report(
    client: FlaskClient, headers: dict[str, str], start: str, end: str, codes: list[str], **kw: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A report with one experience per code, marked completed."""
    report = create_report(client, headers, start, end, **kw)
    day = start[:8] + "02"
    made = [create_experience(client, headers, report["id"], code, day) for code in codes]
    done = client.post(f"{API}/reports/{report['id']}/complete", headers=headers)
    assert done.status_code == 200, done.get_json()
    return report, made
