"""career_summary: a plain view against the seed's per-user materialized view (PostgreSQL).

Run: ``.venv/bin/python bench/career_summary.py [--experiences N] [--users N]
[--iterations N] [--pg-url URL]``.

The seed design made ``career_summary`` a materialized view per user. This measures what
that would buy and cost on PostgreSQL, with the template's own Table objects and view:

* **read**: ``SELECT * FROM <view>`` against ``SELECT * FROM <materialized view>`` for one
  user with ``--experiences`` roles (p50/p95 of ``--iterations`` reads, round-robin);
* **refresh**: ``REFRESH MATERIALIZED VIEW`` of one user, which a per-user MV needs after
  every change to experiences (or it is stale), and the time for ``--users`` such users in
  one summaries run;
* **objects**: an MV is one more object per user in the catalog (on Oracle a segment and
  a refresh group too), counted against each database's limits in docs/operations.md.

PostgreSQL: ``--pg-url``, else ``PATHFINDER_TEST_PG_URL`` (a fresh schema, dropped at
exit), else a throw-away cluster (``bench/_pg.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pathfinder.ids import new_id  # noqa: E402
from pathfinder.schema.ddl import CreateView  # noqa: E402
from pathfinder.schema.tenant import tenant_tables  # noqa: E402


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def _experiences(count: int) -> list[dict[str, object]]:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for n in range(count):
        start = dt.date(2000, 1, 1) + dt.timedelta(days=120 * n)
        rows.append(
            {
                "id": new_id(),
                "title": f"Role {n}",
                "company": f"Company {n % 7}",
                "employment_type": "full_time",
                "start_date": start,
                "end_date": start + dt.timedelta(days=100),
                "is_current": False,
                "created_at": now,
                "updated_at": now,
                "row_version": 1,
            }
        )
    return rows


def run(url: str, experiences: int, users: int, iterations: int) -> None:
    engine = sa.create_engine(url)
    tables = tenant_tables("bench_summary")
    view = tables.views["career_summary"]
    mv_name = f"{view.name}_mv"
    body = view.select.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    with engine.begin() as conn:
        tables.metadata.create_all(conn)
        conn.execute(CreateView(view.name, view.select, None))
        conn.execute(tables.experiences.insert(), _experiences(experiences))
        conn.exec_driver_sql(f"CREATE MATERIALIZED VIEW {mv_name} AS {body}")  # noqa: S608
    read_view = sa.text(f"SELECT * FROM {view.name}")  # noqa: S608 - a validated name
    read_mv = sa.text(f"SELECT * FROM {mv_name}")  # noqa: S608
    refresh = sa.text(f"REFRESH MATERIALIZED VIEW {mv_name}")
    timings: dict[str, list[float]] = {"view": [], "materialized": [], "refresh": []}
    with engine.connect() as conn:
        for _ in range(iterations):
            for name, statement in (("view", read_view), ("materialized", read_mv)):
                started = time.perf_counter()
                conn.execute(statement).all()
                timings[name].append((time.perf_counter() - started) * 1000)
            conn.rollback()
        for _ in range(max(iterations // 10, 20)):
            started = time.perf_counter()
            conn.execute(refresh)
            conn.commit()
            timings["refresh"].append((time.perf_counter() - started) * 1000)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP MATERIALIZED VIEW {mv_name}")
        conn.exec_driver_sql(f"DROP VIEW {view.name}")
        tables.metadata.drop_all(conn)
    engine.dispose()
    print(f"career_summary on PostgreSQL, {experiences} experiences, {iterations} reads each")
    for name in ("view", "materialized", "refresh"):
        p50, p95 = _percentiles(timings[name])
        print(f"  {name:<13} p50 {p50:7.3f} ms   p95 {p95:7.3f} ms")
    refresh_p50 = _percentiles(timings["refresh"])[0]
    print(
        f"  refreshing {users:,} users' views once: {refresh_p50 * users / 1000:,.1f} s "
        f"(and {users:,} more catalog objects)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiences", type=int, default=50)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--pg-url", default=os.environ.get("PATHFINDER_TEST_PG_URL"))
    args = parser.parse_args()
    if args.pg_url:
        schema = f"bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
        url = sa.engine.make_url(args.pg_url).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        try:
            run(
                url.render_as_string(hide_password=False),
                args.experiences,
                args.users,
                args.iterations,
            )
        finally:
            with admin.connect() as conn:
                conn.execute(sa.schema.DropSchema(schema, cascade=True))
            admin.dispose()
        return
    from bench._pg import start_cluster

    cluster = start_cluster()
    try:
        url = cluster.create_database("bench_summary")
        run(url, args.experiences, args.users, args.iterations)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
