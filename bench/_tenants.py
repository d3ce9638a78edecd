"""Populations of users for the tenant benchmarks: databases, raw DDL, registry rows.

Shared by ``provisioning.py``, ``migrations.py``, ``backend_memory.py`` and ``scale.py``:
each needs thousands of users made by the fastest correct route (the engine's own
statements, compiled once and re-targeted by name, run through the bare driver, plus the
registry rows the engine would have written), and the same bare-driver runner as the
physical limit its figures are set against.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _pg
import sqlalchemy as sa

from pathfinder.config import database_settings
from pathfinder.db.database import Database
from pathfinder.db.setup import init_database
from pathfinder.provisioning import registry
from pathfinder.provisioning.plan import provision_steps
from pathfinder.provisioning.verify import verify_user
from pathfinder.schema.naming import TENANT_PREFIX
from pathfinder.schema.shared.system import (
    metadata as system_metadata,
)
from pathfinder.schema.shared.system import (
    schema_meta,
    template_versions,
    tenant_locks,
    tenant_objects,
    tenant_provisioning,
)
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables

# Users the template-compiled statements are built for; replaced by the real name per user.
TEMPLATE_USER = "tplbenchzz"
# The five tables the engine itself reads and writes; created alone if init_database fails.
ENGINE_TABLES = (schema_meta, template_versions, tenant_provisioning, tenant_locks, tenant_objects)


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


class Progress:
    """A counter on stderr for long phases: one line every few seconds, with rate and ETA."""

    def __init__(self, label: str, total: int, every: float = 5.0) -> None:
        self.label, self.total, self.every = label, total, every
        self.start = self.last = time.perf_counter()
        self.done = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0.0
            log(f"  {self.label}: {self.done}/{self.total} ({rate:.0f}/s, ETA {eta:.0f} s)")


@dataclass
class Target:
    """One database the benchmark works in: the engine's handle plus what raw access needs."""

    backend: str
    url: str
    instance: Path
    db: Database
    shared_schema: str
    present: int = 0  # ready users in the registry

    @property
    def dialect(self) -> sa.Dialect:
        return self.db.engine.dialect

    @property
    def schema(self) -> str | None:
        return self.db.tenant_schema


def make_target(backend: str, url: str, instance: Path) -> Target:
    """Create the database's shared tables the way ``pathfinder db init`` does.

    If ``init_database`` fails (the shared schema is other people's work in progress), only
    the engine's own five tables are created and the report says so: provisioning touches
    nothing else, so its figures are unaffected.
    """
    instance.mkdir(parents=True, exist_ok=True)
    db = Database(database_settings({"DATABASE_URL": url, "INSTANCE_PATH": str(instance)}))
    try:
        init_database(db)
        shared = "full shared schema (init_database)"
    except sa.exc.SQLAlchemyError as exc:
        first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        log(f"  WARNING: init_database failed ({first}); creating the engine's tables only")
        db.dispose()
        with db.transaction() as conn:
            system_metadata.create_all(conn, tables=list(ENGINE_TABLES), checkfirst=True)
        shared = f"engine tables only (init_database failed: {first[:120]})"
    return Target(backend, url, instance, db, shared)


class PgServer:
    """The PostgreSQL server the run uses: a throw-away cluster, or ``--pg-url``'s server.

    Each phase gets a fresh database (``CREATE DATABASE``), dropped again at exit, so a run
    never sees a previous run's tables and never leaves tables behind.
    """

    def __init__(self, pg_url: str | None) -> None:
        self.cluster: _pg.TempCluster | None = None
        if pg_url is None:
            log("starting a throw-away PostgreSQL cluster ...")
            self.cluster = _pg.start_cluster()
            pg_url = self.cluster.url("postgres")
            log(f"  cluster on 127.0.0.1:{self.cluster.port} in {self.cluster.root}")
        self.admin_url = sa.engine.make_url(pg_url)
        self.created: list[str] = []
        atexit.register(self.close)

    def conninfo(self, database: str) -> str:
        url = self.admin_url.set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    def sqlalchemy_url(self, database: str) -> str:
        url = self.admin_url.set(drivername="postgresql+psycopg", database=database)
        return url.render_as_string(hide_password=False)

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            self.conninfo(self.admin_url.database or "postgres"), autocommit=True
        )

    def version(self) -> str:
        with self._admin() as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def create_database(self, label: str) -> str:
        name = f"pf_bench_{os.getpid()}_{label}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.sqlalchemy_url(name)

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()  # the whole cluster goes, databases included
            self.cluster = None
            self.created.clear()
            return
        with contextlib.suppress(Exception), self._admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


class RawRunner:
    """Runs a user's statements through the bare driver, one transaction per user."""

    def run_user(self, username: str, statements: Sequence[str]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class RawSqlite(RawRunner):
    """sqlite3 on the shared file, the user's file attached as ``tenant`` like the engine does.

    Same pragmas as the engine's connections (rollback journal, foreign keys, default
    synchronous), so the only difference left is the engine's own work. Like the engine, a
    brand-new user file commits its DDL with the journal in memory (a file that holds
    nothing yet has nothing to roll back to); an existing file (a migration) keeps the
    rollback journal. The raw baseline used to journal new files on disk, which made it
    slower than the engine's own commit and flattered the ratio (1.69x against 2.33x).
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        main = sa.engine.make_url(target.url).database
        assert main
        self.conn = sqlite3.connect(main, isolation_level=None, timeout=30, check_same_thread=False)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA journal_mode = DELETE")
        target.db.settings.tenant_dir.mkdir(parents=True, exist_ok=True)

    def run_user(self, username: str, statements: Sequence[str]) -> None:
        file = self.target.db.tenant_file(username)
        new = not file.exists() or file.stat().st_size == 0
        self.conn.execute("ATTACH DATABASE ? AS tenant", (str(file),))
        try:
            if new:
                self.conn.execute("PRAGMA tenant.journal_mode = MEMORY")
            self.conn.execute("BEGIN")
            for sql in statements:
                self.conn.execute(sql)
            self.conn.execute("COMMIT")
        finally:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.execute("DETACH DATABASE tenant")

    def close(self) -> None:
        self.conn.close()


class RawPg(RawRunner):
    """psycopg 3 on one connection; each user's statements in one transaction."""

    def __init__(self, target: Target) -> None:
        import psycopg

        url = sa.engine.make_url(target.url).set(drivername="postgresql")
        self.conn = psycopg.connect(url.render_as_string(hide_password=False))

    def run_user(self, username: str, statements: Sequence[str]) -> None:
        with self.conn.transaction():
            for sql in statements:
                self.conn.execute(sql)  # no parameters: the text goes to the server as is

    def close(self) -> None:
        self.conn.close()


def raw_runner(target: Target) -> RawRunner:
    return RawSqlite(target) if target.backend == "sqlite" else RawPg(target)


def exact_statements(
    target: Target, username: str, version: int = LATEST_TEMPLATE_VERSION
) -> list[str]:
    """The statements the engine would run for a new user, compiled for this database."""
    steps = provision_steps(tenant_tables(username, version, schema=target.schema))
    return [step.sql(target.dialect) for step in steps]


class TemplateStatements:
    """A user's DDL compiled once for a template name and re-targeted by substitution.

    Compiling ~22 statements costs several ms per user in SQLAlchemy; for populations of
    10,000 that is set-up time with nothing to learn from. Every physical name is
    ``pf_user_<username>_<part>``, so replacing that prefix gives exactly the statements
    the engine compiles; :meth:`check` proves it for sampled users.
    """

    def __init__(self, target: Target, version: int = LATEST_TEMPLATE_VERSION) -> None:
        self.target, self.version = target, version
        steps = provision_steps(tenant_tables(TEMPLATE_USER, version, schema=target.schema))
        self.sql = [step.sql(target.dialect) for step in steps]
        self.prefix = f"{TENANT_PREFIX}{TEMPLATE_USER}_"
        for sql in self.sql:
            if sql.count(TEMPLATE_USER) != sql.count(self.prefix):
                raise AssertionError(f"template name outside an object name: {sql[:80]}")
        # (template part, kind, version) of each object the engine registers.
        self.objects = [
            (step.template_part, step.kind, step.version) for step in steps if step.registers_object
        ]

    def statements(self, username: str) -> list[str]:
        new = f"{TENANT_PREFIX}{username}_"
        return [sql.replace(self.prefix, new) for sql in self.sql]

    def check(self, username: str) -> None:
        if self.statements(username) != exact_statements(self.target, username, self.version):
            raise AssertionError(f"substituted DDL differs from the engine's for {username}")


def register_ready(target: Target, usernames: Sequence[str], template: TemplateStatements) -> None:
    """Write the registry rows the engine writes for a provisioned user, in bulk.

    ``pf_tenant_provisioning`` (ready, template version, one attempt), one
    ``pf_tenant_objects`` row per table/index/view, and the user's lock (a
    ``pf_tenant_locks`` row on PostgreSQL, a lock file on SQLite), so the engine finds the
    registry exactly as if it had provisioned these users itself.
    """
    if not usernames:
        return
    now = registry.utcnow()
    with target.db.transaction() as conn:
        conn.execute(
            tenant_provisioning.insert(),
            [
                {
                    "username": name,
                    "state": "ready",
                    "template_version": template.version,
                    "attempts": 1,
                    "last_error": None,
                    "requested_at": now,
                    "updated_at": now,
                    "ready_at": now,
                }
                for name in usernames
            ],
        )
        conn.execute(
            tenant_objects.insert(),
            [
                {
                    "username": name,
                    "object_name": f"{TENANT_PREFIX}{name}_{part}",
                    "object_type": kind,
                    "template_part": part,
                    "template_version": version,
                    "created_at": now,
                }
                for name in usernames
                for part, kind, version in template.objects
            ],
        )
        if not target.db.is_sqlite:
            conn.execute(tenant_locks.insert(), [{"username": name} for name in usernames])
    if target.db.is_sqlite:
        for name in usernames:
            (target.db.settings.tenant_dir / f"{name}.lock").touch()
    target.present += len(usernames)


def prepopulate(
    target: Target,
    names: Sequence[str],
    workers: int,
    version: int = LATEST_TEMPLATE_VERSION,
    *,
    register: bool = True,
    chunk: int = 500,
) -> float:
    """Create ``names`` by raw DDL plus registry rows; return seconds taken.

    On PostgreSQL ``workers`` connections run users in parallel (the server does the work;
    on a 2-core machine two backends roughly double the rate). SQLite has one writer.
    ``register=False`` makes users the engine does not know (a raw baseline's).
    """
    if not names:
        return 0.0
    template = TemplateStatements(target, version)
    for sample in {names[0], names[len(names) // 2], names[-1]}:
        template.check(sample)
    start = time.perf_counter()
    progress = Progress(f"{target.backend}: pre-populating (raw DDL + registry rows)", len(names))
    local = threading.local()
    runners: list[RawRunner] = []
    lock = threading.Lock()

    def one(name: str) -> None:
        runner = getattr(local, "runner", None)
        if runner is None:
            runner = local.runner = raw_runner(target)
            with lock:
                runners.append(runner)
        runner.run_user(name, template.statements(name))

    workers = 1 if target.db.is_sqlite else max(1, workers)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i in range(0, len(names), chunk):
                part = list(names[i : i + chunk])
                list(pool.map(one, part))
                if register:
                    register_ready(target, part, template)
                progress.step(len(part))
    finally:
        for runner in runners:
            runner.close()
    return time.perf_counter() - start


def verify_sample(target: Target, names: Sequence[str], reference: str | None) -> str:
    """``verify_user`` on a few pre-populated users, compared with an engine-made user.

    Returns a one-line verdict. The comparison is against the engine's own result (not
    "clean") so a verify quirk shared by both does not read as a population error.
    """
    if not names:
        return "no pre-populated users"
    sample = sorted({names[0], names[len(names) // 2], names[-1]})
    findings = {name: verify_user(target.db, name).lines() for name in sample}
    ref_lines = verify_user(target.db, reference).lines() if reference else []

    def generic(lines: list[str], name: str) -> list[str]:
        return [line.replace(name, "<user>") for line in lines]

    ref = generic(ref_lines, reference) if reference else []
    same = all(generic(lines, name) == ref for name, lines in findings.items())
    state = "clean" if not ref else f"{len(ref)} finding(s), the same as an engine-made user"
    if same:
        return f"verify_user on {len(sample)} pre-populated users: {state}"
    details = "; ".join(f"{n}: {lines[:3]}" for n, lines in findings.items())
    return f"verify_user MISMATCH vs engine-made user: {details}"


def loadavg() -> str:
    """1-minute load average: other work on the machine shows up in every figure."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"
