"""A live server for tests that must see production topology: gunicorn, several workers,
a real database (and Redis), driven over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_app

REDIS_URL_ENV = "PATHFINDER_TEST_REDIS_URL"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_url() -> str:
    """The test Redis (``scripts/test.sh`` starts one); skip, or fail under CI, without it."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        if os.environ.get("PATHFINDER_TEST_REQUIRE_PG"):
            pytest.fail(f"{REDIS_URL_ENV} is not set but scripts/test.sh starts Redis")
        pytest.skip(f"{REDIS_URL_ENV} is not set: shared rate limits need Redis")
    return url


@dataclass
class LiveServer:
    base: str
    log_path: Path

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        status, _headers, answer = self.fetch(method, path, body, headers)
        return status, answer

    def fetch(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """Like :meth:`call`, with the answer's headers."""
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                answer = json.loads(response.read() or b"null")
                return response.status, dict(response.headers.items()), answer
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), json.loads(error.read() or b"null")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def prepare_database(database_url: str, instance: Path, *, registration: bool = True) -> None:
    """``db init`` and, optionally, open self-registration, as an operator would."""
    from pathfinder.db import get_database
    from pathfinder.db.setup import init_database
    from pathfinder.flags.system import set_system_flag

    app = make_app(database_url, instance)
    database = get_database(app)
    init_database(database)
    if registration:
        with database.transaction() as conn:
            set_system_flag(conn, "self_registration_enabled", True)
    database.dispose()


@contextmanager
def live_server(
    database_url: str, instance: Path, settings: Mapping[str, str], *, workers: int = 4
) -> Iterator[LiveServer]:
    """``pathfinder serve`` with ``settings`` (PATHFINDER_ names without the prefix)."""
    env = dict(os.environ)
    env.update(
        {
            "PATHFINDER_DATABASE_URL": database_url,
            "PATHFINDER_INSTANCE_PATH": str(instance),
            "PATHFINDER_PASSWORD_HASH_PROFILE": "fast",
        }
    )
    env.update({f"PATHFINDER_{k}": v for k, v in settings.items()})
    port = free_port()
    log_path = instance.parent / f"server-{port}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "pathfinder.cli", "serve", "--bind", f"127.0.0.1:{port}"]
            + ["--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live = LiveServer(f"http://127.0.0.1:{port}/api/v1", log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(live.base + "/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not start:\n" + live.log()[-2000:])
                time.sleep(0.2)
        yield live
    finally:
        server.terminate()
        server.wait(timeout=60)
