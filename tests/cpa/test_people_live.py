"""A share revoked while it is in use, on gunicorn (four workers) and PostgreSQL.

Two grantees (an account mentor and a link supervisor) read the shared report in a loop
from several threads, so their requests land on every worker. The candidate revokes both
shares mid-stream. Any request *sent after* the revocation answered must be refused (410):
no worker may hold the share in a cache, and none of them may serve a read that began
after the revocation committed.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pathfinder.schema.shared.messaging import outbox
from tests.cpa.factories import experience_body, report_body
from tests.cpa.sharing_helpers import TOKEN_IN_ACCEPT
from tests.live import LiveServer, live_server, prepare_database

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
PASSWORD = "correct horse battery staple"
OPEN_LIMITS = {
    "RATELIMIT_LOGIN": "100000 per minute",
    "RATELIMIT_LOGIN_ACCOUNT": "100000 per minute",
    "RATELIMIT_REGISTER": "100000 per minute",
    "RATELIMIT_SHARE_LINK": "100000 per minute",
}
READERS_PER_GRANTEE = 3


def _register(server: LiveServer, name: str) -> dict[str, str]:
    status, answer = server.call(
        "POST",
        "/auth/register",
        {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert status == 201, answer
    return {"Authorization": f"Bearer {answer['access_token']}"}


def _ok(answer: tuple[int, Any], expected: int = 200) -> Any:
    status, body = answer
    assert status == expected, body
    return body


def test_a_share_revoked_while_in_use_refuses_the_next_request(
    database_url: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    prepare_database(database_url, instance)
    with live_server(database_url, instance, OPEN_LIMITS) as server:
        cand = _register(server, "candi")
        mentor = _register(server, "menta")
        report = _ok(
            server.call("POST", "/cpa/reports", report_body("2024-01-01", "2024-06-30"), cand), 201
        )
        rid = report["id"]
        _ok(
            server.call(
                "POST",
                f"/cpa/reports/{rid}/experiences",
                experience_body("FR1", "2024-01-02"),
                cand,
            ),
            201,
        )
        expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        account = _ok(
            server.call(
                "POST",
                "/cpa/shares",
                {
                    "report_id": rid,
                    "role": "mentor",
                    "scope": "comment",
                    "grantee_kind": "account",
                    "email": "menta@example.com",
                    "expires_at": expires,
                },
                cand,
            ),
            201,
        )
        link = _ok(
            server.call(
                "POST",
                "/cpa/shares",
                {
                    "report_id": rid,
                    "role": "supervisor",
                    "scope": "verify",
                    "grantee_kind": "link",
                    "email": "boss@example.com",
                    "expires_at": expires,
                },
                cand,
            ),
            201,
        )
        engine = sa.create_engine(database_url)
        with engine.connect() as conn:
            body = conn.execute(
                sa.select(outbox.c.body).where(outbox.c.recipient == "menta@example.com")
            ).scalar_one()
        engine.dispose()
        match = TOKEN_IN_ACCEPT.search(body)
        assert match
        _ok(server.call("POST", "/cpa/share-invitations/accept", {"token": match.group(1)}, mentor))

        paths = {
            "account": (f"/cpa/shared/{account['id']}/reports/{rid}/experiences", mentor),
            "link": (f"/cpa/links/{link['link_token']}/reports/{rid}/experiences", {}),
        }
        log: list[tuple[str, float, float, int]] = []  # (who, sent, answered, status)
        lock = threading.Lock()
        stop = threading.Event()

        def read(who: str) -> None:
            path, headers = paths[who]
            while not stop.is_set():
                sent = time.monotonic()
                status, _ = server.call("GET", path, headers=headers)
                with lock:
                    log.append((who, sent, time.monotonic(), status))

        threads = [
            threading.Thread(target=read, args=(who,))
            for who in paths
            for _ in range(READERS_PER_GRANTEE)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        revoked_at: dict[str, float] = {}
        for who, share in (("account", account), ("link", link)):
            _ok(server.call("POST", f"/cpa/shares/{share['id']}/revoke", headers=cand))
            revoked_at[who] = time.monotonic()
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        access = _ok(server.call("GET", f"/cpa/shares/{link['id']}/access?limit=100", headers=cand))
        server_log = server.log()

    for who in paths:
        mine = [entry for entry in log if entry[0] == who]
        before = [s for _, sent, done, s in mine if done < revoked_at[who] - 0.5]
        after = [s for _, sent, _, s in mine if sent > revoked_at[who]]
        assert before and all(s == 200 for s in before), (who, before[:5])
        assert after and all(s == 410 for s in after), (who, after)
        # Nothing but 200 or 410 in the race window either.
        assert {s for *_, s in mine} <= {200, 410}
    assert access["items"] and all(e["action"] == "read" for e in access["items"])
    assert "Traceback" not in server_log
    print(  # figures for the report
        f"\nreads before revocation: {sum(1 for e in log if e[3] == 200)}, "
        f"refused after: {sum(1 for e in log if e[3] == 410)}"
    )
