"""Process memory while one process touches 10,000 provisioned users' tables.

Run: ``.venv/bin/python bench/memory.py [--users 10000] [--jobs 2]
[--backend sqlite|postgresql] [--pg-url URL] [--keep DIR | --reuse DIR] [--passes N] [--quick]``.

Why this shape:

* Every user has tables of their own, so a long-lived worker that serves many users could
  grow without bound: one set of ``Table`` objects per user (about 3,000 Python objects,
  785 KiB each), one compiled statement per user and query in SQLAlchemy's cache, and one
  quoted name per table and index in the dialect's identifier memo, which is never
  trimmed. The first version of this script measured 4.44x after 10,000 users with a
  256-user LRU of Table objects. The app now keeps one shared set of Table objects per
  template version, and each connection puts its user's name into the SQL text
  (``pathfinder/db/tenant_names.py``). The script checks that the bound holds in
  practice: RSS after touching every user must stay within 1.2x of RSS before.
* "Touching" a user is what a request on the user's data does to the process: resolve the
  user's tables through ``Database.tables_for`` (the shared templates), open
  ``tenant_transaction`` (on SQLite, attach the user's own file) and run one ``SELECT ...
  LIMIT 1`` on **every** table of the user, which compiles a statement per table and user.
  That is more statement-cache pressure per user than any single request makes.
* ``--passes 2`` touches everyone again after all were evicted once, to show a plateau.
* "Before" is RSS after the app is built and the first user has been touched (imports,
  pools and first compilations done: a warm worker). RSS is also printed at checkpoints
  (after the cache has filled, then every few thousand users) so growth, if any, shows its
  shape. ``gc.collect()`` runs before each reading so a pending collection does not decide
  the figure.
* Users are provisioned by the real engine (``Provisioner.provision``), in ``--jobs``
  separate processes so the measured process never held provisioning state. On SQLite
  10,000 users take about 1.5 minutes to provision with 2 jobs and 10-20 minutes to touch
  on 2 busy CPUs; progress goes to stderr. ``--keep DIR``
  keeps the population and ``--reuse DIR`` measures an existing one without provisioning.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _server import log, postgres_database, print_machine, rss_kib

TARGET_RATIO = 1.2


def username(n: int) -> str:
    return f"mem_{n:06d}"


def settings_for(url: str, instance: Path) -> dict[str, Any]:
    return {"DATABASE_URL": url, "INSTANCE_PATH": str(instance)}


def provision_range(config: dict[str, Any], first: int, last: int, job: int) -> float:
    """Provision users ``first..last-1`` with the real engine; returns the seconds taken."""
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.provisioning.engine import Provisioner

    app = create_app(config)
    database = get_database(app)
    provisioner = Provisioner(database)
    start = time.perf_counter()
    try:
        for n in range(first, last):
            provisioner.provision(username(n))
            done = n - first + 1
            if done % 500 == 0:
                rate = done / (time.perf_counter() - start)
                log(f"  job {job}: {done}/{last - first} users provisioned ({rate:.0f}/s)")
    finally:
        database.dispose()
    return time.perf_counter() - start


def provision_all(config: dict[str, Any], users: int, jobs: int) -> float:
    """``db init``, then provision ``users`` users in ``jobs`` processes; wall seconds."""
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.db.setup import init_database

    app = create_app(config)
    database = get_database(app)
    init_database(database)
    database.dispose()
    bounds = [users * j // jobs for j in range(jobs + 1)]
    start = time.perf_counter()
    # spawn: the children start clean and the measuring process stays untouched by them.
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs) as pool:
        pool.starmap(
            provision_range,
            [(config, bounds[j], bounds[j + 1], j + 1) for j in range(jobs)],
        )
    return time.perf_counter() - start


def touch_all(config: dict[str, Any], users: int, passes: int) -> dict[str, Any]:
    """Build the app, touch every user, and read RSS at checkpoints (in this process)."""
    from pathfinder import create_app
    from pathfinder.db import get_database

    app = create_app(config)
    database = get_database(app)
    # Checkpoints where the old 256-user LRU filled and turned over, kept for comparison.
    cache_size = 256

    def touch(n: int) -> None:
        with database.tenant_transaction(username(n)) as (conn, tables):
            for table in tables.tables.values():
                conn.execute(sa.select(table).limit(1)).all()

    def reading() -> int:
        gc.collect()
        return rss_kib()

    checkpoints = sorted(
        {1, min(cache_size, users), min(2 * cache_size, users), users}
        | {k for k in range(1000, users, max(1000, users // 5))}
    )
    readings: list[tuple[int, int, float]] = []
    start = time.perf_counter()
    touched = 0
    for checkpoint in checkpoints:
        while touched < checkpoint:
            touch(touched)
            touched += 1
        readings.append((touched, reading(), time.perf_counter() - start))
        log(f"  {touched} users touched, RSS {readings[-1][1] / 1024:.1f} MiB")
    extra: list[int] = []
    for _ in range(passes - 1):
        # Every user again, each evicted from the cache at least once by now.
        for n in range(users):
            touch(n)
        extra.append(reading())
        log(f"  another pass over {users} users, RSS {extra[-1] / 1024:.1f} MiB")
    info = database.tables_cache_info()
    statement_cache = database.engine._compiled_cache  # a figure, not a use
    database.dispose()
    return {
        "readings": readings,
        "later_passes": extra,
        "cache_size": cache_size,
        "cache_info": info,
        "statement_cache": len(statement_cache) if statement_cache is not None else "off",
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2, help="provisioning processes")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", help="PostgreSQL server (role with CREATEDB) to use")
    parser.add_argument("--keep", type=Path, help="provision into DIR and keep it")
    parser.add_argument("--reuse", type=Path, help="measure the SQLite population in DIR")
    parser.add_argument("--passes", type=int, default=1, help="times every user is touched")
    parser.add_argument("--quick", action="store_true", help="1,000 users")
    args = parser.parse_args()
    if args.quick:
        args.users = 1_000
    with ExitStack() as stack:
        if args.backend == "postgresql":
            url, description = stack.enter_context(postgres_database(args.pg_url, "mem"))
            root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-mem."))
            stack.callback(shutil.rmtree, root, True)
        else:
            root = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="pathfinder-bench-mem."))
            if not (args.reuse or args.keep):
                stack.callback(shutil.rmtree, root, True)
            url = f"sqlite:///{root / 'instance' / 'pathfinder.db'}"
            description = "SQLite, shared file + one file per user (temp dir)"
        config = settings_for(url, root / "instance")
        provision_seconds = None
        if args.reuse is None:
            log(f"provisioning {args.users} users in {args.jobs} processes")
            provision_seconds = provision_all(config, args.users, args.jobs)
        log("touching every user's tables")
        result = touch_all(config, args.users, args.passes)
        print_report(args, description, provision_seconds, result)
    before = result["readings"][0][1]
    after = max([result["readings"][-1][1], *result["later_passes"]])
    sys.exit(0 if after <= TARGET_RATIO * before else 1)


def print_report(
    args: argparse.Namespace,
    description: str,
    provision_seconds: float | None,
    result: dict[str, Any],
) -> None:
    print("## Memory while touching many users' tables\n")
    print_machine(f".venv/bin/python bench/memory.py {' '.join(sys.argv[1:])}".strip())
    print(f"- database: {description}")
    if provision_seconds is not None:
        print(
            f"- provisioned {args.users} users with the engine in {provision_seconds:.0f} s "
            f"({args.jobs} processes, {args.users / provision_seconds:.0f} users/s)"
        )
    print(f"- shared Table-object templates: {result['cache_info']}")
    print(f"- SQLAlchemy compiled-statement cache entries at the end: {result['statement_cache']}")
    print(f"- touch time: {result['seconds']:.1f} s for {args.passes} pass(es)\n")
    readings = result["readings"]
    before = readings[0][1]
    print("| users touched | RSS MiB | x before | s |")
    print("| ---: | ---: | ---: | ---: |")
    for touched, rss, seconds in readings:
        print(f"| {touched:,} | {rss / 1024:.1f} | {rss / before:.2f} | {seconds:.1f} |")
    for n, rss in enumerate(result["later_passes"], start=2):
        print(f"| {args.users:,} again (pass {n}) | {rss / 1024:.1f} | {rss / before:.2f} | |")
    after = max([readings[-1][1], *result["later_passes"]])
    verdict = "met" if after <= TARGET_RATIO * before else "**missed**"
    print(
        f"\nRSS after / before: {after / before:.2f}x (target <= {TARGET_RATIO}x): {verdict}. "
        f"Process {os.getpid()}."
    )


if __name__ == "__main__":
    main()
