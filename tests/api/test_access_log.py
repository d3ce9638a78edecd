"""Tokens in URLs never reach gunicorn's access log."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathfinder.access_log import redact_url
from tests.live import live_server, prepare_database


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (
            "GET /api/v1/invitations/s3cr3tT0ken HTTP/1.1",
            "GET /api/v1/invitations/[redacted] HTTP/1.1",
        ),
        (
            "POST /api/v1/invitations/abc/accept HTTP/1.1",
            "POST /api/v1/invitations/[redacted]/accept HTTP/1.1",
        ),
        ("/api/v1/exports/xyz", "/api/v1/exports/[redacted]"),
        ("POST /console/join/s3cr3t HTTP/1.1", "POST /console/join/[redacted] HTTP/1.1"),
        (
            "POST /api/v1/cpa/links/L1nkT0ken/experiences/01J0/decision HTTP/1.1",
            "POST /api/v1/cpa/links/[redacted]/experiences/01J0/decision HTTP/1.1",
        ),
        ("/verify-email?token=abc&x=1", "/verify-email?token=[redacted]&x=1"),
        ("/api/v1/me/experiences?limit=5", "/api/v1/me/experiences?limit=5"),
    ],
)
def test_secrets_in_urls_are_masked(raw: str, masked: str) -> None:
    assert redact_url(raw) == masked


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_live_access_log_holds_no_token(database_url: str, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    prepare_database(database_url, instance, registration=False)
    secret = "InvitationTokenThatMustNotBeLogged"
    with live_server(database_url, instance, {}, workers=1) as server:
        status, _ = server.call("GET", f"/invitations/{secret}")
        assert status == 404
        server.call("GET", f"/exports/{secret}")
        assert server.call("GET", f"/cpa/links/{secret}")[0] == 404
    log = server.log()
    assert "/api/v1/invitations/[redacted]" in log
    assert "/api/v1/cpa/links/[redacted]" in log
    assert secret not in log
