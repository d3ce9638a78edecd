"""The forgot/change deadlock, tried as an attacker would: through gunicorn on PostgreSQL.

With the old single audit-chain lock, ``POST /auth/password/forgot`` (audit row first, then
the user row through the reset token's foreign key) and a failing ``POST
/auth/password/change`` for the same account (user row ``FOR UPDATE`` first, then the
chain) took the two locks in opposite orders: two threads of 60 requests each gave 40
PostgreSQL deadlocks and 40 answers of 500, and ``forgot`` needs no sign-in. Appending an
audit row now locks nothing another writer needs, so the cycle cannot form
(``docs/architecture.md``, "Lock order").
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.live import live_server, prepare_database

REQUESTS_PER_THREAD = 60
PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_forgot_and_a_failing_change_never_deadlock(database_url: str, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    prepare_database(database_url, instance)
    settings = {
        "RATELIMIT_PASSWORD_RESET": "100000 per minute",
        "RATELIMIT_PASSWORD_RESET_ACCOUNT": "100000 per minute",
        "RATELIMIT_LOGIN": "100000 per minute",
        "RATELIMIT_REGISTER": "100000 per minute",
    }
    statuses: list[int] = []
    with live_server(database_url, instance, settings) as server:
        email = "victim@example.com"
        status, _ = server.call(
            "POST", "/auth/register", {"username": "victim", "email": email, "password": PASSWORD}
        )
        assert status == 201
        status, tokens = server.call(
            "POST", "/auth/login", {"login": "victim", "password": PASSWORD}
        )
        assert status == 200, tokens
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        lock = threading.Lock()

        def forgot() -> None:
            for _ in range(REQUESTS_PER_THREAD):
                code, _ = server.call("POST", "/auth/password/forgot", {"email": email})
                with lock:
                    statuses.append(code)

        def change() -> None:
            wrong = {"current_password": "wrong password", "new_password": "x" * 20}
            for _ in range(REQUESTS_PER_THREAD):
                code, _ = server.call("POST", "/auth/password/change", wrong, bearer)
                with lock:
                    statuses.append(code)

        threads = [threading.Thread(target=forgot), threading.Thread(target=change)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        server_log = server.log()
    assert len(statuses) == 2 * REQUESTS_PER_THREAD
    assert [s for s in statuses if s >= 500] == [], server_log[-3000:]
    assert statuses.count(202) == REQUESTS_PER_THREAD
    assert "deadlock" not in server_log.lower()
