"""Rate limits as attackers meet them: four gunicorn workers, a proxy in front, Redis shared.

Measured on the previous code: with the default ``memory://`` store, "login 10/min" let 40
of 60 attempts through from one address across 4 workers; behind a proxy every client had
the proxy's address, so one attacker could block sign-in for everyone, and audit rows
recorded the proxy.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from pathfinder.schema.shared.security import audit_log
from tests.live import live_server, prepare_database, redis_url

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _settings(**limits: str) -> dict[str, str]:
    return {
        "RATELIMIT_STORAGE_URI": redis_url(),
        "RATELIMIT_KEY_PREFIX": f"t{secrets.token_hex(6)}",
        "TRUSTED_PROXY_COUNT": "1",
        "RATELIMIT_LOGIN": "10 per minute",
        "RATELIMIT_LOGIN_ACCOUNT": "1000 per minute",
        **limits,
    }


def _login(server, login: str, client_ip: str) -> int:  # type: ignore[no-untyped-def]
    status, _ = server.call(
        "POST",
        "/auth/login",
        {"login": login, "password": "not the password"},
        {"X-Forwarded-For": client_ip},
    )
    return status


def test_one_address_gets_exactly_the_limit_across_four_workers(
    database_url: str, tmp_path: Path
) -> None:
    prepare_database(database_url, tmp_path / "instance")
    with live_server(database_url, tmp_path / "instance", _settings()) as server:
        answers = [_login(server, f"user{n}", "198.51.100.7") for n in range(60)]
        log = server.log()
    assert answers.count(429) == 50, answers
    assert all(a == 401 for a in answers if a != 429)
    assert "Traceback" not in log


def test_behind_a_proxy_each_client_has_its_own_limit_and_audit_address(
    database_url: str, tmp_path: Path
) -> None:
    prepare_database(database_url, tmp_path / "instance")
    with live_server(database_url, tmp_path / "instance", _settings()) as server:
        spread = [
            _login(server, f"u{n}", f"203.0.113.{client}")
            for client in (1, 2, 3)
            for n in range(10)
        ]
        # What the client put further left is not trusted: only the proxy's entry counts.
        extra = _login(server, "u99", "6.6.6.6, 203.0.113.1")
    assert spread.count(429) == 0, spread
    assert extra == 429
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        addresses = set(
            conn.execute(
                sa.select(audit_log.c.ip_address).where(
                    audit_log.c.event_type == "authn_login_fail"
                )
            ).scalars()
        )
    engine.dispose()
    assert addresses == {"203.0.113.1", "203.0.113.2", "203.0.113.3"}


def test_one_account_is_limited_whatever_the_address(database_url: str, tmp_path: Path) -> None:
    prepare_database(database_url, tmp_path / "instance")
    settings = _settings(RATELIMIT_LOGIN_ACCOUNT="5 per minute")
    with live_server(database_url, tmp_path / "instance", settings) as server:
        answers = [_login(server, "Victim", f"192.0.2.{n}") for n in range(1, 13)]
    assert answers.count(429) == 7, answers


def test_share_link_guesses_get_exactly_the_limit_across_four_workers(
    database_url: str, tmp_path: Path
) -> None:
    """Concurrent guesses at CPA share-link tokens, over several link operations, from one
    address: the limit is one counter in Redis, not one per worker."""
    prepare_database(database_url, tmp_path / "instance")
    settings = _settings(RATELIMIT_SHARE_LINK="12 per minute")
    unknown_id = "01J" + "0" * 23
    suffixes = ("", f"/reports/{unknown_id}", f"/experiences/{unknown_id}")

    def guess(n: int) -> int:
        token = secrets.token_urlsafe(32)
        status, _ = server.call(
            "GET",
            f"/cpa/links/{token}{suffixes[n % len(suffixes)]}",
            headers={"X-Forwarded-For": "198.51.100.9"},
        )
        return status

    with live_server(database_url, tmp_path / "instance", settings) as server:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(guess, range(36)))
        elsewhere = server.call(
            "GET",
            f"/cpa/links/{secrets.token_urlsafe(32)}",
            headers={"X-Forwarded-For": "192.0.2.1"},
        )[0]
        log = server.log()
    assert answers.count(429) == 24, answers
    assert all(a == 404 for a in answers if a != 429), answers
    assert elsewhere == 404
    assert "Traceback" not in log
