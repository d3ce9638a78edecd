"""Lockout under concurrency: every wrong password is counted, exactly the threshold is
honoured, and nothing (not even the right password) gets in once the account is locked.

Measured on the previous code with gunicorn on PostgreSQL: 24 wrong passwords sent at once
got 13 password checks before the account locked (threshold 5), and the stored count ended
at 4, because the count was read without a lock and written back from Python.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from flask import Flask

from pathfinder.db import Database
from pathfinder.schema.shared.identity import users
from pathfinder.schema.shared.security import audit_log
from tests.conftest import DEFAULT_PASSWORD, AuthActions

ATTEMPTS = 24


def _bad_password_failures(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.details).where(audit_log.c.event_type == "authn_login_fail")
        ).scalars()
        return [d for d in rows if d and d.get("reason") == "bad_password"]


def test_concurrent_wrong_passwords_lock_at_exactly_the_threshold(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    auth.register("target")
    threshold = int(app.config.get("LOCKOUT_THRESHOLD", 5))
    start = threading.Barrier(ATTEMPTS)
    answers: list[int] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        client = app.test_client()
        start.wait(30)
        response = client.post(
            "/api/v1/auth/login", json={"login": "target", "password": f"wrong password {n}"}
        )
        with lock:
            answers.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == ATTEMPTS and all(code < 500 for code in answers), answers
    failures = _bad_password_failures(db)
    # Each wrong password before the lock was counted once, in order; none after it.
    assert sorted(f["failures"] for f in failures) == list(range(1, threshold + 1))
    with db.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == "target")).mappings().one()
    assert row["locked_until"] is not None
    assert answers.count(401) == ATTEMPTS
    # Locked: the right password is refused too.
    after = app.test_client().post(
        "/api/v1/auth/login", json={"login": "target", "password": DEFAULT_PASSWORD}
    )
    assert after.status_code == 401
