"""Audit benchmark: the audited write, the request row under gunicorn, sealing, verifying.

Run: ``.venv/bin/python bench/audit.py [--parts write,http,seal,verify]
[--backend sqlite|postgresql|postgresql-durable|all] [--pg-url URL] [--quick]`` (``--help``
lists the sizes and durations of each part; ``--quick`` shrinks them all).

Four measurements, each printed next to the target it is held against, then one table of
every target (``### Against the targets``, which ``bench/run_all.py`` reads):

1. **write**: what the audit row costs the write it describes. The write is the typical
   one: insert an experience into a provisioned user's table through
   ``db.tenant_transaction`` (SQLite: the user's file attached), with and without
   ``audit.record(...)`` in that same transaction. Runs alternate (off, on, on, off, ...)
   so drift on a shared machine hits both alike, in ``--repeats`` blocks whose ratios give
   the spread. Target: ratio of medians <= 1.10 on PostgreSQL, with fsync off (the
   throw-away cluster) and on (``postgresql-durable``, a cluster of its own), <= 1.25 on
   SQLite. An informational row times a trivial route through Flask's test client with
   ``AUDIT_REQUESTS`` on and off (the middleware's own row, without HTTP).
2. **http**: the request row under the deployed shape. Two ``pathfinder serve
   --production`` servers (gunicorn, ``--workers`` sync workers each) on one PostgreSQL
   database, one with ``PATHFINDER_AUDIT_REQUESTS`` on and one with it off; ``--clients``
   closed-loop client processes on loopback drive one of them at a time for
   ``--http-seconds``, alternating server by server over ``--http-rounds`` rounds (the
   order flips every round). Endpoints: the authenticated list of 50 decrypted experiences,
   the tier-3 quick profile, and a write: creating an experience, then deleting it, so the
   user's role count (which the tier recompute of every write walks) stays at 50; their
   change rows are written with the middleware on or off. The sealer runs every 5 s in
   this process, as the scheduler would. Target: requests per second on/off >= 0.9.
3. **seal**: the sealer keeps up. ``--seal-writers`` processes append audit rows with
   ``audit.record``, one row per transaction, paced to ``--seal-rate`` rows/s in total for
   ``--seal-seconds``, while this process calls ``audit.seal`` every ``--seal-interval``
   seconds (as the scheduler does with ``AUDIT_SEAL_INTERVAL_SECONDS=1``: ticks that fall
   while a seal is still running are skipped). A row's lag is the end of the seal run that
   included it minus its ``created_at``. Targets: >= 1,000 rows/s written, lag < 5 s.
4. **verify**: ``audit.verify_configured`` over ``--verify-sizes`` rows (100,000 and
   1,000,000; ``--quick``: 10,000 and 100,000). Rows are built with valid HMACs
   (``compute_row_hash``, the function ``audit.record`` uses) and inserted many per
   statement, sealed with ``AUDIT_SEAL_BATCH_SIZE=--verify-batch`` and vacuumed (as
   autovacuum would, but before the timing rather than during one of its runs).
   Verification is timed ``--verify-repeats`` times per size. The ratio of the two times is
   printed next to linear growth (10x for 10x the rows), for information: the issue sets
   no threshold.

The full mode takes about 10 minutes on 2 CPUs (most of it building and verifying the
1,000,000 rows); ``--quick`` about 2.

PostgreSQL: ``--pg-url`` (the role needs CREATEDB: each part makes a database of its own and
drops it), else one throw-away cluster (``bench/_pg.py``, fsync off) for every part; the
durable write run always starts its own cluster with fsync, synchronous_commit and
full_page_writes on. SQLite runs in a temp dir. Progress goes to stderr, the report to
stdout. Exit status 1 when a correctness check fails (verification finds something, a 5xx);
a missed performance target alone does not fail the run.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import datetime as dt
import multiprocessing
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _pg
import sqlalchemy as sa
from _server import (
    API,
    PASSWORD,
    Client,
    Server,
    app_config,
    experience_body,
    gunicorn,
    log,
    machine_info,
    percentile,
    postgres_database,
    prepare_database,
    production_settings,
    temp_dir,
)
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from pathfinder import audit, create_app
from pathfinder.audit.hashing import compute_row_hash, row_keys
from pathfinder.audit.request_rows import request_row_writer
from pathfinder.audit.sanitise import sanitise_details
from pathfinder.auth.policy import public
from pathfinder.db import Database, get_database
from pathfinder.db.setup import init_database
from pathfinder.ids import new_id
from pathfinder.provisioning import Provisioner
from pathfinder.schema.shared.security import audit_leaves, audit_log

BENCH_USER = "benchaudit"
PING_PATH = "/api/v1/_bench/ping"
BACKENDS = ("sqlite", "postgresql", "postgresql-durable")
PARTS = ("write", "http", "seal", "verify")

WRITE_TARGET = {"sqlite": 1.25, "postgresql": 1.10, "postgresql-durable": 1.10}
HTTP_TARGET = 0.9
SEAL_RATE_TARGET = 1000.0
SEAL_LAG_TARGET = 5.0

# What the HTTP part drives. The write alternates create and delete (http_client).
HTTP_ENDPOINTS: dict[str, tuple[str, str]] = {
    "GET /me/experiences?limit=50": ("GET", f"{API}/me/experiences?limit=50"),
    "GET /me/profile/quick": ("GET", f"{API}/me/profile/quick"),
    "POST + DELETE /me/experiences": ("POST", f"{API}/me/experiences"),
}
HTTP_SEED_ROLES = 50
HTTP_SEAL_INTERVAL = 5.0  # AUDIT_SEAL_INTERVAL_SECONDS' default

# Full and --quick values of the options left unset on the command line.
PRESETS: dict[str, tuple[Any, Any]] = {
    "iterations": (1000, 150),
    "repeats": (3, 3),
    "requests": (1000, 150),
    "warmup": (50, 20),
    "http_seconds": (10.0, 3.0),
    "http_rounds": (3, 2),
    "seal_seconds": (10.0, 5.0),
    "verify_sizes": ("100000,1000000", "10000,100000"),
    "verify_repeats": (3, 3),
}

# What production runs with; bench/_pg.py turns these off to time DDL, not the disk.
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def signing_key() -> str:
    """A fresh ``AUDIT_SIGNING_KEY``: base64url of a 32-byte Ed25519 seed."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# -- results -------------------------------------------------------------------------------


@dataclass
class Check:
    """One line of the final table: a figure against its target."""

    name: str
    measured: str
    spread: str
    target: str
    met: bool | None  # None: reported for information


@dataclass
class Report:
    machine: dict[str, str]
    argv: list[str]
    sections: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.sections.append(text)

    def print(self) -> None:
        print("## Audit benchmark\n")
        print(f"Command: `{' '.join(['.venv/bin/python', 'bench/audit.py', *self.argv])}`\n")
        for key, value in self.machine.items():
            print(f"- {key}: {value}")
        for text in self.sections:
            print(f"\n{text}")
        print("\n### Against the targets\n")
        print("| check | measured | spread | target | met? |")
        print("| --- | --- | --- | --- | --- |")
        for check in self.checks:
            met = "-" if check.met is None else ("yes" if check.met else "**no**")
            print(f"| {check.name} | {check.measured} | {check.spread} | {check.target} | {met} |")
        if self.failures:
            print("\nCorrectness failures:\n")
            for failure in self.failures:
                print(f"- {failure}")


def met_text(ok: bool) -> str:
    return "met" if ok else "**not met**"


@dataclass
class Stats:
    samples: list[float]

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.samples)

    @property
    def p95_ms(self) -> float:
        return 1000 * percentile(self.samples, 0.95)


def alternate(
    off: Callable[[], None], on: Callable[[], None], iterations: int, warmup: int
) -> tuple[Stats, Stats]:
    """Time ``off`` and ``on`` alternately (the order flips every pair); warm-up discarded."""
    timings: tuple[list[float], list[float]] = ([], [])
    clock = time.perf_counter
    for n in range(warmup + iterations):
        order = ((0, off), (1, on)) if n % 2 == 0 else ((1, on), (0, off))
        for index, action in order:
            start = clock()
            action()
            elapsed = clock() - start
            if n >= warmup:
                timings[index].append(elapsed)
    return Stats(timings[0]), Stats(timings[1])


@dataclass
class Paired:
    """Blocks of alternating off/on timings of one operation."""

    label: str
    blocks: list[tuple[Stats, Stats]]

    @property
    def off(self) -> Stats:
        return Stats([x for off, _ in self.blocks for x in off.samples])

    @property
    def on(self) -> Stats:
        return Stats([x for _, on in self.blocks for x in on.samples])

    @property
    def ratio(self) -> float:
        return self.on.median_ms / self.off.median_ms

    @property
    def block_ratios(self) -> list[float]:
        return [on.median_ms / off.median_ms for off, on in self.blocks]

    def table(self) -> str:
        lines = [
            f"{self.label}:\n",
            "| block | n per variant | off median ms | on median ms | off p95 ms | on p95 ms "
            "| on/off (medians) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        rows = [(str(n + 1), off, on) for n, (off, on) in enumerate(self.blocks)]
        rows.append(("**all**", self.off, self.on))
        for name, off, on in rows:
            lines.append(
                f"| {name} | {len(on.samples)} | {off.median_ms:.3f} | {on.median_ms:.3f} | "
                f"{off.p95_ms:.3f} | {on.p95_ms:.3f} | {on.median_ms / off.median_ms:.2f} |"
            )
        return "\n".join(lines)


def spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return ""
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


# -- part 1: one audited write against the same write without its row -----------------------


def make_bench_app(url: str, instance: Path, **overrides: Any) -> Flask:
    config = {
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(instance),
        "PASSWORD_HASH_PROFILE": "fast",
        **overrides,
    }
    app = create_app(config)

    @public
    def ping() -> ResponseReturnValue:
        return jsonify(ok=True)

    app.add_url_rule(PING_PATH, view_func=ping)
    return app


@contextlib.contextmanager
def durable_cluster() -> Iterator[str]:
    """A throw-away cluster with fsync, synchronous_commit and full_page_writes on."""
    saved = dict(_pg.SERVER_SETTINGS)
    _pg.SERVER_SETTINGS.update(DURABLE_SETTINGS)
    try:
        cluster = _pg.start_cluster()
    finally:
        _pg.SERVER_SETTINGS.clear()
        _pg.SERVER_SETTINGS.update(saved)
    try:
        yield cluster.url()
    finally:
        cluster.stop()


def pg_settings(url: str) -> dict[str, str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return {
                name: str(conn.exec_driver_sql(f"SHOW {name}").scalar())
                for name in ("server_version", "fsync", "synchronous_commit")
            }
    finally:
        engine.dispose()


def describe_pg(url: str, source: str) -> str:
    found = pg_settings(url)
    return (
        f"PostgreSQL {found['server_version']} ({source}), fsync {found['fsync']}, "
        f"synchronous_commit {found['synchronous_commit']}"
    )


@contextlib.contextmanager
def write_database(
    backend: str, base_url: str | None, source: str
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """``(URL, instance folder, settings to print)`` of a fresh database for the write part."""
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(temp_dir("pathfinder-bench-audit."))
        instance = root / "instance"
        if backend == "sqlite":
            settings = {"journal_mode": "delete (rollback journal)", "synchronous": "FULL"}
            yield f"sqlite:///{instance / 'pathfinder.db'}", instance, settings
            return
        if backend == "postgresql-durable":
            log("  starting a throw-away PostgreSQL cluster with fsync on (bench/_pg.py)")
            base_url = stack.enter_context(durable_cluster())
            source = "a throw-away cluster of its own, fsync/synchronous_commit/full_page_writes on"
        assert base_url is not None
        url, _ = stack.enter_context(postgres_database(base_url, "audit_write"))
        yield url, instance, {**pg_settings(url), "server": source}


def write_once(db: Database, with_audit: bool, actor: Mapping[str, str]) -> None:
    now = dt.datetime.now(dt.UTC)
    with db.tenant_transaction(BENCH_USER) as (conn, tables):
        experience_id = new_id()
        conn.execute(
            tables.experiences.insert().values(
                id=experience_id,
                title="Engineer",
                company="Example",
                employment_type="full_time",
                start_date=dt.date(2020, 1, 1),
                is_current=True,
                created_at=now,
                updated_at=now,
            )
        )
        if with_audit:
            audit.record(
                conn,
                "sensitive_create",
                actor=actor,
                target_type="experience",
                target_id=experience_id,
                details={"fields": ["title", "company"]},
                request_meta={"ip_address": "192.0.2.1", "user_agent": "bench/1.0"},
            )


def run_write_backend(
    backend: str, base_url: str | None, args: argparse.Namespace, report: Report
) -> None:
    with write_database(backend, base_url, args.pg_source) as (url, instance, settings):
        keys = {"AUDIT_HMAC_KEY": secrets.token_urlsafe(32), "AUDIT_SIGNING_KEY": signing_key()}
        on_app = make_bench_app(url, instance, **keys)
        off_app = make_bench_app(url, instance, AUDIT_REQUESTS=False, **keys)
        db = get_database(on_app)
        try:
            init_database(db)
            Provisioner(db).provision(BENCH_USER)
            actor = {"user_id": new_id(), "username": BENCH_USER, "role": "user"}
            writes = Paired("write: experience insert (tenant_transaction)", [])
            with on_app.app_context():
                for block in range(args.repeats):
                    log(f"  {backend}: block {block + 1}/{args.repeats}, {args.iterations} x 2")
                    writes.blocks.append(
                        alternate(
                            lambda: write_once(db, False, actor),
                            lambda: write_once(db, True, actor),
                            args.iterations,
                            args.warmup,
                        )
                    )
            log(f"  {backend}: GET trivial route through the test client, {args.requests} x 2")
            on_client, off_client = on_app.test_client(), off_app.test_client()

            def ping(client: Any) -> None:
                if client.get(PING_PATH).status_code != 200:
                    raise RuntimeError("the bench ping route did not answer 200")

            requests = Paired(
                "request: GET trivial route (test client, middleware on/off)",
                [
                    alternate(
                        lambda: ping(off_client),
                        lambda: ping(on_client),
                        args.requests,
                        args.warmup,
                    )
                ],
            )
            # The request rows wait in the worker's batch: write them before sealing.
            request_row_writer(on_app, db).flush()
            with on_app.app_context():
                sealed = audit.seal(db, on_app.config)
                with db.connect() as conn:
                    verified = audit.verify_configured(conn, on_app)
                    conn.rollback()
        finally:
            db.dispose()
            get_database(off_app).dispose()
    settings["sealed rows"] = str(sealed.rows)
    settings["verify"] = verify_summary(verified)
    if not verified.ok:
        report.failures.append(f"write ({backend}): verification failed: {verified.findings[:5]}")
    target = WRITE_TARGET[backend]
    ratios = writes.block_ratios
    text = [
        f"#### {backend}\n",
        ", ".join(f"{k}: {v}" for k, v in settings.items()) + "\n",
        writes.table(),
        "",
        f"Audited / unaudited write, ratio of medians: **{writes.ratio:.2f}x** "
        f"(+{writes.on.median_ms - writes.off.median_ms:.3f} ms; blocks "
        f"{', '.join(f'{r:.2f}' for r in ratios)}); target <= {target:.2f}x: "
        f"{met_text(writes.ratio <= target)}.\n",
        requests.table(),
        "",
        "Request row through the test client: "
        f"+{requests.on.median_ms - requests.off.median_ms:.3f} ms median per request "
        f"({requests.ratio:.2f}x a trivial route; no target).",
    ]
    report.add("\n".join(text))
    report.checks.append(
        Check(
            f"write, {backend}: audited/unaudited, ratio of medians",
            f"{writes.ratio:.2f}x (+{writes.on.median_ms - writes.off.median_ms:.3f} ms; "
            f"{writes.off.median_ms:.3f} -> {writes.on.median_ms:.3f} ms)",
            f"blocks {spread(ratios)}",
            f"<= {target:.2f}x",
            writes.ratio <= target,
        )
    )


def verify_summary(report: audit.VerifyReport) -> str:
    state = "ok" if report.ok else f"{len(report.findings)} finding(s)"
    return f"{state}, tree size {report.tree_size}, {report.unsealed} unsealed"


# -- sealing in the background (parts 2 and 3) ---------------------------------------------


@dataclass
class SealRun:
    started: dt.datetime
    ended: dt.datetime
    seconds: float
    report: audit.SealReport


class PeriodicSealer:
    """``audit.seal`` every ``interval`` seconds in a thread, as the scheduler's leader does.

    Ticks are fixed (``first + k * interval``); a tick that passes while a seal is running is
    skipped (APScheduler's ``coalesce=True, max_instances=1``).
    """

    def __init__(self, app: Flask, db: Database, interval: float) -> None:
        self.app, self.db, self.interval = app, db, interval
        self.runs: list[SealRun] = []
        self.skipped = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._drain = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sealer", daemon=True)

    def start(self) -> PeriodicSealer:
        self._thread.start()
        return self

    def stop(self, *, drain: bool, timeout: float = 120.0) -> None:
        """Stop; with ``drain``, only after a run that found nothing left to seal."""
        (self._drain if drain else self._stop).set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(30)
        if self.error is not None:
            raise RuntimeError("the periodic sealer failed") from self.error

    def _loop(self) -> None:
        next_at = time.monotonic() + self.interval
        try:
            while not self._stop.is_set():
                wait = next_at - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
                started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
                with self.app.app_context():
                    result = audit.seal(self.db, self.app.config)
                seconds = time.perf_counter() - clock
                self.runs.append(SealRun(started, dt.datetime.now(dt.UTC), seconds, result))
                if self._drain.is_set() and result.rows == 0:
                    break
                next_at += self.interval
                while next_at <= time.monotonic():
                    next_at += self.interval
                    self.skipped += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised by stop()
            self.error = exc


# -- part 2: the request row under gunicorn ------------------------------------------------


@dataclass
class HttpUser:
    username: str
    token: str


@dataclass
class HttpRun:
    variant: str
    ok: int
    statuses: Counter[Any]
    latencies: list[float]
    seconds: float
    examples: list[str]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def create_http_users(server: Server, count: int) -> list[HttpUser]:
    """Register ``count`` users through the API, each with ``HTTP_SEED_ROLES`` roles."""
    client = Client(server.host, server.port)
    tag = secrets.token_hex(3)
    users = []
    try:
        for n in range(count):
            name = f"audit_{tag}_{n:02d}"
            body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
            reply = client.call("POST", f"{API}/auth/register", body)
            if reply.status != 201:
                raise RuntimeError(f"register {name}: {reply.status} {reply.body}")
            token = reply.body["access_token"]
            roles = [experience_body(k) for k in range(HTTP_SEED_ROLES)]
            reply = client.call("POST", f"{API}/me/experiences/bulk", {"items": roles}, token)
            if reply.status != 201:
                raise RuntimeError(f"bulk create for {name}: {reply.status} {reply.body}")
            for method, path in HTTP_ENDPOINTS.values():
                if method == "GET":
                    reply = client.call("GET", path, token=token)
                    if reply.status != 200:
                        raise RuntimeError(f"GET {path} for {name}: {reply.status} {reply.body}")
            users.append(HttpUser(name, token))
    finally:
        client.close()
    return users


def http_client(
    host: str,
    port: int,
    method: str,
    path: str,
    token: str,
    start_at: float,
    seconds: float,
    seed: int,
) -> dict[str, Any]:
    """One closed-loop client process: requests from ``start_at`` (wall clock) for ``seconds``.

    ``POST`` alternates with deleting what it created, so the user keeps the same number of
    roles: each create recomputes tiers 2 and 3 over all of them, and a growing count would
    make later runs slower than earlier ones whatever the variant.
    """
    client = Client(host, port)
    statuses: Counter[Any] = Counter()
    latencies: list[float] = []
    examples: list[str] = []
    counter = 0
    created: str | None = None
    time.sleep(max(0.0, start_at - time.time()))
    began = time.monotonic()
    deadline = began + seconds
    while time.monotonic() < deadline:
        counter += 1
        call: tuple[str, str, Any] = (method, path, None)
        if created is not None:
            call = ("DELETE", f"{path}/{created}", None)
        elif method == "POST":
            call = (method, path, experience_body(seed * 1_000_000 + counter))
        try:
            reply = client.call(*call, token)
        except Exception as exc:  # noqa: BLE001 - counted as a transport error
            statuses[type(exc).__name__] += 1
            if len(examples) < 3:
                examples.append(f"{type(exc).__name__}: {exc}")
            client = Client(host, port)
            continue
        statuses[reply.status] += 1
        if 200 <= reply.status < 300:
            latencies.append(reply.seconds * 1000)
            created = reply.body["id"] if call[0] == "POST" else None
        elif len(examples) < 3:
            examples.append(f"{call[0]} {reply.status} {str(reply.body)[:200]}")
    elapsed = time.monotonic() - began
    if created is not None:  # untimed: leave the user as it was
        client.call("DELETE", f"{path}/{created}", None, token)
    client.close()
    return {"statuses": statuses, "latencies": latencies, "seconds": elapsed, "examples": examples}


def drive(
    pool: Any,
    server: Server,
    variant: str,
    endpoint: str,
    users: list[HttpUser],
    seconds: float,
) -> HttpRun:
    method, path = HTTP_ENDPOINTS[endpoint]
    start_at = time.time() + 0.3
    jobs = [
        (server.host, server.port, method, path, user.token, start_at, seconds, n + 1)
        for n, user in enumerate(users)
    ]
    parts = pool.starmap(http_client, jobs)
    statuses: Counter[Any] = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    latencies = [x for part in parts for x in part["latencies"]]
    return HttpRun(
        variant,
        len(latencies),
        statuses,
        latencies,
        max(part["seconds"] for part in parts),
        [e for part in parts for e in part["examples"]],
    )


def run_http(base_url: str, args: argparse.Namespace, report: Report) -> None:
    context = multiprocessing.get_context("fork")
    results: dict[str, list[tuple[HttpRun, HttpRun]]] = {name: [] for name in HTTP_ENDPOINTS}
    with (
        context.Pool(args.clients) as pool,
        postgres_database(base_url, "audit_http") as (url, _),
        temp_dir("pathfinder-bench-audit-http.") as root,
    ):
        settings = production_settings(
            url,
            root / "instance",
            PASSWORD_HASH_PROFILE="fast",  # noqa: S106 - a hash profile name, not a password
            AUDIT_SIGNING_KEY=signing_key(),
        )
        prepare_database(settings, {"self_registration_enabled": True})
        description = describe_pg(url, args.pg_source)
        off_settings = {**settings, "AUDIT_REQUESTS": "false"}
        log(f"http: two gunicorn servers, {args.workers} workers each (request row on / off)")
        with (
            gunicorn(settings, root, workers=args.workers) as on_server,
            gunicorn(off_settings, root, workers=args.workers) as off_server,
        ):
            log(f"http: {args.clients} users with {HTTP_SEED_ROLES} roles each")
            users = create_http_users(on_server, args.clients)
            app = create_app(app_config(settings))
            db = get_database(app)
            sealer = PeriodicSealer(app, db, HTTP_SEAL_INTERVAL).start()
            servers = {"off": off_server, "on": on_server}
            try:
                for endpoint in HTTP_ENDPOINTS:
                    for variant in ("off", "on"):  # warm both servers' workers, untimed
                        drive(pool, servers[variant], variant, endpoint, users, 1.0)
                    for round_ in range(args.http_rounds):
                        order = ("off", "on") if round_ % 2 == 0 else ("on", "off")
                        runs = {}
                        for variant in order:
                            log(
                                f"  {endpoint}, round {round_ + 1}/{args.http_rounds}: "
                                f"{variant}, {args.http_seconds:.0f} s"
                            )
                            runs[variant] = drive(
                                pool, servers[variant], variant, endpoint, users, args.http_seconds
                            )
                        results[endpoint].append((runs["off"], runs["on"]))
            finally:
                sealer.stop(drain=True)
            with app.app_context():
                audit.seal(db, app.config)
                with db.connect() as conn:
                    verified = audit.verify_configured(conn, app)
                    conn.rollback()
            db.dispose()
        tracebacks = sum(
            s.log_path.read_text(errors="replace").count("Traceback")
            for s in (on_server, off_server)
        )
    report_http(results, description, args, sealer, verified, tracebacks, report)


def report_http(
    results: dict[str, list[tuple[HttpRun, HttpRun]]],
    description: str,
    args: argparse.Namespace,
    sealer: PeriodicSealer,
    verified: audit.VerifyReport,
    tracebacks: int,
    report: Report,
) -> None:
    lines = [
        "### 2. Request row under gunicorn: requests per second, on / off\n",
        f"- database: {description}",
        f"- servers: two `pathfinder serve --production`, {args.workers} sync workers each, "
        "one with `PATHFINDER_AUDIT_REQUESTS=false`; loopback",
        f"- clients: {args.clients} closed-loop processes, one user each "
        f"({HTTP_SEED_ROLES} roles to start); {args.http_rounds} rounds of "
        f"{args.http_seconds:.0f} s per variant, order flipped every round",
        f"- sealer: every {HTTP_SEAL_INTERVAL:.0f} s in the bench process, "
        f"{len(sealer.runs)} runs, {sum(r.report.rows for r in sealer.runs)} rows sealed; "
        f"verify at the end: {verify_summary(verified)}",
        f"- tracebacks in the server logs: {tracebacks}\n",
        "| endpoint | round | off req/s | on req/s | on/off | off p50 / p95 ms "
        "| on p50 / p95 ms | non-2xx off / on |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    bad: list[str] = []
    summary = []
    for endpoint, rounds in results.items():
        for n, (off, on) in enumerate(rounds, start=1):
            lines.append(
                f"| {endpoint} | {n} | {off.rps:.1f} | {on.rps:.1f} | {on.rps / off.rps:.2f} | "
                f"{latency(off)} | {latency(on)} | {non_2xx(off)} / {non_2xx(on)} |"
            )
            for run in (off, on):
                for status, count in run.statuses.items():
                    if not isinstance(status, int) or status >= 500:
                        bad.append(f"{endpoint} ({run.variant}): {status} x {count}")
                if run.examples:
                    bad.extend(f"{endpoint} ({run.variant}): {e}" for e in run.examples[:2])
        off_rps = sum(off.ok for off, _ in rounds) / sum(off.seconds for off, _ in rounds)
        on_rps = sum(on.ok for _, on in rounds) / sum(on.seconds for _, on in rounds)
        ratio = on_rps / off_rps
        per_round = [on.rps / off.rps for off, on in rounds]
        summary.append(
            f"- {endpoint}: {off_rps:.1f} -> {on_rps:.1f} req/s, on/off **{ratio:.3f}** "
            f"(rounds {spread(per_round)}); target >= {HTTP_TARGET}: "
            f"{met_text(ratio >= HTTP_TARGET)}"
        )
        report.checks.append(
            Check(
                f"http, {endpoint}: req/s with the request row / without",
                f"{ratio:.3f} ({off_rps:.1f} -> {on_rps:.1f} req/s)",
                f"rounds {spread(per_round)}",
                f">= {HTTP_TARGET}",
                ratio >= HTTP_TARGET,
            )
        )
    lines += ["", *summary]
    report.add("\n".join(lines))
    if bad or tracebacks:
        report.failures.append(
            f"http: 5xx, transport errors or tracebacks: {bad[:5]} (tracebacks: {tracebacks})"
        )
    if not verified.ok:
        report.failures.append(f"http: verification failed: {verified.findings[:5]}")


def latency(run: HttpRun) -> str:
    if not run.latencies:
        return "-"
    return f"{statistics.median(run.latencies):.1f} / {percentile(run.latencies, 0.95):.1f}"


def non_2xx(run: HttpRun) -> int:
    return sum(n for s, n in run.statuses.items() if not (isinstance(s, int) and s < 300))


# -- part 3: sealing keeps up with 1,000 rows/s ----------------------------------------------


def seal_writer(
    config: dict[str, Any], rate: float, start_at: float, seconds: float, index: int
) -> list[int]:
    """One writer process: ``rate`` single-row transactions per second; rows per second."""
    app = create_app(config)
    db = get_database(app)
    counts = [0] * (int(seconds) + 1)
    actor = {"user_id": new_id(), "username": f"writer{index}", "role": "user"}
    meta = {
        "request_id": None,
        "http_method": "PATCH",
        "request_path": "/api/v1/me/experiences",
        "status_code": 200,
        "ip_address": "192.0.2.1",
        "user_agent": "bench/1.0",
        "execution_ms": 5,
    }
    try:
        with app.app_context():
            with db.transaction() as conn:  # connect and warm up before the clock starts
                audit.record(
                    conn, "sensitive_update", actor=actor, target_type="warmup", request_meta=meta
                )
            time.sleep(max(0.0, start_at - time.time()))
            began = time.monotonic()
            deadline = began + seconds
            n = 0
            while (now := time.monotonic()) < deadline:
                due = began + n / rate
                if due > now:
                    time.sleep(due - now)
                with db.transaction() as conn:
                    audit.record(
                        conn,
                        "sensitive_update",
                        actor=actor,
                        target_type="experience",
                        target_id=new_id(),
                        details={"fields": ["title", "description"]},
                        request_meta={**meta, "request_id": new_id()},
                    )
                n += 1
                counts[min(len(counts) - 1, int(time.monotonic() - began))] += 1
    finally:
        db.dispose()
    return counts


def run_seal(base_url: str, args: argparse.Namespace, report: Report) -> None:
    context = multiprocessing.get_context("fork")
    with (
        context.Pool(args.seal_writers) as pool,
        postgres_database(base_url, "audit_seal") as (url, _),
        temp_dir("pathfinder-bench-audit-seal.") as root,
    ):
        config = {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(root / "instance"),
            "AUDIT_HMAC_KEY": secrets.token_urlsafe(32),
            "AUDIT_SIGNING_KEY": signing_key(),
            "AUDIT_SEAL_INTERVAL_SECONDS": args.seal_interval,
            "LOG_LEVEL": "WARNING",
        }
        app = create_app(config)
        db = get_database(app)
        description = describe_pg(url, args.pg_source)
        init_database(db)
        audit.seal(db, app.config)  # whatever db init wrote
        log(
            f"seal: {args.seal_writers} writers at {args.seal_rate:.0f} rows/s in total for "
            f"{args.seal_seconds:.0f} s; audit.seal every {args.seal_interval:g} s"
        )
        start_at = time.time() + 2.0
        began = dt.datetime.fromtimestamp(start_at, dt.UTC)
        jobs = [
            (config, args.seal_rate / args.seal_writers, start_at, args.seal_seconds, n)
            for n in range(args.seal_writers)
        ]
        sealer = PeriodicSealer(app, db, args.seal_interval)
        time.sleep(max(0.0, start_at - time.time() - args.seal_interval))
        sealer.start()
        counts = pool.starmap(seal_writer, jobs)
        sealer.stop(drain=True)
        with db.connect() as conn:
            rows = conn.execute(
                sa.select(audit_leaves.c.tree_size, audit_log.c.created_at)
                .select_from(audit_leaves.join(audit_log, audit_log.c.seq == audit_leaves.c.seq))
                .where(audit_log.c.created_at >= began, audit_log.c.target_type == "experience")
            ).all()
            conn.rollback()
        with app.app_context(), db.connect() as conn:
            verified = audit.verify_configured(conn, app)
            conn.rollback()
        db.dispose()
    report_seal(counts, rows, sealer, description, args, verified, report)


def report_seal(
    counts: list[list[int]],
    rows: list[Any],
    sealer: PeriodicSealer,
    description: str,
    args: argparse.Namespace,
    verified: audit.VerifyReport,
    report: Report,
) -> None:
    written = sum(sum(c) for c in counts)
    rate = written / args.seal_seconds
    whole = int(args.seal_seconds)
    per_second = [sum(c[s] for c in counts) for s in range(whole)]
    sealing = [r for r in sealer.runs if r.report.rows]
    sizes = [r.report.tree_size for r in sealing]
    lags = []
    for tree_size, created in rows:
        run = sealing[bisect.bisect_left(sizes, int(tree_size))]
        lags.append((run.ended - utc(created)).total_seconds())
    run_lags = [r.report.lag_seconds for r in sealing if r.report.lag_seconds is not None]
    durations = [r.seconds for r in sealer.runs]
    max_lag = max(lags) if lags else float("nan")
    p95_lag = percentile(lags, 0.95)
    lines = [
        "### 3. Sealing under a steady stream of audit rows\n",
        f"- database: {description}",
        f"- writers: {args.seal_writers} processes, one `audit.record` per transaction, paced "
        f"to {args.seal_rate:.0f} rows/s in total, {args.seal_seconds:.0f} s",
        f"- sealer: `audit.seal` every {args.seal_interval:g} s in this process "
        f"({len(sealer.runs)} runs, {sealer.skipped} ticks skipped while a run was going)",
        f"- verify at the end: {verify_summary(verified)}\n",
        "| figure | value |",
        "| --- | ---: |",
        f"| rows written | {written:,} |",
        f"| insert rate, rows/s (whole run) | {rate:,.0f} |",
        f"| insert rate, rows/s (slowest / fastest whole second) | "
        f"{min(per_second, default=0):,} / {max(per_second, default=0):,} |",
        f"| rows sealed in the run (lag measured) | {len(lags):,} |",
        f"| row lag, median / p95 / max s | {statistics.median(lags) if lags else 0:.2f} / "
        f"{p95_lag:.2f} / {max_lag:.2f} |",
        f"| SealReport.lag_seconds per run, p95 / max s | {percentile(run_lags, 0.95):.2f} / "
        f"{max(run_lags, default=float('nan')):.2f} |",
        f"| seal run, median / p95 / max s | {statistics.median(durations):.3f} / "
        f"{percentile(durations, 0.95):.3f} / {max(durations):.3f} |",
        f"| rows per sealing run, median / max | "
        f"{statistics.median([r.report.rows for r in sealing]) if sealing else 0:.0f} / "
        f"{max((r.report.rows for r in sealing), default=0)} |",
        "",
        f"Insert rate {rate:,.0f} rows/s, target >= {SEAL_RATE_TARGET:,.0f}: "
        f"{met_text(rate >= SEAL_RATE_TARGET)}. Seal lag max {max_lag:.2f} s, p95 "
        f"{p95_lag:.2f} s, target < {SEAL_LAG_TARGET:.0f} s: "
        f"{met_text(max_lag < SEAL_LAG_TARGET)}.",
    ]
    report.add("\n".join(lines))
    report.checks.append(
        Check(
            "seal: audit rows written per second (1 row per transaction)",
            f"{rate:,.0f} rows/s ({written:,} rows)",
            f"seconds {min(per_second, default=0):,}-{max(per_second, default=0):,}",
            f">= {SEAL_RATE_TARGET:,.0f}/s",
            rate >= SEAL_RATE_TARGET,
        )
    )
    report.checks.append(
        Check(
            f"seal: lag, created_at to end of its seal (every {args.seal_interval:g} s)",
            f"max {max_lag:.2f} s, p95 {p95_lag:.2f} s",
            f"seal runs {min(durations):.3f}-{max(durations):.3f} s",
            f"< {SEAL_LAG_TARGET:.0f} s",
            max_lag < SEAL_LAG_TARGET,
        )
    )
    if not verified.ok or len(lags) != written:
        report.failures.append(
            f"seal: {written} rows written, {len(lags)} sealed; verify {verify_summary(verified)}"
        )


# -- part 4: verify over 100,000 and 1,000,000 rows ------------------------------------------


def bulk_rows(count: int, keys: Any, batch: int) -> Iterator[list[dict[str, Any]]]:
    """Rows as ``audit.record`` writes them (same fields, same HMAC), ``batch`` at a time."""
    actors = [new_id() for _ in range(50)]
    made = 0
    while made < count:
        rows = []
        now = dt.datetime.now(dt.UTC)
        for n in range(made, min(count, made + batch)):
            actor = actors[n % len(actors)]
            request = n % 2 == 0
            target = None if request else new_id()
            row: dict[str, Any] = {
                "id": new_id(),
                "event_type": "request" if request else "sensitive_update",
                "actor_id": actor,
                "actor_role": "user",
                "actor_display": f"user{n % len(actors)}",
                "target_type": None if request else "experience",
                "target_id": target,
                "target_display": None,
                "outcome": "success",
                "request_id": new_id(),
                "http_method": "GET" if request else "PATCH",
                "request_path": (
                    f"{API}/me/experiences" if request else f"{API}/me/experiences/{target}"
                ),
                "status_code": 200,
                "ip_address": "192.0.2.1",
                "user_agent": "bench/1.0",
                "execution_ms": n % 40,
                "details": sanitise_details(
                    {"route": "/api/v1/me/experiences"}
                    if request
                    else {"fields": ["title", "description"], "experience": target}
                ),
                "created_at": now,
            }
            row["row_hash"] = compute_row_hash(row, keys)
            rows.append(row)
        made += len(rows)
        yield rows


def vacuum(db: Database, *tables: str) -> None:
    """What autovacuum would do to a freshly loaded table, done now rather than mid-timing.

    The first scan after a bulk load sets every row's hint bits, and autovacuum wakes up
    for the inserts; either would land in one of the timed runs and not the others.
    """
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(tables)}")


def run_verify(base_url: str, args: argparse.Namespace, report: Report) -> None:
    sizes = [int(s) for s in args.verify_sizes.split(",")]
    results: list[tuple[int, list[float], audit.VerifyReport, float, float]] = []
    with (
        postgres_database(base_url, "audit_verify") as (url, _),
        temp_dir("pathfinder-bench-audit-verify.") as root,
    ):
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(root / "instance"),
                "AUDIT_HMAC_KEY": secrets.token_urlsafe(32),
                "AUDIT_SIGNING_KEY": signing_key(),
                "AUDIT_SEAL_BATCH_SIZE": args.verify_batch,
                "LOG_LEVEL": "WARNING",
            }
        )
        db = get_database(app)
        description = describe_pg(url, args.pg_source)
        try:
            init_database(db)
            keys = row_keys(app)
            for size in sizes:
                with db.connect() as conn:
                    have = int(
                        conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar()
                    )
                    conn.rollback()
                missing = max(0, size - have)
                log(f"verify: building {missing:,} rows (to {size:,})")
                clock = time.perf_counter()
                done = 0
                for rows in bulk_rows(missing, keys, 5000):
                    with db.transaction() as conn:
                        conn.execute(audit_log.insert(), rows)
                    done += len(rows)
                    if done % 100_000 < len(rows) or done == missing:
                        rate = done / (time.perf_counter() - clock)
                        log(f"  {done:,}/{missing:,} rows, {rate:,.0f} rows/s")
                build = time.perf_counter() - clock
                clock = time.perf_counter()
                with app.app_context():
                    sealed = audit.seal(db, app.config)
                seal_seconds = time.perf_counter() - clock
                log(f"  sealed {sealed.rows:,} rows in {seal_seconds:.1f} s; VACUUM ANALYZE")
                vacuum(db, "pf_audit_log", "pf_audit_leaves")
                timings = []
                for n in range(args.verify_repeats):
                    clock = time.perf_counter()
                    with app.app_context(), db.connect() as conn:
                        verified = audit.verify_configured(conn, app)
                        conn.rollback()
                    timings.append(time.perf_counter() - clock)
                    log(f"  verify {n + 1}/{args.verify_repeats}: {timings[-1]:.1f} s")
                    if not verified.ok or verified.tree_size < size:
                        report.failures.append(
                            f"verify ({size:,} rows): {verify_summary(verified)}: "
                            f"{verified.findings[:5]}"
                        )
                results.append((size, timings, verified, build, seal_seconds))
        finally:
            db.dispose()
    report_verify(results, description, args, report)


def report_verify(
    results: list[tuple[int, list[float], audit.VerifyReport, float, float]],
    description: str,
    args: argparse.Namespace,
    report: Report,
) -> None:
    lines = [
        "### 4. `audit verify` against the number of rows\n",
        f"- database: {description}",
        f"- rows: half `request`, half `sensitive_update` (ids in the path and details), "
        f"inserted 5,000 per statement with `compute_row_hash`; sealed with "
        f"AUDIT_SEAL_BATCH_SIZE={args.verify_batch:,}, then `VACUUM (ANALYZE)` of the log "
        "and the leaves (as autovacuum would, but before the timing rather than during it)",
        f"- `audit.verify_configured` timed {args.verify_repeats} times per size\n",
        "| rows | verify median s | runs s | rows/s | findings | checkpoints | build s | seal s |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, timings, verified, build, seal_seconds in results:
        median = statistics.median(timings)
        lines.append(
            f"| {verified.tree_size:,} | {median:.2f} | "
            f"{', '.join(f'{t:.2f}' for t in timings)} | {verified.tree_size / median:,.0f} | "
            f"{len(verified.findings)} | {verified.checkpoints} | {build:.1f} | "
            f"{seal_seconds:.1f} |"
        )
        report.checks.append(
            Check(
                f"verify: {size:,} rows",
                f"{median:.2f} s ({verified.tree_size / median:,.0f} rows/s)",
                f"runs {spread(timings)} s",
                "-",
                None,
            )
        )
    if len(results) >= 2:
        (small, small_t, *_), (large, large_t, *_) = results[0], results[-1]
        growth = large / small
        ratio = statistics.median(large_t) / statistics.median(small_t)
        per_row = ratio / growth - 1
        pairs = [b / a for a in small_t for b in large_t]
        lines += [
            "",
            f"Time {large:,} / {small:,} rows: **{ratio:.2f}x** for {growth:.0f}x the rows "
            f"(linear: {growth:.0f}x; time per row {per_row:+.0%}). The issue sets no "
            "threshold: reported, not judged.",
        ]
        report.checks.append(
            Check(
                f"verify: time {large:,} / {small:,} rows",
                f"{ratio:.2f}x (time per row {per_row:+.0%})",
                f"pairs {spread(pairs)}",
                f"linear = {growth:.0f}x",
                None,
            )
        )
    report.add("\n".join(lines))


# -- main ------------------------------------------------------------------------------------


@contextlib.contextmanager
def shared_postgres(pg_url: str | None, needed: bool) -> Iterator[str | None]:
    """``--pg-url``, or one throw-away cluster (fsync off) for every part that needs one."""
    if pg_url or not needed:
        yield pg_url
        return
    log("starting a throw-away PostgreSQL cluster (bench/_pg.py)")
    cluster = _pg.start_cluster()
    try:
        yield cluster.url()
    finally:
        cluster.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "all"],
        default="all",
        help="write part; postgresql-durable: a cluster of its own with fsync on",
    )
    parser.add_argument("--pg-url", help="PostgreSQL server (role with CREATEDB) for all parts")
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs of every part")
    group = parser.add_argument_group("write (full / --quick)")
    group.add_argument("--iterations", type=int, help="writes per variant per block (1000 / 150)")
    group.add_argument("--repeats", type=int, help="alternating blocks (3 / 3)")
    group.add_argument("--requests", type=int, help="test-client requests per variant (1000 / 150)")
    group.add_argument("--warmup", type=int, help="discarded pairs per block (50 / 20)")
    group = parser.add_argument_group("http")
    group.add_argument("--workers", type=int, default=4, help="gunicorn workers per server")
    group.add_argument("--clients", type=int, default=8, help="client processes")
    group.add_argument("--http-seconds", type=float, help="per variant per round (10 / 3)")
    group.add_argument("--http-rounds", type=int, help="rounds of off+on per endpoint (3 / 2)")
    group = parser.add_argument_group("seal")
    group.add_argument("--seal-seconds", type=float, help="writing time (10 / 5)")
    group.add_argument("--seal-rate", type=float, default=1100.0, help="rows/s offered in total")
    group.add_argument("--seal-writers", type=int, default=4, help="writer processes")
    group.add_argument("--seal-interval", type=float, default=1.0, help="seconds between seals")
    group = parser.add_argument_group("verify")
    group.add_argument("--verify-sizes", help="row counts (100000,1000000 / 10000,100000)")
    group.add_argument("--verify-repeats", type=int, help="verify runs per size (3 / 3)")
    group.add_argument(
        "--verify-batch", type=int, default=100_000, help="AUDIT_SEAL_BATCH_SIZE for the build"
    )
    args = parser.parse_args()
    for name, (full, quick) in PRESETS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.pg_source = "--pg-url" if args.pg_url else "throw-away cluster, bench/_pg.py"
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}")
    return args


def main() -> None:
    args = parse_args()
    report = Report(machine_info(), sys.argv[1:])
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    started = time.monotonic()
    needs_pg = any(p in args.parts for p in ("http", "seal", "verify")) or (
        "write" in args.parts and "postgresql" in backends
    )
    with shared_postgres(args.pg_url, needs_pg) as base_url:
        if "write" in args.parts:
            report.add("### 1. One audited write against the same write without its row")
            for backend in backends:
                log(f"write: {backend}")
                run_write_backend(backend, base_url, args, report)
        assert base_url is not None or not needs_pg
        if "http" in args.parts and base_url:
            run_http(base_url, args, report)
        if "seal" in args.parts and base_url:
            run_seal(base_url, args, report)
        if "verify" in args.parts and base_url:
            run_verify(base_url, args, report)
    report.machine["run time"] = f"{(time.monotonic() - started) / 60:.1f} min"
    report.print()
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
