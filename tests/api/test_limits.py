"""Size limits: bodies (the app, 413) and request lines and headers (gunicorn, 414/431).

Before: there was no body limit (a 30 MB body was read and parsed), and gunicorn answered
an over-long URL with ``414 text/html``, a page no problem+json client can read.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import get_database
from pathfinder.db.setup import init_database
from tests.conftest import make_app
from tests.live import LiveServer, live_server, prepare_database

MIB = 1024 * 1024
BIG = b'{"login": "' + b"a" * (30 * MIB) + b'", "password": "x"}'
PROBLEM = "application/problem+json"


def test_the_default_body_limit_is_one_mebibyte(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == MIB


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/auth/login"), ("PUT", "/api/v1/me/preferences"), ("GET", "/api/v1/health")],
)
def test_a_body_over_the_limit_is_a_413_on_any_route(
    client: FlaskClient, method: str, path: str
) -> None:
    answer = client.open(path, method=method, data=BIG, content_type="application/json")
    assert answer.status_code == 413
    assert answer.mimetype == PROBLEM
    assert answer.get_json() == {
        "type": "urn:pathfinder:problem:payload-too-large",
        "title": "Request body too large",
        "status": 413,
        "detail": "The request body is larger than 1,048,576 bytes.",
        "max_bytes": MIB,
    }


@pytest.fixture
def small_limit_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(database_url, tmp_path / "instance", MAX_CONTENT_LENGTH=2048)
    database = get_database(application)
    init_database(database)
    yield application
    database.dispose()


def test_the_limit_is_a_setting_and_a_body_at_it_passes(small_limit_app: Flask) -> None:
    client = small_limit_app.test_client()
    padding = "x" * (2048 - len('{"login": "", "password": "pw"}'))
    exact = json.dumps({"login": padding, "password": "pw"}, separators=(", ", ": "))
    assert len(exact) == 2048
    # At the limit: parsed (the login is too long, so 422, not 413).
    answer = client.post("/api/v1/auth/login", data=exact, content_type="application/json")
    assert answer.status_code in (401, 422)
    over = client.post("/api/v1/auth/login", data=exact + " ", content_type="application/json")
    assert over.status_code == 413 and over.get_json()["max_bytes"] == 2048


# -- through gunicorn --------------------------------------------------------------------------


def _raw(server: LiveServer, data: bytes) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes, read the whole answer (gunicorn closes after its refusals)."""
    host, port = server.base.removeprefix("http://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, json.loads(body)


def _post_big(server: LiveServer, *, chunked: bool) -> http.client.HTTPResponse:
    host, port = server.base.removeprefix("http://").split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(BIG), MIB):
            yield BIG[start : start + MIB]

    try:
        conn.request(
            "POST",
            "/api/v1/auth/login",
            body=pieces() if chunked else BIG,
            headers={"Content-Type": "application/json"},
            encode_chunked=chunked,
        )
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the body was all sent, as it should
    return conn.getresponse()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_limits_through_gunicorn(database_url: str, tmp_path: Path) -> None:
    prepare_database(database_url, tmp_path / "instance")
    with live_server(database_url, tmp_path / "instance", {}, workers=2) as server:
        for chunked in (False, True):
            answer = _post_big(server, chunked=chunked)
            assert answer.status == 413, (chunked, answer.read())
            assert answer.getheader("Content-Type") == PROBLEM
            assert json.loads(answer.read())["type"] == "urn:pathfinder:problem:payload-too-large"

        long_url = b"GET /api/v1/health?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        status, headers, body = _raw(server, long_url)
        assert (status, headers["Content-Type"]) == (414, PROBLEM)
        assert body["status"] == 414 and body["max_bytes"] == 8190
        assert "aaaa" not in json.dumps(body)  # the refused line is never echoed

        # A URL just under gunicorn's limit reaches the app (here: its auth guard).
        near = "/api/v1/admin/audit?event_type=" + "a" * 8100
        status, headers, _ = _raw(server, f"GET {near} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert status == 401 and headers["Content-Type"] == PROBLEM

        big_header = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000
        status, headers, body = _raw(server, big_header + b"\r\n\r\n")
        assert (status, headers["Content-Type"], body["status"]) == (431, PROBLEM, 431)
        many = b"".join(b"X-H%d: 1\r\n" % n for n in range(120))
        status, _, body = _raw(
            server, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
        )
        assert status == 431 and body["title"] == "Request Header Fields Too Large"

        status, headers, body = _raw(server, b"NOT HTTP AT ALL\r\n\r\n")
        assert (status, headers["Content-Type"], body["type"]) == (400, PROBLEM, "about:blank")
        log = server.log()
    assert "Traceback" not in log
