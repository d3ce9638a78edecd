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

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_app

REQUESTS_PER_THREAD = 60
PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(base: str, path: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_forgot_and_a_failing_change_never_deadlock(database_url: str, tmp_path: Path) -> None:
    from pathfinder.db import get_database
    from pathfinder.db.setup import init_database
    from pathfinder.flags.system import set_system_flag

    app = make_app(database_url, tmp_path / "instance")
    database = get_database(app)
    init_database(database)
    with database.transaction() as conn:
        set_system_flag(conn, "self_registration_enabled", True)
    database.dispose()

    env = dict(os.environ)
    env.update(
        {
            "PATHFINDER_DATABASE_URL": database_url,
            "PATHFINDER_INSTANCE_PATH": str(tmp_path / "instance"),
            "PATHFINDER_PASSWORD_HASH_PROFILE": "fast",
            "PATHFINDER_RATELIMIT_PASSWORD_RESET": "100000 per minute",
            "PATHFINDER_RATELIMIT_LOGIN": "100000 per minute",
            "PATHFINDER_RATELIMIT_REGISTER": "100000 per minute",
        }
    )
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "pathfinder.cli", "serve", "--bind", f"127.0.0.1:{port}"]
            + ["--workers", "4"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not start:\n" + log_path.read_text()[-2000:])
                time.sleep(0.2)
        email = "victim@example.com"
        status, _ = _call(
            base, "/auth/register", {"username": "victim", "email": email, "password": PASSWORD}
        )
        assert status == 201
        status, tokens = _call(base, "/auth/login", {"login": "victim", "password": PASSWORD})
        assert status == 200, tokens
        token = tokens["access_token"]

        statuses: list[int] = []
        lock = threading.Lock()

        def forgot() -> None:
            for _ in range(REQUESTS_PER_THREAD):
                code, _ = _call(base, "/auth/password/forgot", {"email": email})
                with lock:
                    statuses.append(code)

        def change() -> None:
            for _ in range(REQUESTS_PER_THREAD):
                code, _ = _call(
                    base,
                    "/auth/password/change",
                    {"current_password": "wrong password", "new_password": "x" * 20},
                    token,
                )
                with lock:
                    statuses.append(code)

        threads = [threading.Thread(target=forgot), threading.Thread(target=change)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        server.terminate()
        server.wait(timeout=60)
    server_log = log_path.read_text(errors="replace")
    assert len(statuses) == 2 * REQUESTS_PER_THREAD
    assert [s for s in statuses if s >= 500] == [], server_log[-3000:]
    assert statuses.count(202) == REQUESTS_PER_THREAD
    assert "deadlock" not in server_log.lower()
