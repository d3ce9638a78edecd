"""Sign-in state shared by every worker, raced as an attacker would: concurrent requests
through four gunicorn workers on PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pathfinder.schema.shared.security import audit_log
from pathfinder.security import totp
from tests.live import LiveServer, live_server, prepare_database

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
PASSWORD = "correct horse battery staple"
OPEN_LIMITS = {
    "RATELIMIT_LOGIN": "100000 per minute",
    "RATELIMIT_LOGIN_ACCOUNT": "100000 per minute",
    "RATELIMIT_REGISTER": "100000 per minute",
}


def _at_once(count: int, action: Any) -> list[Any]:
    """Run ``action(n)`` in ``count`` threads released together; their results in order."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        start.wait(30)
        results[n] = action(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def _register(server: LiveServer, name: str) -> dict[str, Any]:
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    status, tokens = server.call("POST", "/auth/register", body)
    assert status == 201, tokens
    return dict(tokens)


def test_concurrent_wrong_passwords_count_exactly_the_threshold(
    database_url: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    prepare_database(database_url, instance)
    with live_server(database_url, instance, OPEN_LIMITS) as server:
        _register(server, "target")
        answers = _at_once(
            24,
            lambda n: server.call(
                "POST", "/auth/login", {"login": "target", "password": f"wrong {n}"}
            )[0],
        )
        right = server.call("POST", "/auth/login", {"login": "target", "password": PASSWORD})
        log = server.log()
    assert answers == [401] * 24 and right[0] == 401, (answers, right)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        details = conn.execute(
            sa.select(audit_log.c.details).where(audit_log.c.event_type == "authn_login_fail")
        ).scalars()
        counted = sorted(d["failures"] for d in details if d and d["reason"] == "bad_password")
        # Each worker batched its request rows; a graceful stop flushed them all.
        request_rows = conn.execute(
            sa.select(sa.func.count()).where(
                audit_log.c.event_type == "request",
                audit_log.c.request_path == "/api/v1/auth/login",
            )
        ).scalar_one()
    engine.dispose()
    assert request_rows == 25
    assert counted == [1, 2, 3, 4, 5]
    assert "Traceback" not in log


def test_one_mfa_token_raced_gives_one_session(database_url: str, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    prepare_database(database_url, instance)
    with live_server(database_url, instance, OPEN_LIMITS) as server:
        bearer = {"Authorization": f"Bearer {_register(server, 'mfauser')['access_token']}"}
        status, started = server.call("POST", "/auth/mfa/enroll", {"password": PASSWORD}, bearer)
        assert status == 201, started
        secret = started["secret"]
        status, confirmed = server.call(
            "POST", "/auth/mfa/confirm", {"code": totp.code_for(secret)}, bearer
        )
        assert status == 200, confirmed
        codes = confirmed["recovery_codes"]
        status, challenge = server.call(
            "POST", "/auth/login", {"login": "mfauser", "password": PASSWORD}
        )
        assert status == 200 and challenge["mfa_required"], challenge
        token = challenge["mfa_token"]
        # Two valid second factors for one token, sent at once from two places.
        bodies = [
            {"mfa_token": token, "code": totp.code_for(secret, now=time.time() + 30)},
            {"mfa_token": token, "recovery_code": codes[0]},
        ]
        answers = _at_once(2, lambda n: server.call("POST", "/auth/login/mfa", bodies[n])[0])
    assert sorted(answers) == [200, 401], answers
