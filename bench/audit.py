"""Audit benchmark: what writing the audit row costs a write, and what the middleware costs.

Run: ``.venv/bin/python bench/audit.py [--backend sqlite|postgresql|postgresql-durable|all]
[--iterations N] [--requests N] [--pg-url URL] [--quick]``.

Why this shape:

* The audit row is written in the same transaction as the change it describes, so its
  cost is paid by every audited write. The write measured is the typical one: insert an
  experience row into a provisioned user's table through ``db.tenant_transaction`` (on
  SQLite: the user's file attached to the connection), with and without
  ``audit.record(...)`` in that same transaction. The ratio of the two is the figure the
  issue sets a target for (<= 1.10).
* Runs alternate (off, on, off, on, ...) so drift on a shared machine (other processes,
  caches, autovacuum) falls on both variants alike; median and p95 of each are printed.
* The middleware writes one more row per request in its own transaction; it is measured as
  the latency of a trivial route through Flask's test client with ``AUDIT_REQUESTS`` on and
  off (two apps on the same database).
* PostgreSQL: ``--pg-url``, else ``PATHFINDER_TEST_PG_URL`` (a fresh schema, dropped at
  exit), else a throw-away cluster (``bench/_pg.py``). Durability settings change the
  figures a lot (a commit with ``fsync=off`` costs almost nothing, so the audit statements
  weigh relatively more), so ``postgresql-durable`` repeats the run on a throw-away
  cluster with ``fsync``/``synchronous_commit`` on, as production runs. The settings are
  printed with each report. SQLite runs in a temp dir.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _pg
import sqlalchemy as sa
from _server import log, machine_info
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from pathfinder import audit, create_app
from pathfinder.auth.policy import public
from pathfinder.db import Database, get_database
from pathfinder.db.setup import init_database
from pathfinder.ids import new_id
from pathfinder.provisioning import Provisioner

BENCH_USER = "benchaudit"
PING_PATH = "/api/v1/_bench/ping"


@dataclass
class Stats:
    samples: list[float]

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.samples)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    @property
    def mean_ms(self) -> float:
        return 1000 * statistics.fmean(self.samples)


def alternate(
    off: Callable[[], None], on: Callable[[], None], iterations: int, warmup: int
) -> tuple[Stats, Stats]:
    """Time ``off`` and ``on`` alternately; the first ``warmup`` pairs are discarded."""
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


# -- targets -------------------------------------------------------------------------------


def make_bench_app(url: str, instance: Path, key: str, **overrides: Any) -> Flask:
    config = {
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(instance),
        "AUDIT_HMAC_KEY": key,
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
def sqlite_url() -> Iterator[tuple[str, Path, dict[str, str]]]:
    root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-audit."))
    try:
        instance = root / "instance"
        settings = {"journal_mode": "delete (rollback journal)", "synchronous": "FULL (default)"}
        yield f"sqlite:///{instance / 'pathfinder.db'}", instance, settings
    finally:
        shutil.rmtree(root, ignore_errors=True)


# What production runs with; bench/_pg.py turns these off to time DDL, not the disk.
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@contextlib.contextmanager
def postgresql_url(
    pg_url: str | None, *, durable: bool = False
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-audit-pg."))
    cluster: _pg.TempCluster | None = None
    base = None if durable else pg_url or os.environ.get("PATHFINDER_TEST_PG_URL")
    source = "--pg-url" if pg_url else "PATHFINDER_TEST_PG_URL"
    if not base:
        log("  starting a throw-away PostgreSQL cluster (bench/_pg.py)")
        if durable:
            _pg.SERVER_SETTINGS.update(DURABLE_SETTINGS)
        cluster = _pg.start_cluster()
        base = cluster.url()
        source = "throw-away cluster" + (" with fsync/synchronous_commit on" if durable else "")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    schema = f"bench_audit_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
            settings = {
                name: str(conn.exec_driver_sql(f"SHOW {name}").scalar())
                for name in ("server_version", "fsync", "synchronous_commit")
            }
        settings["server"] = source
        url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False), root / "instance", settings
    finally:
        with admin.connect() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- measurements --------------------------------------------------------------------------


def write_benchmark(app: Flask, db: Database, iterations: int, warmup: int) -> tuple[Stats, Stats]:
    """An experience insert in the user's tables, without and with its audit row."""
    now = dt.datetime.now(dt.UTC)
    actor = {"user_id": new_id(), "username": BENCH_USER, "role": "user"}
    meta = {"ip_address": "192.0.2.1", "user_agent": "bench/1.0"}

    def write(with_audit: bool) -> None:
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
                    request_meta=meta,
                )

    with app.app_context():
        return alternate(lambda: write(False), lambda: write(True), iterations, warmup)


def request_benchmark(
    on_app: Flask, off_app: Flask, iterations: int, warmup: int
) -> tuple[Stats, Stats]:
    """GET a trivial route through the whole Flask stack, middleware on and off."""
    on_client, off_client = on_app.test_client(), off_app.test_client()

    def get(client: Any) -> None:
        response = client.get(PING_PATH)
        if response.status_code != 200:
            raise RuntimeError(f"ping answered {response.status_code}")

    return alternate(lambda: get(off_client), lambda: get(on_client), iterations, warmup)


def run_backend(
    backend: str, args: argparse.Namespace
) -> tuple[dict[str, str], list[tuple[str, Stats, Stats]]]:
    key = secrets.token_urlsafe(32)
    if backend == "sqlite":
        opener = sqlite_url()
    else:
        opener = postgresql_url(args.pg_url, durable=backend == "postgresql-durable")
    with opener as (url, instance, settings):
        on_app = make_bench_app(url, instance, key)
        off_app = make_bench_app(url, instance, key, AUDIT_REQUESTS=False)
        db = get_database(on_app)
        init_database(db)
        Provisioner(db).provision(BENCH_USER)
        try:
            log(f"  {backend}: write transaction, {args.iterations} x 2")
            writes = write_benchmark(on_app, db, args.iterations, args.warmup)
            log(f"  {backend}: request through the middleware, {args.requests} x 2")
            requests = request_benchmark(on_app, off_app, args.requests, args.warmup)
            with on_app.app_context(), db.connect() as conn:
                report = audit.verify_chain(conn)
                conn.rollback()
            if not report.ok:
                raise RuntimeError(f"chain broken after the benchmark: {report.broken}")
            settings["audit rows written (chain verified)"] = str(report.checked)
        finally:
            db.dispose()
            get_database(off_app).dispose()
    return settings, [
        ("write: experience insert (tenant_transaction)", *writes),
        ("request: GET trivial route (test client)", *requests),
    ]


def print_report(machine: dict[str, str], results: dict[str, Any], argv: list[str]) -> None:
    print("## Audit benchmark\n")
    print(f"Command: `{' '.join(['.venv/bin/python', 'bench/audit.py', *argv])}`\n")
    for key, value in machine.items():
        print(f"- {key}: {value}")
    for backend, (settings, rows) in results.items():
        print(f"\n### {backend}\n")
        print(", ".join(f"{k}: {v}" for k, v in settings.items()) + "\n")
        print("| operation | n | off median ms | on median ms | off p95 ms | on p95 ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        print_ratio_rows = []
        for label, off, on in rows:
            print(
                f"| {label} | {len(on.samples)} | {off.median_ms:.3f} | {on.median_ms:.3f} | "
                f"{off.p95_ms:.3f} | {on.p95_ms:.3f} |"
            )
            print_ratio_rows.append((label, off, on))
        print("\n| ratio on/off | median | p95 | mean | added median ms |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, off, on in print_ratio_rows:
            print(
                f"| {label} | {on.median_ms / off.median_ms:.2f} | "
                f"{on.p95_ms / off.p95_ms:.2f} | {on.mean_ms / off.mean_ms:.2f} | "
                f"{on.median_ms - off.median_ms:.3f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql", "postgresql-durable", "all"],
        default="all",
        help="postgresql-durable: a throw-away cluster with fsync and synchronous_commit on",
    )
    parser.add_argument("--iterations", type=int, default=2000, help="writes per variant")
    parser.add_argument("--requests", type=int, default=1000, help="requests per variant")
    parser.add_argument("--warmup", type=int, default=100, help="discarded pairs per phase")
    parser.add_argument("--pg-url", help="PostgreSQL server to use (a schema is made there)")
    parser.add_argument("--quick", action="store_true", help="200 writes, 200 requests")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.requests, args.warmup = 200, 200, 20
    machine = machine_info()
    everything = ["sqlite", "postgresql", "postgresql-durable"]
    backends = everything if args.backend == "all" else [args.backend]
    results = {}
    for backend in backends:
        log(f"{backend}:")
        results[backend] = run_backend(backend, args)
    print_report(machine, results, sys.argv[1:])


if __name__ == "__main__":
    main()
