"""Provisioning benchmark: the engine against raw DDL, at 100, 1,000 and 10,000 users.

Run: ``.venv/bin/python bench/provisioning.py [--backend sqlite|postgresql|all]
[--sizes 100,1000,10000] [--pg-url URL] [--quick] [--profile]``.

Why this shape:

* The physical limit of provisioning is the DDL itself, so every engine figure is set
  against the *same* statements (``provision_steps(...)`` compiled by ``step.sql(dialect)``)
  run through the bare DBAPI driver, one transaction per user. The ratio says how much the
  engine's locking, registry and idempotence checks cost on top.
* Per-user tables are the design's scaling risk: PostgreSQL's catalog and SQLite's tenant
  directory grow with every user. So the same batch is timed with 100, 1,000 and 10,000
  users already present; per-user time should stay flat.
* Populations are built by the fastest correct route (raw DDL plus the registry rows the
  engine would have written), since building 10,000 users through the engine would spend
  the time budget on set-up; a sample of those users is checked with ``verify_user`` so the
  engine sees the same registry and catalog it would have made itself.

Nothing here is written to the project's instance folder: SQLite runs in a temp dir, and
PostgreSQL in a throw-away cluster (or fresh databases on ``--pg-url``) removed at exit.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import cProfile
import datetime as dt
import gc
import json
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _pg
import sqlalchemy as sa
from _tenants import (
    PgServer,
    Progress,
    RawPg,
    RawSqlite,
    Target,
    TemplateStatements,
    exact_statements,
    loadavg,
    log,
    make_target,
    prepopulate,
    raw_runner,
    register_ready,
    verify_sample,
)

from pathfinder.provisioning import Provisioner, registry
from pathfinder.provisioning import engine as engine_module
from pathfinder.provisioning.locks import lock_in_transaction, tenant_lock
from pathfinder.provisioning.plan import (
    Step,
    cached_provision_steps,
    column_step,
    migration_steps,
    provision_steps,
)
from pathfinder.schema.naming import TENANT_PREFIX
from pathfinder.schema.shared.system import (
    tenant_locks,
    tenant_objects,
    tenant_provisioning,
)
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables

FULL_SIZES = (100, 1000, 10000)


# -- small utilities -----------------------------------------------------------------------


def mean_ms(samples: Sequence[float]) -> float:
    return 1000 * statistics.fmean(samples) if samples else float("nan")


def median_ms(samples: Sequence[float]) -> float:
    return 1000 * statistics.median(samples) if samples else float("nan")


def p95_ms(samples: Sequence[float]) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def machine_info(pg_version: str | None) -> dict[str, str]:
    """What the figures were measured on; printed first so a report can't lose it."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "sqlite": sqlite3.sqlite_version,
    }
    with contextlib.suppress(ImportError):
        import psycopg

        info["psycopg"] = psycopg.__version__
    if pg_version:
        info["postgresql"] = pg_version
    info["code"] = code_version()
    return info


def code_version() -> str:
    """The commit measured, and whether the engine's files differed from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "pathfinder"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    engine = [
        line[3:]
        for line in dirty
        if line[3:].startswith(("pathfinder/provisioning", "pathfinder/db", "pathfinder/schema"))
    ]
    return f"git {head}" + (f", uncommitted changes in {', '.join(engine)}" if engine else "")


# -- databases -----------------------------------------------------------------------------


# -- raw DDL (the physical limit) ----------------------------------------------------------


@dataclass
class SizeResult:
    backend: str
    present: int
    engine: list[float]
    raw: list[float]
    floor: list[float]
    prepopulated: int
    prepopulate_seconds: float
    verify: str
    load: str

    def row(self) -> dict[str, Any]:
        engine_ms, raw_ms, floor_ms = mean_ms(self.engine), mean_ms(self.raw), mean_ms(self.floor)
        return {
            "backend": self.backend,
            "present": self.present,
            "batch": len(self.engine),
            "engine_users_s": 1000 / engine_ms,
            "raw_users_s": 1000 / raw_ms,
            "engine_ms": engine_ms,
            "engine_median_ms": median_ms(self.engine),
            "engine_p95_ms": p95_ms(self.engine),
            "raw_ms": raw_ms,
            "raw_median_ms": median_ms(self.raw),
            "floor_ms": floor_ms,
            "floor_median_ms": median_ms(self.floor),
            "ratio": engine_ms / raw_ms,
            "median_ratio": median_ms(self.engine) / median_ms(self.raw),
            "floor_median_ratio": median_ms(self.floor) / median_ms(self.raw),
            "engine_over_floor": median_ms(self.engine) / median_ms(self.floor),
            "prepopulated": self.prepopulated,
            "prepopulate_s": self.prepopulate_seconds,
            "verify": self.verify,
            "load": self.load,
        }


def time_engine(
    target: Target, names: Sequence[str], provisioner: Provisioner | None = None
) -> list[float]:
    """Seconds per ``Provisioner(db).provision(name)`` for new users, as the API calls it."""
    provisioner = provisioner or Provisioner(target.db)
    samples: list[float] = []
    for name in names:
        start = time.perf_counter()
        result = provisioner.provision(name)
        samples.append(time.perf_counter() - start)
        assert result.outcome == "created", result
    target.present += len(names)
    return samples


class RegistryFloor:
    """The engine's commits with nothing else: the floor of this registry design.

    Through the bare driver, for a new user: the same DDL, then the registry rows the
    engine writes (``pf_tenant_provisioning`` ready and one ``pf_tenant_objects`` row per
    object), committed the way the engine commits them. SQLite: the DDL in the new file
    with its journal in memory, an fsync of the tenants directory, then the rows in the
    shared file (two single-file commits, user file first). PostgreSQL: DDL and rows in one
    transaction. No lock, no registry read, no SQLAlchemy: whatever the engine spends above
    this is its own overhead, and what this spends above raw DDL is the registry's price.
    """

    def __init__(self, target: Target, template: TemplateStatements) -> None:
        self.target, self.template = target, template
        dialect = target.dialect
        self.state_sql = str(tenant_provisioning.insert().compile(dialect=dialect))
        self.objects_sql = str(tenant_objects.insert().compile(dialect=dialect))
        state_compiled = tenant_provisioning.insert().compile(dialect=dialect)
        objects_compiled = tenant_objects.insert().compile(dialect=dialect)
        # qmark (sqlite3) binds by position, pyformat (psycopg) by name.
        self.state_order = list(state_compiled.positiontup or [])
        self.objects_order = list(objects_compiled.positiontup or [])
        self.sqlite = target.backend == "sqlite"
        self.runner = raw_runner(target)

    def _params(self, row: dict[str, Any], order: list[str]) -> Any:
        if not self.sqlite:
            return row
        return tuple(row[name] for name in order)

    def provision(self, name: str) -> None:
        now_dt = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        now: Any = now_dt.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else now_dt
        state = {
            "username": name,
            "state": "ready",
            "template_version": self.template.version,
            "attempts": 1,
            "last_error": None,
            "requested_at": now,
            "updated_at": now,
            "ready_at": now,
        }
        objects = [
            {
                "username": name,
                "object_name": f"{TENANT_PREFIX}{name}_{part}",
                "object_type": kind,
                "template_part": part,
                "template_version": version,
                "created_at": now,
            }
            for part, kind, version in self.template.objects
        ]
        statements = self.template.statements(name)
        if self.sqlite:
            assert isinstance(self.runner, RawSqlite)
            conn = self.runner.conn
            path = self.target.db.tenant_file(name)
            conn.execute("ATTACH DATABASE ? AS tenant", (str(path),))
            try:
                conn.execute("PRAGMA tenant.journal_mode = MEMORY")
                conn.execute("BEGIN")
                for sql in statements:
                    conn.execute(sql)
                conn.execute("COMMIT")
                fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                conn.execute("BEGIN")
                conn.execute(self.state_sql, self._params(state, self.state_order))
                conn.executemany(
                    self.objects_sql, [self._params(o, self.objects_order) for o in objects]
                )
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("DETACH DATABASE tenant")
            return
        assert isinstance(self.runner, RawPg)
        pg = self.runner.conn
        with pg.transaction():
            for sql in statements:
                pg.execute(sql)
            pg.execute(self.state_sql, state)
            with pg.cursor() as cursor:
                cursor.executemany(self.objects_sql, objects)

    def close(self) -> None:
        self.runner.close()


def time_batch(
    target: Target, size: int, batch: int
) -> tuple[list[float], list[float], list[float]]:
    """Engine, raw and registry-floor users, interleaved one by one.

    Interleaving puts any burst of outside load on all three series alike, so the ratios
    hold even on a shared machine. Raw statements are compiled beforehand (compilation is
    the engine's cost, not the database's); raw users get their registry rows afterwards
    (untimed), so every user made here counts as present for the next size.
    """
    provisioner = Provisioner(target.db)
    template = TemplateStatements(target)
    engine_names = [f"e{size}x{i:04d}" for i in range(batch)]
    raw_names = [f"r{size}x{i:04d}" for i in range(batch)]
    floor_names = [f"l{size}x{i:04d}" for i in range(batch)]
    statements = {name: exact_statements(target, name) for name in raw_names}
    template.check(floor_names[0])
    engine: list[float] = []
    raw: list[float] = []
    floor: list[float] = []
    runner = raw_runner(target)
    registry_floor = RegistryFloor(target, template)
    progress = Progress(f"{target.backend}: timing at {target.present} users", batch, 10.0)
    try:
        for e_name, r_name, f_name in zip(engine_names, raw_names, floor_names, strict=True):
            t0 = time.perf_counter()
            result = provisioner.provision(e_name)
            t1 = time.perf_counter()
            runner.run_user(r_name, statements[r_name])
            t2 = time.perf_counter()
            registry_floor.provision(f_name)
            t3 = time.perf_counter()
            assert result.outcome == "created", result
            engine.append(t1 - t0)
            raw.append(t2 - t1)
            floor.append(t3 - t2)
            progress.step()
    finally:
        runner.close()
        registry_floor.close()
    target.present += 2 * batch
    register_ready(target, raw_names, template)
    if not target.db.is_sqlite:  # the engine's lock row, which the floor does not take
        with target.db.transaction() as conn:
            conn.execute(tenant_locks.insert(), [{"username": name} for name in floor_names])
    else:
        for name in floor_names:
            (target.db.settings.tenant_dir / f"{name}.lock").touch()
    return engine, raw, floor


def measure_sizes(
    target: Target,
    sizes: Sequence[int],
    batch: int,
    workers: int,
    deadline: float,
) -> list[SizeResult]:
    """For each size: grow the population to it, then time an engine and a raw batch."""
    results: list[SizeResult] = []
    # A few engine users first: warms the pool and caches, and is the verify reference.
    warm = [f"w{i:04d}" for i in range(3)]
    time_engine(target, warm)
    prepop_rate: float | None = None
    next_index = 0
    for size in sizes:
        need = max(0, size - target.present)
        if prepop_rate is not None:
            # PostgreSQL's per-user DDL grows with the catalog; allow 1.5x the rate so far.
            estimate = need / prepop_rate * 1.5 + batch * 0.2
            if time.perf_counter() + estimate > deadline:
                log(
                    f"{target.backend}: SKIPPING size {size}: pre-population would take about "
                    f"{estimate:.0f} s, past the time budget"
                )
                print(
                    f"NOTE: {target.backend} size {size} skipped: estimated {estimate:.0f} s "
                    "of pre-population exceeds the remaining --budget-minutes"
                )
                continue
        names = [f"p{next_index + i:06d}" for i in range(need)]
        next_index += need
        log(f"{target.backend}: {target.present} users present, adding {need} to reach {size}")
        seconds = prepopulate(target, names, workers)
        if need:
            prepop_rate = need / seconds
        verdict = verify_sample(target, names, reference=warm[0])
        log(f"  {verdict}")
        log(f"{target.backend}: timing {batch} engine + {batch} raw users at {target.present}")
        present = target.present
        load_before = loadavg()
        engine, raw, floor = time_batch(target, size, batch)
        load = f"{load_before} -> {loadavg()}"
        result = SizeResult(
            target.backend, present, engine, raw, floor, need, seconds, verdict, load
        )
        row = result.row()
        log(
            f"  engine {row['engine_ms']:.1f} ms/user, raw {row['raw_ms']:.1f} ms/user, "
            f"ratio {row['ratio']:.2f}x (medians {row['median_ratio']:.2f}x), registry floor "
            f"{row['floor_median_ms']:.1f} ms/user (load {load})"
        )
        results.append(result)
    return results


# -- migrations ----------------------------------------------------------------------------


@dataclass
class MigrationResult:
    backend: str
    users: int
    populate_v1_s: float
    migrate_v1_v2_s: float
    migrate_v1_v2_per_user_ms: float
    steps_per_user: int
    raw_v1_v2_per_user_ms: float
    raw_users: int
    noop_api_s: float
    noop_forced_s: float
    noop_cli_runner_s: float
    noop_cli_subprocess_s: float
    column_engine_per_user_ms: float
    column_engine_build_ms: float
    column_raw_per_user_ms: float
    load: str = "?"
    statements_v1_v2: list[str] = field(default_factory=list)


def populate_v1(target: Target, names: Sequence[str]) -> float:
    """Users at template version 1, made through the engine's own pieces.

    Registry row, user lock, ``Provisioner.apply_steps`` on version 1's steps in one
    transaction, then ``set_state(ready, template_version=1)``: what ``provision`` did when
    version 1 was the latest.
    """
    provisioner = Provisioner(target.db)
    db = target.db
    start = time.perf_counter()
    progress = Progress(f"{target.backend}: users at template v1", len(names))
    for name in names:
        with db.transaction() as conn:
            registry.ensure_tenant_row(conn, name)
        with tenant_lock(db, name, wait_seconds=60):
            steps = provision_steps(tenant_tables(name, 1, schema=db.tenant_schema))
            with db.connect() as conn, db.attached(conn, name, create=True), conn.begin():
                provisioner.apply_steps(conn, name, steps)
            with db.transaction() as conn:
                registry.set_state(conn, name, "ready", template_version=1)
        progress.step()
    target.present += len(names)
    return time.perf_counter() - start


def migrate_all_like_cli(provisioner: Provisioner, batch_size: int) -> tuple[int, int]:
    """What ``pathfinder tenants migrate`` does, without its progress bar.

    Returns (users migrated, statements run).
    """
    if provisioner.count_pending_migrations() == 0:
        return 0, 0
    records = list(provisioner.pending_migrations(batch_size=batch_size))
    ran = 0
    for record in records:
        ran += provisioner.migrate_user(record.username).steps_run
    return len(records), ran


def time_cli_subprocess(target: Target) -> float:
    """Wall time of ``pathfinder tenants migrate`` as a DBA runs it (interpreter start included)."""
    env = dict(os.environ)
    env["PATHFINDER_DATABASE_URL"] = target.url
    env["PATHFINDER_INSTANCE_PATH"] = str(target.instance)
    script = Path(sys.executable).with_name("pathfinder")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "pathfinder.cli"]
    start = time.perf_counter()
    done = subprocess.run([*cmd, "tenants", "migrate"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "nothing to do" not in done.stdout:
        raise RuntimeError(f"CLI migrate failed: {done.returncode} {done.stdout} {done.stderr}")
    return seconds


def time_cli_runner(target: Target) -> float:
    """``tenants migrate`` through Flask's test CLI runner (no interpreter start)."""
    from pathfinder import create_app

    app = create_app({"DATABASE_URL": target.url, "INSTANCE_PATH": str(target.instance)})
    runner = app.test_cli_runner()
    start = time.perf_counter()
    outcome = runner.invoke(args=["tenants", "migrate"])
    seconds = time.perf_counter() - start
    if outcome.exit_code != 0 or "nothing to do" not in outcome.output:
        raise RuntimeError(f"CLI migrate failed: {outcome.exit_code} {outcome.output}")
    with contextlib.suppress(Exception):
        from pathfinder.db import get_database

        get_database(app).dispose()
    return seconds


def measure_migrations(target: Target, users: int, raw_users: int) -> MigrationResult:
    """v1 -> latest over ``users`` users, the no-op migrate, and a pure one-column change."""
    db = target.db
    provisioner = Provisioner(db)
    names = [f"m{i:06d}" for i in range(users)]
    populate_s = populate_v1(target, names)

    log(f"{target.backend}: migrating {users} users v1 -> v{LATEST_TEMPLATE_VERSION}")
    load_before = loadavg()
    start = time.perf_counter()
    migrated, ran = migrate_all_like_cli(provisioner, batch_size=100)
    migrate_s = time.perf_counter() - start
    load = f"{load_before} -> {loadavg()}"
    assert migrated == users, (migrated, users)
    assert provisioner.count_pending_migrations() == 0
    statements = [
        s.sql(target.dialect) for s in migration_steps(names[0], 1, 2, schema=target.schema)
    ]

    log(f"{target.backend}: no-op migrate over {users} users at the latest version")
    noop_api = min(_timed(lambda: migrate_all_like_cli(provisioner, 100)) for _ in range(5))
    # What a migrate that visited every user would cost: one migrate_user per ready user.
    start = time.perf_counter()
    for name in names:
        assert provisioner.migrate_user(name).outcome == "up_to_date"
    forced_s = time.perf_counter() - start
    runner_s = _best_or_nan(lambda: time_cli_runner(target))
    subprocess_s = _best_or_nan(lambda: time_cli_subprocess(target))

    log(f"{target.backend}: raw v1 -> v2 on {raw_users} raw-made users")
    raw_names = [f"q{i:06d}" for i in range(raw_users)]
    runner = raw_runner(target)
    raw_samples: list[float] = []
    try:
        for name in raw_names:
            runner.run_user(name, exact_statements(target, name, version=1))
        for name in raw_names:
            sql = [s.sql(target.dialect) for s in migration_steps(name, 1, 2, schema=target.schema)]
            start = time.perf_counter()
            runner.run_user(name, sql)
            raw_samples.append(time.perf_counter() - start)
    finally:
        runner.close()

    log(f"{target.backend}: one-column change (ALTER TABLE ... ADD) on {users} users")
    build: list[float] = []
    apply: list[float] = []
    for name in names:
        t0 = time.perf_counter()
        step = _bench_column_step(target, name)
        t1 = time.perf_counter()
        with db.connect() as conn, db.attached(conn, name), conn.begin():
            assert provisioner.apply_steps(conn, name, [step]) == 1
        t2 = time.perf_counter()
        build.append(t1 - t0)
        apply.append(t2 - t1)
    runner = raw_runner(target)
    column_raw: list[float] = []
    try:
        for name in raw_names:
            sql = [_bench_column_step(target, name).sql(target.dialect)]
            start = time.perf_counter()
            runner.run_user(name, sql)
            column_raw.append(time.perf_counter() - start)
    finally:
        runner.close()

    return MigrationResult(
        backend=target.backend,
        users=users,
        populate_v1_s=populate_s,
        migrate_v1_v2_s=migrate_s,
        migrate_v1_v2_per_user_ms=1000 * migrate_s / users,
        steps_per_user=ran // users,
        raw_v1_v2_per_user_ms=mean_ms(raw_samples),
        raw_users=raw_users,
        noop_api_s=noop_api,
        noop_forced_s=forced_s,
        noop_cli_runner_s=runner_s,
        noop_cli_subprocess_s=subprocess_s,
        column_engine_per_user_ms=mean_ms(apply),
        column_engine_build_ms=mean_ms(build),
        column_raw_per_user_ms=mean_ms(column_raw),
        load=load,
        statements_v1_v2=statements,
    )


def _bench_column_step(target: Target, username: str) -> Any:
    """A one-column step (nullable ``skills.bench_note VARCHAR(40)``) built the engine's way."""
    tables = tenant_tables(username, schema=target.schema)
    column: sa.Column[Any] = sa.Column("bench_note", sa.String(40), nullable=True)
    tables.skills.append_column(column)
    return column_step(tables, tables.skills, column)


def _best_or_nan(func: Callable[[], float], repeats: int = 3) -> float:
    """Best of ``repeats``; NaN (and the reason on stderr) if the app cannot start.

    The CLI figures need the whole application to import; a broken import elsewhere in a
    working tree should cost these two cells, not the whole run.
    """
    try:
        return min(func() for _ in range(repeats))
    except Exception as exc:  # any failure here is reported, not fatal
        first = (str(exc).strip().splitlines() or [""])[0]
        log(f"  WARNING: CLI timing failed: {type(exc).__name__}: {first}")
        return float("nan")


def _timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


# -- profiling -----------------------------------------------------------------------------


def classify(statement: str) -> str:
    """Which part of the engine a statement belongs to, from its text."""
    text = statement.lstrip().upper()
    if text.startswith(("CREATE", "ALTER", "DROP")):
        return "DDL"
    if text.startswith("BEGIN"):
        return "BEGIN"
    if "PF_TENANT_LOCKS" in text or "SET_CONFIG" in text:
        return "lock"
    if "SQLITE_MASTER" in text or "PG_CATALOG" in text or "PRAGMA" in text:
        return "catalog check"
    if "PF_TENANT_OBJECTS" in text:
        return "registry objects"
    if "PF_TENANT_PROVISIONING" in text:
        return "registry state"
    return "other SQL"


def _replay_provision_sqlite(p: Provisioner, user: str) -> list[tuple[str, float]]:
    """``provision`` on SQLite for a new user, as ``engine.py`` runs it, timed per phase."""
    db = p.db
    marks = [("start", time.perf_counter())]

    def mark(label: str) -> None:
        marks.append((label, time.perf_counter()))

    steps = cached_provision_steps(
        user, LATEST_TEMPLATE_VERSION, schema=db.tenant_schema, dialect=db.engine.dialect
    )
    mark("1 cached_provision_steps")
    with tenant_lock(db, user, wait_seconds=60):
        mark("2 tenant_lock: take (lock file)")
        path = db.tenant_file(user)
        assert engine_module._holds_nothing(path)
        with p._work_connection(user, create=True) as conn:
            engine_module._driver(conn).execute("PRAGMA tenant.journal_mode = MEMORY")
            mark("3 checkout, ATTACH, in-memory journal for the new file")
            transaction = conn.begin()
            record = p._claim(conn, user)
            mark("4 BEGIN IMMEDIATE + registry read (claim)")
            ran, pending = p._create_missing(
                conn, user, steps, catalog_empty=True, nothing_registered=record is None
            )
            mark("5 the 22 DDL statements")
            transaction.commit()
            mark("6 COMMIT of the user file")
            engine_module._sync_directory(path.parent)
            mark("7 fsync of the tenants directory")
            with conn.begin():
                registry.record_ready(conn, user, LATEST_TEMPLATE_VERSION, new_row=True)
                registry.register_objects(conn, user, pending)
                mark("8 registry row + 22 object rows")
            mark("9 COMMIT of the shared file")
        mark("10 DETACH, checkin")
    mark("11 tenant_lock: release")
    return [(label, t - marks[i][1]) for i, (label, t) in enumerate(marks[1:])]


def _replay_provision_pg(p: Provisioner, user: str) -> list[tuple[str, float]]:
    """``provision`` on PostgreSQL for a new user, as ``engine.py`` runs it, timed per phase."""
    db = p.db
    marks = [("start", time.perf_counter())]

    def mark(label: str) -> None:
        marks.append((label, time.perf_counter()))

    steps = cached_provision_steps(
        user, LATEST_TEMPLATE_VERSION, schema=db.tenant_schema, dialect=db.engine.dialect
    )
    mark("1 cached_provision_steps")
    with db.connect() as conn:
        mark("2 checkout (pre-ping)")
        with conn.begin():
            lock_in_transaction(conn, user, wait_seconds=60)
            mark("3 BEGIN + lock row (set_config, INSERT ... ON CONFLICT)")
            record = p._claim(conn, user)
            mark("4 registry read (claim)")
            ran, pending = p._create_missing(
                conn, user, steps, catalog_empty=record is None, nothing_registered=record is None
            )
            mark("5 the 22 DDL statements")
            registry.record_ready(conn, user, LATEST_TEMPLATE_VERSION, new_row=record is None)
            registry.register_objects(conn, user, pending)
            mark("6 registry row + 22 object rows")
        mark("7 COMMIT")
    mark("8 checkin")
    return [(label, t - marks[i][1]) for i, (label, t) in enumerate(marks[1:])]


def replay_phases(target: Target, count: int) -> dict[str, dict[str, float]]:
    """``provision`` and ``migrate_user`` re-enacted call by call, with a timer per phase.

    Uses the engine's own (private) pieces in the order ``engine.py`` calls them, so the
    owner sees which phase to change. If the engine's internals change, this says so instead
    of failing the run.
    """
    db = target.db
    p = Provisioner(db)
    out: dict[str, dict[str, float]] = {}
    try:
        acc: dict[str, list[float]] = defaultdict(list)
        replay = _replay_provision_sqlite if db.is_sqlite else _replay_provision_pg
        for i in range(count):
            user = f"y{target.present}x{i:04d}"
            phases = replay(p, user)
            for label, spent in phases:
                acc[label].append(spent)
            acc["total"].append(sum(spent for _label, spent in phases))
        target.present += count
        out["provision (new user)"] = {k: median_ms(v) for k, v in acc.items()}

        names = [f"z{target.present}x{i:04d}" for i in range(count)]
        populate_v1(target, names)
        acc = defaultdict(list)
        for user in names:
            t0 = time.perf_counter()
            with tenant_lock(db, user, wait_seconds=60):
                t1 = time.perf_counter()
                record = p._record(user)
                t2 = time.perf_counter()
                assert record.template_version is not None
                steps = migration_steps(
                    user, record.template_version, LATEST_TEMPLATE_VERSION, schema=db.tenant_schema
                )
                t3 = time.perf_counter()

                def finish(conn: sa.Connection, user: str = user) -> None:
                    registry.set_state(
                        conn, user, "ready", template_version=LATEST_TEMPLATE_VERSION
                    )

                p._run_steps(user, steps, on_error_state="ready", finish=finish)
                t4 = time.perf_counter()
            t5 = time.perf_counter()
            for label, spent in (
                ("1 tenant_lock: take", t1 - t0),
                ("2 _record (own transaction)", t2 - t1),
                ("3 migration_steps (builds tenant_tables twice, diffs)", t3 - t2),
                ("4 _run_steps: DDL, existence checks, set_state ready, commit", t4 - t3),
                ("5 tenant_lock: release", t5 - t4),
                ("total", t5 - t0),
            ):
                acc[label].append(spent)
        out["migrate_user v1->v2"] = {k: median_ms(v) for k, v in acc.items()}
    except (AttributeError, TypeError) as exc:
        out["unavailable"] = {f"engine internals changed ({exc})": float("nan")}
    return out


def sqlite_commit_floor(target: Target, count: int) -> dict[str, float]:
    """SQLite: what each way of committing a new user's DDL and registry rows costs.

    Through the bare driver, no Python in the way, for ``count`` new users each:

    * raw DDL alone, rollback journal (the benchmark's raw figure);
    * raw DDL plus 22 rows in the shared file, one two-file transaction (a super-journal:
      the previous engine's commit);
    * the engine's commit now: DDL in the new file with its journal in memory, fsync of the
      tenants directory, then the rows in the shared file (two single-file commits);
    * the shared-file commit of the rows alone.
    """
    template = TemplateStatements(target)
    runner = RawSqlite(target)
    conn = runner.conn
    conn.execute("CREATE TABLE IF NOT EXISTS bench_floor_rows (u TEXT, o TEXT, PRIMARY KEY (u, o))")
    samples: dict[str, list[float]] = defaultdict(list)
    tenant_dir = target.db.settings.tenant_dir

    def rows(name: str) -> None:
        conn.executemany(
            "INSERT INTO bench_floor_rows VALUES (?, ?)",
            [(name, part) for part, _kind, _version in template.objects],
        )

    labels = {
        "a": "raw DDL, user file only, rollback journal (median ms)",
        "b": "raw DDL + 22 rows in the shared file, one two-file commit (median ms)",
        "c": "raw DDL in-memory journal, dir fsync, then 22 rows in the shared file (median ms)",
        "d": "22 rows in the shared file alone (median ms)",
    }
    try:
        for i in range(count):
            for label in labels:
                name = f"k{label}{target.present}x{i:04d}"
                start = time.perf_counter()
                if label != "d":
                    conn.execute("ATTACH DATABASE ? AS tenant", (str(target.db.tenant_file(name)),))
                    if label == "c":
                        conn.execute("PRAGMA tenant.journal_mode = MEMORY")
                    conn.execute("BEGIN")
                    for statement in template.statements(name):
                        conn.execute(statement)
                    if label == "b":
                        rows(name)
                    conn.execute("COMMIT")
                    if label == "c":
                        fd = os.open(tenant_dir, os.O_RDONLY)
                        os.fsync(fd)
                        os.close(fd)
                    conn.execute("DETACH DATABASE tenant")
                if label in ("c", "d"):
                    conn.execute("BEGIN")
                    rows(name)
                    conn.execute("COMMIT")
                samples[labels[label]].append(time.perf_counter() - start)
    finally:
        conn.execute("DROP TABLE IF EXISTS bench_floor_rows")
        runner.close()
    return {label: median_ms(values) for label, values in samples.items()}


def profile_engine(target: Target, count: int) -> dict[str, Any]:
    """Where ``provision`` spends its time, on two extra batches of new users.

    First batch: SQLAlchemy events time every statement by category, plus commits and pool
    checkouts (wall time outside statements and commits is Python). Second batch: cProfile,
    for the Python side (template build, DDL compilation, result handling).
    """
    engine = target.db.engine
    per_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    started: dict[int, float] = {}
    counters = {"checkouts": 0, "commits": 0, "commit_s": 0.0, "connects": 0}

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        spent = time.perf_counter() - started.pop(id(cursor), time.perf_counter())
        entry = per_kind[classify(statement)]
        entry[0] += 1
        entry[1] += spent

    def checkout(*args: Any) -> None:
        counters["checkouts"] += 1

    def connect(*args: Any) -> None:
        counters["connects"] += 1

    dialect = engine.dialect
    original_commit = dialect.do_commit

    def timed_commit(dbapi_connection: Any) -> None:
        start = time.perf_counter()
        try:
            original_commit(dbapi_connection)
        finally:
            counters["commits"] += 1
            counters["commit_s"] += time.perf_counter() - start

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    sa.event.listen(engine, "checkout", checkout)
    sa.event.listen(engine, "connect", connect)
    dialect.do_commit = timed_commit  # type: ignore[method-assign]
    # Table/Column/MetaData objects form reference cycles: only the cyclic GC frees them.
    gc_time = [0.0, 0.0]
    gc_started = [0.0]

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_started[0]
            gc_time[1] += 1

    gc.callbacks.append(on_gc)
    # The engine runs its compiled DDL on the driver's cursor, past SQLAlchemy's events; the
    # step hook (called just before and after each statement) times it instead.
    ddl = [0, 0.0]
    ddl_started = [0.0]

    def on_step(when: str, _step: Step) -> None:
        if when == "before":
            ddl_started[0] = time.perf_counter()
        else:
            ddl[0] += 1
            ddl[1] += time.perf_counter() - ddl_started[0]

    present = target.present
    names = [f"f{present}x{i:04d}" for i in range(count)]
    try:
        total = sum(time_engine(target, names, Provisioner(target.db, on_step=on_step)))
        per_kind["DDL (driver cursor, timed by the step hook)"] = [ddl[0], ddl[1]]
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        sa.event.remove(engine, "checkout", checkout)
        sa.event.remove(engine, "connect", connect)
        dialect.do_commit = original_commit  # type: ignore[method-assign]
        gc.callbacks.remove(on_gc)

    profiler = cProfile.Profile()
    names = [f"g{target.present}x{i:04d}" for i in range(count)]
    profiler.enable()
    time_engine(target, names)
    profiler.disable()
    stats = pstats.Stats(profiler)
    wanted = {
        ("plan.py", "cached_provision_steps"): "cached_provision_steps",
        ("engine.py", "_create_missing"): "_create_missing (the DDL loop)",
        ("catalog.py", "existing_objects"): "catalog check (existing_objects)",
        ("registry.py", "registered_objects"): "registry read (registered_objects)",
        ("registry.py", "register_objects"): "registry write (register_objects)",
        ("registry.py", "record_ready"): "registry record_ready",
        ("registry.py", "get_tenant"): "registry get_tenant (claim)",
        ("locks.py", "tenant_lock"): "tenant_lock (enter+exit)",
        ("locks.py", "lock_in_transaction"): "lock_in_transaction (PostgreSQL)",
        ("database.py", "attached"): "attach/detach (SQLite)",
        ("engine.py", "_sync_directory"): "fsync of the tenants directory (SQLite)",
        ("engine.py", "_provision_sqlite"): "_provision_sqlite (under the lock)",
        ("engine.py", "_provision_in_one_transaction"): "_provision_in_one_transaction",
        ("engine.py", "provision"): "provision (total)",
    }
    cumulative: dict[str, float] = {}
    raw_stats: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in raw_stats.items():
        key = (Path(filename).name, func)
        if key in wanted and "pathfinder" in filename:
            label = wanted[key]
            cumulative[label] = cumulative.get(label, 0.0) + ct
    top = sorted(raw_stats.items(), key=lambda item: item[1][2], reverse=True)[:15]
    top_self = [
        (f"{Path(f).parent.name}/{Path(f).name}:{func}", 1000 * tt / count)
        for (f, _l, func), (_cc, _nc, tt, _ct, _c) in top
    ]
    # The Python the engine runs per user before any SQL, timed without the profiler.
    # Medians: a cyclic-GC pass or outside load lands on single calls.
    parts: dict[str, list[float]] = defaultdict(list)
    for i in range(40):
        t0 = time.perf_counter()
        cached_provision_steps(
            f"h{i:04d}", LATEST_TEMPLATE_VERSION, schema=target.schema, dialect=target.dialect
        )
        t1 = time.perf_counter()
        parts["cached_provision_steps (the user's 22 statements), median"].append(t1 - t0)
    return {
        "python_parts_ms_per_user": {k: median_ms(v) for k, v in parts.items()},
        "gc_ms_per_user": 1000 * gc_time[0] / count,
        "gc_collections_per_user": gc_time[1] / count,
        "backend": target.backend,
        "present": present,
        "users": count,
        "wall_ms_per_user": 1000 * total / count,
        "statements": {k: (v[0] / count, 1000 * v[1] / count) for k, v in per_kind.items()},
        "commits_per_user": counters["commits"] / count,
        "commit_ms_per_user": 1000 * counters["commit_s"] / count,
        "checkouts_per_user": counters["checkouts"] / count,
        "new_connections": counters["connects"],
        "cprofile_cumulative_ms_per_user": {k: 1000 * v / count for k, v in cumulative.items()},
        "cprofile_top_self_ms_per_user": top_self,
        "phases_ms_median": replay_phases(target, count),
        "sqlite_commit_floor": sqlite_commit_floor(target, count) if target.db.is_sqlite else {},
    }


# -- report --------------------------------------------------------------------------------


def print_report(
    info: dict[str, str],
    sizes: list[SizeResult],
    migrations: list[MigrationResult],
    profiles: list[dict[str, Any]],
    shared: dict[str, str],
    elapsed: float,
) -> None:
    print("\n## Provisioning: engine vs raw DDL (one transaction per user)\n")
    print(
        "| backend | users present | batch | engine users/s | raw users/s | engine ms/user "
        "(median, p95) | raw ms/user (median) | engine/raw (of medians) | registry floor "
        "ms/user, median (x raw) | engine/floor | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in sizes:
        r = result.row()
        print(
            f"| {r['backend']} | {r['present']:,} | {r['batch']} | {r['engine_users_s']:.1f} | "
            f"{r['raw_users_s']:.1f} | {r['engine_ms']:.1f} ({r['engine_median_ms']:.1f}, "
            f"{r['engine_p95_ms']:.1f}) | {r['raw_ms']:.1f} ({r['raw_median_ms']:.1f}) | "
            f"{r['ratio']:.2f}x ({r['median_ratio']:.2f}x) | {r['floor_median_ms']:.1f} "
            f"({r['floor_median_ratio']:.2f}x) | {r['engine_over_floor']:.2f}x | {r['load']} |"
        )
    print("\nTargets: engine/raw <= 1.5x; PostgreSQL per-user time at 10,000 <= 1.25x of 100;")
    print("SQLite flat to 10,000.")
    by_backend: dict[str, list[SizeResult]] = defaultdict(list)
    for result in sizes:
        by_backend[result.backend].append(result)
    for backend, results in by_backend.items():
        if len(results) >= 2:
            first, last = results[0].row(), results[-1].row()
            print(
                f"- {backend}: engine per-user time at {last['present']:,} / at "
                f"{first['present']:,} = {last['engine_ms'] / first['engine_ms']:.2f}x "
                f"(raw: {last['raw_ms'] / first['raw_ms']:.2f}x)"
            )
    print("\nBatch users are interleaved engine, raw, floor, engine, raw, ... . Registry floor:")
    print("the same DDL plus the registry rows the engine writes, through the bare driver and")
    print("committed as the engine commits them (SQLite: the new user file with its journal in")
    print("memory, fsync of the tenants directory, then the rows in the shared file; PostgreSQL:")
    print("one transaction). No lock, no registry read, no SQLAlchemy.")
    print("\nPopulations: raw DDL per user (statements compiled for the engine's template and")
    print("re-targeted by name, checked equal to step.sql() on samples) plus the registry rows")
    print("the engine writes (pf_tenant_provisioning ready, pf_tenant_objects, user lock).")
    for result in sizes:
        print(
            f"- {result.backend} at {result.present:,}: +{result.prepopulated:,} users in "
            f"{result.prepopulate_seconds:.0f} s; {result.verify}"
        )
    for backend, text in shared.items():
        print(f"- {backend} shared schema: {text}")

    if migrations:
        print("\n## Migrations\n")
        print(
            "| backend | users | v1->v2 all users (s) | per user ms | raw per user ms | "
            "engine/raw | no-op migrate API (ms) | no-op CLI runner (ms) | no-op CLI process (s) "
            "| migrate_user on every user (s) | load during v1->v2 |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for m in migrations:
            print(
                f"| {m.backend} | {m.users:,} | {m.migrate_v1_v2_s:.1f} | "
                f"{m.migrate_v1_v2_per_user_ms:.1f} | {m.raw_v1_v2_per_user_ms:.1f} | "
                f"{m.migrate_v1_v2_per_user_ms / m.raw_v1_v2_per_user_ms:.2f}x | "
                f"{1000 * m.noop_api_s:.1f} | {1000 * m.noop_cli_runner_s:.1f} | "
                f"{m.noop_cli_subprocess_s:.2f} "
                f"| {m.noop_forced_s:.1f} | {m.load} |"
            )
        print("\n| backend | one-column ALTER via apply_steps, ms/user | + building the step |")
        print("|---|---:|---:|")
        for m in migrations:
            print(
                f"| {m.backend} | {m.column_engine_per_user_ms:.2f} (raw "
                f"{m.column_raw_per_user_ms:.2f}, "
                f"{m.column_engine_per_user_ms / m.column_raw_per_user_ms:.1f}x) | "
                f"{m.column_engine_build_ms:.2f} |"
            )
        for m in migrations:
            print(
                f"\n{m.backend} v1->v2 ({m.steps_per_user} statements per user; users at v1 "
                f"made with apply_steps in {m.populate_v1_s:.0f} s; raw figures on "
                f"{m.raw_users} raw-made users):"
            )
            for sql in m.statements_v1_v2:
                first_line = sql.splitlines()[0]
                print(f"    {first_line}{' ...' if len(sql.splitlines()) > 1 else ''}")

    for prof in profiles:
        print(
            f"\n## Profile: {prof['backend']}, {prof['users']} provisions at "
            f"{prof['present']:,} users ({prof['wall_ms_per_user']:.1f} ms/user wall)\n"
        )
        print("| statements by part | count/user | ms/user |")
        print("|---|---:|---:|")
        accounted = 0.0
        for kind, (n, ms) in sorted(prof["statements"].items(), key=lambda kv: -kv[1][1]):
            accounted += ms
            print(f"| {kind} | {n:.1f} | {ms:.2f} |")
        accounted += prof["commit_ms_per_user"]
        print(f"| COMMIT | {prof['commits_per_user']:.1f} | {prof['commit_ms_per_user']:.2f} |")
        print(
            f"| everything else (Python, ATTACH/DETACH, pool) | | "
            f"{prof['wall_ms_per_user'] - accounted:.2f} |"
        )
        print(
            f"\npool checkouts/user: {prof['checkouts_per_user']:.1f}; new connections: "
            f"{prof['new_connections']}"
        )
        print(
            f"\ncyclic GC during those provisions: {prof['gc_ms_per_user']:.2f} ms/user in "
            f"{prof['gc_collections_per_user']:.1f} collections/user"
        )
        print("\nPython per user, no profiler (same calls as provision makes):")
        for label, ms in prof["python_parts_ms_per_user"].items():
            print(f"    {ms:8.2f}  {label}")
        print("\ncProfile, cumulative ms/user (profiler overhead included):")
        for label, ms in sorted(
            prof["cprofile_cumulative_ms_per_user"].items(), key=lambda kv: -kv[1]
        ):
            print(f"    {ms:8.2f}  {label}")
        print("cProfile, top self time ms/user:")
        for label, ms in prof["cprofile_top_self_ms_per_user"]:
            print(f"    {ms:8.2f}  {label}")
        for operation, phases in prof["phases_ms_median"].items():
            print(f"\nPhase replay of {operation} (median ms per user, no profiler):")
            for label, ms in phases.items():
                print(f"    {ms:8.2f}  {label}")
        if prof["sqlite_commit_floor"]:
            print("\nSQLite commit floor (raw driver, no Python in the way):")
            for label, ms in prof["sqlite_commit_floor"].items():
                print(f"    {ms:8.2f}  {label}")
    print(f"\nTotal run time: {elapsed / 60:.1f} min")


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--sizes", help="populations, e.g. 100,1000,10000 (default)")
    parser.add_argument(
        "--pg-url", help="PostgreSQL server to use (needs CREATEDB); default: a throw-away cluster"
    )
    parser.add_argument("--quick", action="store_true", help="size 100, small batches (smoke run)")
    parser.add_argument("--batch", type=int, help="users per timed batch (default 200, quick 20)")
    parser.add_argument(
        "--migrate-users", type=int, help="users in the migration phase (1000; quick 50)"
    )
    parser.add_argument("--no-migrate", action="store_true", help="skip the migration phase")
    parser.add_argument(
        "--profile", action="store_true", help="profile the engine at the largest size"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="PostgreSQL pre-population connections"
    )
    parser.add_argument(
        "--budget-minutes", type=float, default=40.0, help="skip sizes that would overrun"
    )
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    deadline = started + 60 * args.budget_minutes
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = [100] if args.quick else list(FULL_SIZES)
    batch = args.batch or (20 if args.quick else 200)
    migrate_users = args.migrate_users or (50 if args.quick else 1000)
    raw_users = max(10, min(200, migrate_users // 5))
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]

    workdir = Path(tempfile.mkdtemp(prefix="pathfinder-bench."))
    atexit.register(shutil.rmtree, workdir, True)
    server: PgServer | None = None
    size_results: list[SizeResult] = []
    migrations: list[MigrationResult] = []
    profiles: list[dict[str, Any]] = []
    shared: dict[str, str] = {}
    targets: list[Target] = []
    try:
        if "postgresql" in backends:
            server = PgServer(args.pg_url)
        info = machine_info(server.version() if server else None)
        print("# Pathfinder provisioning benchmark\n")
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        for key, value in info.items():
            print(f"{key}: {value}")
        if server and server.cluster:
            settings = ", ".join(f"{k}={v}" for k, v in _pg.SERVER_SETTINGS.items())
            print(f"postgresql cluster: throw-away, {settings}")
        sys.stdout.flush()
        for backend in backends:

            def new_target(label: str, backend: str = backend) -> Target:
                instance = workdir / f"{backend}-{label}"
                if backend == "sqlite":
                    url = f"sqlite:///{instance / 'pathfinder.db'}"
                else:
                    assert server is not None
                    url = server.create_database(label)
                target = make_target(backend, url, instance)
                targets.append(target)
                return target

            main_target = new_target("main")
            shared[backend] = main_target.shared_schema
            size_results += measure_sizes(main_target, sizes, batch, args.workers, deadline)
            if args.profile:
                log(f"{backend}: profiling the engine at {main_target.present} users")
                profiles.append(profile_engine(main_target, 30 if args.quick else 100))
            main_target.db.dispose()
            if not args.no_migrate:
                migrate_target = new_target("migrate")
                migrations.append(measure_migrations(migrate_target, migrate_users, raw_users))
                migrate_target.db.dispose()
            if backend == "sqlite":
                shutil.rmtree(main_target.instance, ignore_errors=True)
    finally:
        for target in targets:
            with contextlib.suppress(Exception):
                target.db.dispose()
        if server is not None:
            server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print_report(info, size_results, migrations, profiles, shared, elapsed)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "sizes": [r.row() for r in size_results],
                    "migrations": [m.__dict__ for m in migrations],
                    "profiles": profiles,
                    "elapsed_s": elapsed,
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
