"""``pathfinder mail list|show``: the development outbox without ``sqlite3``."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_log
from tests.conftest import AuthActions


def test_list_and_show_a_reset_message(
    runner: FlaskCliRunner, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    empty = runner.invoke(args=["mail", "list"])
    assert empty.exit_code == 0 and empty.output.strip() == "The outbox is empty."

    auth.register("reader")
    auth.register("other")
    for email in ("reader@example.com", "other@example.com"):
        assert client.post("/api/v1/auth/password/forgot", json={"email": email}).status_code == 202

    listed = runner.invoke(args=["mail", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2
    assert "other@example.com" in lines[0] and "reader@example.com" in lines[1]  # newest first
    assert "queued" in lines[0] and "password_reset" in lines[0]
    assert "token" not in listed.output  # bodies are not listed

    mine = runner.invoke(args=["mail", "list", "--to", "READER@example.com"])
    assert len(mine.output.strip().splitlines()) == 1
    message_id = mine.output.split()[0]
    assert re.fullmatch(r"[0-9A-Z]{26}", message_id)
    none = runner.invoke(args=["mail", "list", "--template", "invitation"])
    assert none.output.strip() == "No messages."

    shown = runner.invoke(args=["mail", "show", message_id.lower()])
    assert shown.exit_code == 0, shown.output
    assert "To:       reader@example.com" in shown.output
    assert "Subject:  Reset your Pathfinder password" in shown.output
    assert "POST http://127.0.0.1:5000/api/v1/auth/password/reset" in shown.output
    # Reading a body (it may hold a token) is recorded like other DBA commands.
    with db.transaction() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.event_type == "sys_dba_action")
        ).mappings()
        shows = [r for r in rows if (r["details"] or {}).get("command") == "mail show"]
    assert len(shows) == 1 and shows[0]["actor_role"] == "dba"
    assert shows[0]["details"]["template"] == "password_reset"

    missing = runner.invoke(args=["mail", "show", "01J00000000000000000000000"])
    assert missing.exit_code == 1
    assert "no message '01J00000000000000000000000' in the outbox" in missing.output
