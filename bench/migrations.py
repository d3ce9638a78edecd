"""Template migrations: ``pathfinder tenants migrate`` against the same ALTERs, raw.

Run: ``.venv/bin/python bench/migrations.py [--backend sqlite|postgresql|all] [--users N]
[--repeats N] [--batch-size N] [--jobs N] [--pg-url URL] [--quick] [--json PATH]``.

Why this shape:

* The physical limit of a migration is its DDL, so each figure sets ``tenants migrate`` (the
  real command, through Flask's CLI runner: everything but the interpreter's start) against
  the *same* statements run through the bare driver on users made the same way, batched
  the most favourable way for the driver: on PostgreSQL one transaction per batch of the
  same size as the engine's, on SQLite one transaction per user file (the engine's own
  commit, since each user has a file). The engine's figure includes what raw does not do:
  locks, the registry read and update, the catalog check and the audit rows.
* Two changes: v1 -> v2 (a table, a column and two indexes per user) and v2 -> v3 (the
  ``row_version`` column on five tables: the "one-column" change the targets name).
* Every repeat is a fresh database with fresh users (a migration consumes its population),
  and raw and engine alternate within it, so a burst of outside load hits both; the ratio
  of each repeat is reported and the spread over the repeats shown. The load average is
  printed before and after each figure.

Nothing is written to the project's instance folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _server import machine_info
from _tenants import PgServer, RawPg, RawSqlite, Target, log, make_target, prepopulate

from pathfinder.provisioning.plan import migration_steps
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION

CHANGES = ((1, 2), (2, LATEST_TEMPLATE_VERSION))


def load() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


@dataclass
class Figure:
    """One timed migration of one population: engine or raw, one change."""

    backend: str
    repeat: int
    change: str
    side: str  # "engine" | "raw"
    users: int
    seconds: float
    load_before: str
    load_after: str

    @property
    def per_user_ms(self) -> float:
        return 1000 * self.seconds / self.users


@dataclass
class BackendResult:
    backend: str
    users: int
    batch_size: int
    jobs: int
    figures: list[Figure] = field(default_factory=list)
    noop_runner_s: list[float] = field(default_factory=list)
    noop_process_s: float = float("nan")
    statements: dict[str, list[str]] = field(default_factory=dict)

    def ratios(self, change: str) -> list[float]:
        out = []
        repeats = sorted({f.repeat for f in self.figures})
        for r in repeats:
            sides = {f.side: f for f in self.figures if f.repeat == r and f.change == change}
            if "engine" in sides and "raw" in sides:
                out.append(sides["engine"].seconds / sides["raw"].seconds)
        return out


# -- the raw side ------------------------------------------------------------------------


def raw_statements(
    target: Target, names: Sequence[str], start: int, end: int
) -> dict[str, list[str]]:
    """Each user's statements, compiled once for a template user and re-targeted by name
    (checked equal to ``migration_steps`` on samples), made before the clock starts."""
    template = [s.sql(target.dialect) for s in _steps(target, "tplbenchzz", start, end)]
    old = "pf_user_tplbenchzz_"
    out = {name: [sql.replace(old, f"pf_user_{name}_") for sql in template] for name in names}
    for name in {names[0], names[-1]}:
        if out[name] != [s.sql(target.dialect) for s in _steps(target, name, start, end)]:
            raise AssertionError(f"re-targeted statements differ for {name}")
    return out


def raw_migrate(
    target: Target, names: Sequence[str], statements: dict[str, list[str]], batch: int
) -> None:
    """The change's statements through the bare driver, no registry, no checks."""
    if target.db.is_sqlite:
        runner = RawSqlite(target)
        try:
            for name in names:  # one commit per user file, as the engine (and any tool) must
                runner.run_user(name, statements[name])
        finally:
            runner.close()
        return
    runner_pg = RawPg(target)
    try:
        for i in range(0, len(names), batch):
            with runner_pg.conn.transaction():
                for name in names[i : i + batch]:
                    for sql in statements[name]:
                        runner_pg.conn.execute(sql)
    finally:
        runner_pg.close()


def _steps(target: Target, name: str, start: int, end: int) -> list[Any]:
    return migration_steps(name, start, end, schema=target.schema)


# -- the engine side ---------------------------------------------------------------------


def cli_app(target: Target) -> Any:
    from pathfinder import create_app

    # Development secrets in the temp instance folder: the audit rows are real, signed rows.
    return create_app({"DATABASE_URL": target.url, "INSTANCE_PATH": str(target.instance)})


def engine_migrate(target: Target, end: int, batch: int, jobs: int, expect: int) -> float:
    """``tenants migrate --to END`` through the CLI runner; seconds; checks every user moved."""
    from pathfinder.db import get_database

    app = cli_app(target)
    runner = app.test_cli_runner()
    args = ["tenants", "migrate", "--to", str(end), "--batch-size", str(batch), "--jobs", str(jobs)]
    start = time.perf_counter()
    outcome = runner.invoke(args=args)
    seconds = time.perf_counter() - start
    get_database(app).dispose()
    if outcome.exit_code != 0 or f"migrated {expect:,} user(s)" not in outcome.output:
        raise RuntimeError(f"tenants migrate failed: {outcome.exit_code}\n{outcome.output}")
    return seconds


def noop_runner(target: Target) -> float:
    from pathfinder.db import get_database

    app = cli_app(target)
    runner = app.test_cli_runner()
    start = time.perf_counter()
    outcome = runner.invoke(args=["tenants", "migrate"])
    seconds = time.perf_counter() - start
    get_database(app).dispose()
    if "nothing to do" not in outcome.output:
        raise RuntimeError(f"no-op migrate did something: {outcome.output}")
    return seconds


def noop_process(target: Target) -> float:
    env = dict(os.environ)
    env.update(
        PATHFINDER_DATABASE_URL=target.url,
        PATHFINDER_INSTANCE_PATH=str(target.instance),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pathfinder.cli", "tenants", "migrate"],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "nothing to do" not in done.stdout:
        raise RuntimeError(f"no-op migrate failed: {done.stdout} {done.stderr}")
    return seconds


def timed(
    result: BackendResult, repeat: int, change: str, side: str, users: int, run: Callable[[], Any]
) -> Figure:
    before = load()
    start = time.perf_counter()
    value = run()
    seconds = value if isinstance(value, float) else time.perf_counter() - start
    figure = Figure(result.backend, repeat, change, side, users, seconds, before, load())
    result.figures.append(figure)
    log(f"  {change} {side}: {seconds:.2f} s ({figure.per_user_ms:.2f} ms/user)")
    return figure


# -- one back-end ------------------------------------------------------------------------


def run_backend(args: argparse.Namespace, backend: str, server: PgServer | None) -> BackendResult:
    result = BackendResult(backend, args.users, args.batch_size, args.jobs)
    workdir = Path(tempfile.mkdtemp(prefix="pathfinder-bench-migrate."))
    try:
        for repeat in range(1, args.repeats + 1):
            log(f"{backend}: repeat {repeat}/{args.repeats}, {args.users} + {args.users} users")
            instance = workdir / f"r{repeat}"
            if backend == "sqlite":
                url = f"sqlite:///{instance / 'pathfinder.db'}"
            else:
                assert server is not None
                url = server.create_database(f"mig{repeat}")
            target = make_target(backend, url, instance)
            engine_users = [f"e{repeat}u{i:06d}" for i in range(args.users)]
            raw_users = [f"r{repeat}u{i:06d}" for i in range(args.users)]
            prepopulate(target, engine_users, args.workers, version=1)
            prepopulate(target, raw_users, args.workers, version=1, register=False)
            for start, end in CHANGES:
                change = f"v{start}->v{end}"
                result.statements.setdefault(
                    change,
                    [s.sql(target.dialect) for s in _steps(target, "alice", start, end)],
                )
                # Alternate which side goes first, so neither always meets a warmer cache.
                order = ("raw", "engine") if (repeat + start) % 2 else ("engine", "raw")
                statements = raw_statements(target, raw_users, start, end)
                for side in order:
                    if side == "raw":
                        timed(
                            result,
                            repeat,
                            change,
                            "raw",
                            args.users,
                            lambda t=target, n=raw_users, st=statements: raw_migrate(
                                t, n, st, args.batch_size
                            ),
                        )
                    else:
                        timed(
                            result,
                            repeat,
                            change,
                            "engine",
                            args.users,
                            lambda t=target, e=end: engine_migrate(
                                t, e, args.batch_size, args.jobs, args.users
                            ),
                        )
            result.noop_runner_s.append(noop_runner(target))
            if repeat == args.repeats:
                with contextlib.suppress(Exception):
                    result.noop_process_s = noop_process(target)
            target.db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# -- report ------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"{min(values):.2f}-{max(values):.2f}x" if len(values) > 1 else f"{values[0]:.2f}x"


def print_report(results: list[BackendResult], command: str) -> None:
    print("# Template migrations: `tenants migrate` against raw ALTERs\n")
    print(f"Command: `{command}`\n")
    for key, value in machine_info().items():
        print(f"- {key}: {value}")
    print()
    for res in results:
        print(f"## {res.backend}\n")
        print(
            f"{res.users:,} users per side and repeat; batches of {res.batch_size} "
            f"(raw on PostgreSQL: one transaction per batch; on SQLite: one per user file); "
            f"--jobs {res.jobs}.\n"
        )
        print("| change | repeat | side | s | ms/user | load before -> after |")
        print("| --- | ---: | --- | ---: | ---: | --- |")
        for f in res.figures:
            print(
                f"| {f.change} | {f.repeat} | {f.side} | {f.seconds:.2f} | "
                f"{f.per_user_ms:.2f} | {f.load_before} -> {f.load_after} |"
            )
        print()
        print("| change | engine/raw per repeat | median | spread | target | met? |")
        print("| --- | --- | ---: | --- | --- | --- |")
        for start, end in CHANGES:
            change = f"v{start}->v{end}"
            ratios = res.ratios(change)
            median = statistics.median(ratios) if ratios else float("nan")
            met = "yes" if median <= 1.5 else "no"
            per = ", ".join(f"{r:.2f}x" for r in ratios)
            print(f"| {change} | {per} | {median:.2f}x | {spread(ratios)} | <= 1.5x | {met} |")
        noop = min(res.noop_runner_s) if res.noop_runner_s else float("nan")
        print()
        print(
            f"No-op `tenants migrate` (every user at v{LATEST_TEMPLATE_VERSION}): "
            f"{1000 * noop:.1f} ms through the CLI runner; {res.noop_process_s:.2f} s as a "
            "process (interpreter start included)."
        )
        print()
        for change, statements in res.statements.items():
            print(f"Statements per user, {change} (for user `alice`):\n")
            print("```sql")
            for sql in statements:
                print(sql.strip() + ";")
            print("```\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="PostgreSQL population workers")
    parser.add_argument("--pg-url", help="existing server (role with CREATEDB)")
    parser.add_argument("--quick", action="store_true", help="200 users, 3 repeats")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if args.quick:
        args.users = min(args.users, 200)
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    server = PgServer(args.pg_url) if "postgresql" in backends else None
    results = []
    try:
        for backend in backends:
            results.append(run_backend(args, backend, server))
    finally:
        if server is not None:
            server.close()
    print_report(results, " ".join([".venv/bin/python bench/migrations.py", *sys.argv[1:]]))
    if args.json:
        payload = [
            {
                **{k: v for k, v in asdict(r).items() if k != "figures"},
                "figures": [asdict(f) | {"per_user_ms": f.per_user_ms} for f in r.figures],
                "ratios": {f"v{s}->v{e}": r.ratios(f"v{s}->v{e}") for s, e in CHANGES},
            }
            for r in results
        ]
        args.json.write_text(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    main()
