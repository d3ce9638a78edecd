"""PostgreSQL backend memory as one connection touches more and more users' tables.

Run: ``.venv/bin/python bench/backend_memory.py [--pg-url URL] [--users 10000]
[--checkpoints 100,1000,10000] [--max-uses N]``.

Why this shape:

* A PostgreSQL backend keeps a relation-cache and catalog-cache entry for every table and
  index it has opened, for as long as the session lives (PostgreSQL never evicts them), and
  with per-user tables a pooled connection serving many users opens thousands. The app's
  own memory was bounded by sharing Table objects (``bench/memory.py``); this measures the
  server side.
* One connection, bound to each user in turn as a request would be (``Database.attached``),
  runs a ``SELECT ... LIMIT 1`` on each of the user's ten tables. At each checkpoint the
  backend reports its own memory contexts (``pg_backend_memory_contexts``: the total, and
  ``CacheMemoryContext``, where relation and catalog entries live) and the kernel its
  private resident memory (``RssAnon`` of the backend process: shared buffers excluded).
* The same walk is then repeated through the app's pool with ``DB_POOL_MAX_USES`` (a
  checkout per user, as a request takes one), which replaces the connection after that
  many checkouts: the curve of the bound.
* The population comes from ``--pg-url``'s database when it holds enough ready users (the
  100,000-user database of ``bench/scale.py``, for instance); otherwise the script makes a
  database of its own (a throw-away cluster, or ``pf_bench_*`` on ``--pg-url``'s server)
  and fills it by the fast route of ``bench/_tenants.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _server import machine_info
from _tenants import PgServer, Target, log, make_target, prepopulate

from pathfinder.config import database_settings
from pathfinder.db.database import Database
from pathfinder.schema.shared.system import tenant_provisioning

MIB = 1024 * 1024


def backend_memory(conn: sa.Connection) -> dict[str, float]:
    """The backend's own view (memory contexts) and the kernel's (private RSS), in MiB."""
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    total, cache = conn.exec_driver_sql(
        "SELECT sum(total_bytes), sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext' "
        "OR parent = 'CacheMemoryContext') FROM pg_backend_memory_contexts"
    ).one()
    rss_anon = float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                rss_anon = int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass  # another host, or no permission: the contexts still tell
    return {
        "contexts": float(total) / MIB,
        "cache": float(cache or 0) / MIB,
        "rss_anon": rss_anon,
    }


def touch(conn: sa.Connection, db: Database, username: str) -> None:
    """What a request does to a user's tables, at least: open each one."""
    tables = db.tables_for(username)
    with db.attached(conn, username), conn.begin():
        for table in tables.tables.values():
            conn.execute(sa.select(table).limit(1)).first()


def ready_users(target: Target, limit: int) -> list[str]:
    with target.db.transaction() as conn:
        query = (
            sa.select(tenant_provisioning.c.username)
            .where(
                tenant_provisioning.c.state == "ready",
                tenant_provisioning.c.template_version == 3,
            )
            .order_by(tenant_provisioning.c.username)
            .limit(limit)
        )
        return list(conn.execute(query).scalars())


def walk_one_connection(target: Target, names: list[str], checkpoints: list[int]) -> list[dict]:
    rows = []
    with target.db.engine.connect() as conn:
        rows.append({"touched": 0, **backend_memory(conn)})
        conn.rollback()
        for n, name in enumerate(names, start=1):
            touch(conn, target.db, name)
            if n in checkpoints:
                rows.append({"touched": n, **backend_memory(conn)})
                conn.rollback()
                log(f"  one connection: {rows[-1]}")
    return rows


def walk_pool(url: str, names: list[str], checkpoints: list[int], max_uses: int) -> list[dict]:
    settings = database_settings(
        {"DATABASE_URL": url, "INSTANCE_PATH": tempfile.mkdtemp(), "DB_POOL_MAX_USES": max_uses}
    )
    db = Database(settings)
    rows = []
    try:
        for n, name in enumerate(names, start=1):
            with db.engine.connect() as conn:  # a checkout per user, as a request takes one
                touch(conn, db, name)
                if n in checkpoints:
                    rows.append({"touched": n, **backend_memory(conn)})
                    conn.rollback()
                    log(f"  pool, max uses {max_uses}: {rows[-1]}")
    finally:
        db.dispose()
    return rows


def print_table(title: str, rows: list[dict[str, Any]], base_at: int) -> None:
    print(f"### {title}\n")
    print(
        "| users touched | contexts MiB | CacheMemoryContext MiB | RssAnon MiB | x at "
        f"{base_at:,} |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    base = next((r for r in rows if r["touched"] == base_at), rows[0])
    for r in rows:
        ratio = r["contexts"] / base["contexts"] if base["contexts"] else float("nan")
        print(
            f"| {r['touched']:,} | {r['contexts']:.1f} | {r['cache']:.1f} | "
            f"{r['rss_anon']:.1f} | {ratio:.2f}x |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help="a database with ready v3 users, or a server")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--checkpoints", default="100,1000,2500,5000,10000")
    parser.add_argument("--max-uses", type=int, default=250)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1,000 users")
    args = parser.parse_args()
    if args.quick:
        args.users, args.checkpoints = 1000, "100,500,1000"
    checkpoints = sorted(int(c) for c in args.checkpoints.split(",") if int(c) <= args.users)
    server: PgServer | None = None
    instance = Path(tempfile.mkdtemp(prefix="pathfinder-bench-backend."))
    target = None
    if args.pg_url:
        target = make_target("postgresql", args.pg_url, instance)
        if len(ready_users(target, args.users)) < args.users:
            target.db.dispose()
            target = None
    if target is None:
        server = PgServer(args.pg_url.rsplit("/", 1)[0] + "/postgres" if args.pg_url else None)
        target = make_target("postgresql", server.create_database("backend"), instance)
        names = [f"m{i:06d}" for i in range(args.users)]
        log(f"populating {args.users:,} users")
        prepopulate(target, names, args.workers)
    names = ready_users(target, args.users)
    try:
        log(f"one connection over {len(names):,} users")
        plain = walk_one_connection(target, names, checkpoints)
        log(f"a pool replacing connections after {args.max_uses} checkouts")
        bounded = walk_pool(target.url, names, checkpoints, args.max_uses)
    finally:
        target.db.dispose()
        if server is not None:
            server.close()
    print("## PostgreSQL backend memory per connection\n")
    print(f"Command: `.venv/bin/python bench/backend_memory.py {' '.join(sys.argv[1:])}`\n")
    for key, value in machine_info().items():
        print(f"- {key}: {value}")
    print()
    base_at = 1000 if 1000 in checkpoints else checkpoints[0]
    print_table("One connection, never replaced", plain, base_at)
    print_table(f"Pool with DB_POOL_MAX_USES={args.max_uses}", bounded, base_at)
    first = next((r for r in plain if r["touched"] == base_at), plain[0])
    last = plain[-1]
    if last["touched"] > first["touched"]:
        per_user = (
            (last["contexts"] - first["contexts"]) * MIB / (last["touched"] - first["touched"])
        )
        print(
            f"Growth of one connection: {per_user / 1024:.1f} KiB of backend memory per user "
            f"touched (ten tables and their indexes) between {first['touched']:,} and "
            f"{last['touched']:,} users; {last['contexts'] / first['contexts']:.2f}x "
            f"(target <= 1.2x).\n"
        )
    b_first = next((r for r in bounded if r["touched"] == base_at), bounded[0])
    b_last = bounded[-1]
    print(
        f"With DB_POOL_MAX_USES={args.max_uses}: {b_last['contexts'] / b_first['contexts']:.2f}x "
        f"from {b_first['touched']:,} to {b_last['touched']:,} users (target <= 1.2x)."
    )


if __name__ == "__main__":
    main()
