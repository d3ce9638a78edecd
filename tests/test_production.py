"""Production mode: unsafe configuration is refused; gunicorn serves; logs are JSON."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pathfinder import create_app
from pathfinder.config import ConfigurationError
from pathfinder.logs import JsonFormatter

STRONG = "x" * 43
KEYRING = json.dumps({"1": "A" * 43})
PG_URL = "postgresql+psycopg://app@db.internal/pathfinder"


def production(**overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "PRODUCTION": True,
        "DATABASE_URL": PG_URL,
        "JWT_SECRET_KEY": STRONG,
        "AUDIT_HMAC_KEY": STRONG,
        "AUDIT_SIGNING_KEY": "pd7FqZ1y1h0eW3nXk2mY2m4b8o5v3r9t1a2s6d8f0gQ",
        "KEK_KEYRING": KEYRING,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
    }
    config.update(overrides)
    return config


def test_a_complete_production_configuration_starts(tmp_path: Path) -> None:
    app = create_app({**production(), "INSTANCE_PATH": str(tmp_path)})
    assert app.config["PRODUCTION"] is True


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"JWT_SECRET_KEY": None}, "PATHFINDER_JWT_SECRET_KEY is not set"),
        ({"AUDIT_HMAC_KEY": "change-me"}, "PATHFINDER_AUDIT_HMAC_KEY is a placeholder"),
        ({"KEK_KEYRING": ""}, "PATHFINDER_KEK_KEYRING is not set"),
        ({"JWT_SECRET_KEY": "s" * 31}, "PATHFINDER_JWT_SECRET_KEY is too short: at least 32"),
        ({"AUDIT_HMAC_KEY": "h" * 16}, "PATHFINDER_AUDIT_HMAC_KEY is too short"),
        ({"DATABASE_URL": "sqlite:////tmp/x.db"}, "PATHFINDER_DATABASE_URL is SQLite"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "PATHFINDER_RATELIMIT_STORAGE_URI is memory://"),
        ({"DATABASE_URL": None}, "PATHFINDER_DATABASE_URL is SQLite (or unset)"),
    ],
)
def test_unsafe_production_configuration_is_refused(
    tmp_path: Path, override: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_app({**production(**override), "INSTANCE_PATH": str(tmp_path)})


def test_sqlite_in_production_only_when_explicitly_allowed(tmp_path: Path) -> None:
    config = production(DATABASE_URL="sqlite:////tmp/pilot.db", ALLOW_SQLITE_IN_PRODUCTION=True)
    assert create_app({**config, "INSTANCE_PATH": str(tmp_path)})


def test_serve_refuses_unsafe_production_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JWT_SECRET_KEY", "AUDIT_HMAC_KEY", "KEK_KEYRING", "DATABASE_URL"):
        monkeypatch.delenv(f"PATHFINDER_{name}", raising=False)
    monkeypatch.setenv("PATHFINDER_INSTANCE_PATH", str(tmp_path))
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    result = app.test_cli_runner().invoke(args=["serve", "--production"])
    assert result.exit_code == 1
    assert "refusing to start in production mode" in result.output
    assert "Traceback" not in result.output


def test_ready_reports_database_and_key_provider(client: FlaskClient, app: Flask) -> None:
    response = client.get("/api/v1/ready")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": True, "key_provider": True},
    }
    app.config["KEK_KEYRING"] = "not json"
    broken = client.get("/api/v1/ready")
    assert broken.status_code == 503
    assert broken.get_json()["checks"]["key_provider"] is False


def test_json_logs_carry_the_request_id(client: FlaskClient, app: Flask) -> None:
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(JsonFormatter().format(record))

    @app.get("/api/v1/log-probe")
    def probe() -> str:
        logging.getLogger("pathfinder.probe").warning("probe %s", "here")
        return "ok"

    from pathfinder.auth.policy import public

    public(probe)
    handler = Capture()
    logging.getLogger("pathfinder").addHandler(handler)
    try:
        response = client.get("/api/v1/log-probe")
    finally:
        logging.getLogger("pathfinder").removeHandler(handler)
    entry = next(e for e in map(json.loads, records) if e["logger"] == "pathfinder.probe")
    assert entry["message"] == "probe here" and entry["level"] == "WARNING"
    assert entry["request_id"] == response.headers["X-Request-Id"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_serves_the_api(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATHFINDER_INSTANCE_PATH"] = str(tmp_path)
    env.pop("PATHFINDER_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "pathfinder.cli", "db", "init"],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pathfinder.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/health", timeout=2
                ) as r:  # noqa: S310
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert body is not None, "gunicorn did not answer within 60 s"
        assert body["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=30)
