"""Shared pieces of the HTTP benchmarks: a fresh database, the real server, a small client.

Why a module of its own: ``concurrency.py``, ``load.py`` and ``api_latency.py`` must all
measure the *deployed* shape of the app (gunicorn, production mode, real secrets, a real
PostgreSQL) and clean up after themselves however they end; doing that once here keeps the
scripts about what they measure. Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _pg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
API = "/api/v1"
PASSWORD = "bench password that is long enough"  # noqa: S105 - throw-away bench accounts


def log(message: str) -> None:
    """Progress to stderr; reports go to stdout."""
    print(message, file=sys.stderr, flush=True)


def machine_info() -> dict[str, str]:
    """What the figures depend on: CPUs, versions, and the load when the run started."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = "n/a"
    with contextlib.suppress(OSError):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "sqlite": sqlite3.sqlite_version,
        "load average at start": load,
    }


def print_machine(command: str) -> None:
    """The command and machine lines every report starts with."""
    print(f"Command: `{command}`\n")
    for key, value in machine_info().items():
        print(f"- {key}: {value}")
    print()


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a latency that happened)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process in KiB, from ``/proc/<pid>/status`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- databases --------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(pg_url: str | None, label: str) -> Iterator[tuple[str, str]]:
    """A fresh, empty PostgreSQL database: ``(SQLAlchemy URL, description)``; dropped at exit.

    Without ``pg_url`` a throw-away cluster is started (``bench/_pg.py``, fsync off) so the run
    neither depends on nor disturbs a server the machine happens to have. With ``pg_url``
    the role needs CREATEDB: a database of its own is created and dropped (a database rather
    than a schema, because the gunicorn workers are separate processes that must find the
    tables without a ``search_path`` option in the URL).
    """
    cluster: _pg.TempCluster | None = None
    if pg_url:
        base, source = pg_url, "--pg-url"
    else:
        log("starting a throw-away PostgreSQL cluster (bench/_pg.py)")
        cluster = _pg.start_cluster()
        base, source = cluster.url(), "throw-away cluster (fsync off)"
    name = f"pf_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            version = conn.exec_driver_sql("SHOW server_version").scalar()
        url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
        yield url, f"PostgreSQL {version}, {source}"
    finally:
        with contextlib.suppress(Exception), admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        if cluster is not None:
            cluster.stop()


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temp dir removed at exit (instance folders, SQLite files, server logs)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def production_settings(url: str, instance: Path, **extra: str) -> dict[str, str]:
    """``PATHFINDER_*`` settings of a production deployment, with freshly generated secrets.

    Production mode is used on purpose: it is what the issue's load figures are about (JSON
    logs, real keys), and it proves the server starts with a safe configuration. The
    registration and login rate limits are lifted because every benchmark client comes from
    127.0.0.1 and would otherwise be one attacker to the limiter.
    """

    def key() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")

    settings = {
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(instance),
        "PRODUCTION": "true",
        "JWT_SECRET_KEY": key(),
        "AUDIT_HMAC_KEY": key(),
        "AUDIT_SIGNING_KEY": key(),
        # Benchmarks measure one host with limits set out of the way.
        "ALLOW_PER_PROCESS_RATE_LIMITS": "true",
        "KEK_KEYRING": json.dumps({"1": key()}),
        "RATELIMIT_REGISTER": "1000000 per minute",
        "RATELIMIT_LOGIN": "1000000 per minute",
        "RATELIMIT_LOGIN_ACCOUNT": "1000000 per minute",
        "RATELIMIT_PASSWORD_RESET_ACCOUNT": "1000000 per minute",
        "RATELIMIT_REFRESH": "1000000 per minute",
        "LOG_LEVEL": "WARNING",
    }
    settings.update(extra)
    return settings


def app_config(settings: Mapping[str, str]) -> dict[str, Any]:
    """The same settings as a ``create_app`` mapping (JSON values decoded, like the env)."""
    config: dict[str, Any] = {}
    for key, value in settings.items():
        try:
            config[key] = json.loads(value)
        except ValueError:
            config[key] = value
    return config


def prepare_database(settings: Mapping[str, str], flags: Mapping[str, Any]) -> None:
    """``db init`` and the flag values the run needs, in this process, before any worker starts.

    Flags are set before the server starts because each worker caches flag evaluations.
    """
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.db.setup import init_database
    from pathfinder.flags import service as flag_service
    from pathfinder.flags.system import set_system_flag

    app = create_app(app_config(settings))
    database = get_database(app)
    try:
        init_database(database)
        with app.app_context():
            for key, value in flags.items():
                if key == "self_registration_enabled":
                    with database.transaction() as conn:
                        set_system_flag(conn, key, value)
                else:
                    flag_service.set_default_value(database, key, value, via="cli")
    finally:
        database.dispose()


# -- the real server ----------------------------------------------------------------------


@dataclass
class Server:
    """A running ``pathfinder serve`` (gunicorn) on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # Field 4 is the parent pid; the command name (field 2) may hold spaces.
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def workers_rss_kib(self) -> list[int]:
        sizes = []
        for pid in self.worker_pids():
            with contextlib.suppress(OSError, RuntimeError):
                sizes.append(rss_kib(pid))
        return sizes

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def gunicorn(
    settings: Mapping[str, str], log_dir: Path, *, workers: int, threads: int = 1
) -> Iterator[Server]:
    """Start ``pathfinder serve --production`` on a free loopback port; stop it at exit.

    This is the documented production command (``docs/deploy.md``), run as a process of its
    own, so the benchmark exercises gunicorn's workers, the production checks and real
    sockets. The server is stopped with SIGTERM to its own pid (a graceful gunicorn stop).
    """
    port = _pg.free_port()
    env = dict(os.environ)
    env.update({f"PATHFINDER_{k}": v for k, v in settings.items()})
    env["PATHFINDER_THREADS"] = str(threads)
    log_path = log_dir / f"gunicorn-{port}.log"
    command = [sys.executable, "-m", "pathfinder.cli", "serve", "--production"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(process=process, host="127.0.0.1", port=port, log_path=log_path)
    try:
        wait_ready(server, timeout=90)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_ready(server: Server, *, timeout: float) -> None:
    """Poll ``/api/v1/ready`` until 200 (database and key provider reachable)."""
    deadline = time.monotonic() + timeout
    client = Client(server.host, server.port)
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{server.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if client.call("GET", f"{API}/ready").status == 200:
                # One more worker answering is not all of them; give the rest a moment.
                time.sleep(1.0)
                return
        time.sleep(0.25)
    raise RuntimeError(f"gunicorn not ready within {timeout:.0f} s:\n{server.log_tail()}")


# -- the client -------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any
    seconds: float


class Client:
    """One keep-alive-capable HTTP/1.1 connection (stdlib only; reconnects when closed).

    gunicorn's sync workers close the connection after every response, so most calls pay
    a TCP connect on loopback, as a real client of a sync-worker deployment does.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 120.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Reply:
        """Send one request; time it from send to the last byte of the body."""
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        elapsed = time.perf_counter() - start
        if response.will_close:
            self.conn.close()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
        return Reply(response.status, parsed, elapsed)

    def close(self) -> None:
        self.conn.close()


# -- bench data -------------------------------------------------------------------------------

TECHNOLOGIES = ["Python", "PostgreSQL", "Kubernetes", "SQL", "Power BI", "Excel", "Go", "React"]


def experience_body(n: int) -> dict[str, Any]:
    """A realistic role (the shape ``bench/summaries.py`` uses): ~400-character description."""
    start = dt.date(1990, 1, 1) + dt.timedelta(days=200 * (n % 50))
    return {
        "title": f"Role {n}",
        "company": f"Company {n % 7}",
        "industry": ["Finance", "Technology", "Health"][n % 3],
        "role_level": ["intermediate", "senior", "manager"][n % 3],
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=400)).isoformat(),
        "description": "Led month-end close and built reporting in Power BI. " * 8,
        "key_achievements": [f"Achievement {i} of role {n}" for i in range(4)],
        "technologies": TECHNOLOGIES[n % 4 : n % 4 + 4],
        "team_size": n % 12,
    }


def time_round_robin(
    operations: dict[str, Callable[[], Any]], iterations: int, warmup: int
) -> dict[str, list[float]]:
    """Milliseconds per call, the operations alternating so drift on a shared machine hits all."""
    samples: dict[str, list[float]] = {name: [] for name in operations}
    clock = time.perf_counter
    for n in range(warmup + iterations):
        for name, operation in operations.items():
            start = clock()
            operation()
            elapsed = clock() - start
            if n >= warmup:
                samples[name].append(elapsed * 1000)
    return samples
