"""The authenticated list of 50 decrypted experiences against a bare Flask + SQLAlchemy handler.

Run: ``.venv/bin/python bench/api_latency.py [--backend sqlite|postgresql|all]
[--iterations N] [--pg-url URL] [--quick]``.

Why this shape:

* The physical limit of ``GET /api/v1/me/experiences?limit=50`` is a web handler that reads
  the same 50 rows and serialises them, with nothing else. So the same rows (copied from
  the API's own answer, in plain text) are put in a similar table,
  ``bench_plain_experiences`` (the experiences columns, ``description`` and
  ``key_achievements`` unencrypted), in the **same database**, and a bare Flask app with
  its own ``sa.create_engine`` serves them from one handler: connect, one ``SELECT ...
  ORDER BY start_date DESC, id DESC LIMIT 50``, ``jsonify``. The script checks that both
  answers hold the same 50 roles.
* Both are called the same way, through Flask's test client in this process (no network
  on either side), alternating request by request so drift on a shared machine hits both.
* Pathfinder's figure includes all it does on top: the JWT and its session row, the
  maintenance and flag checks, the user's tables (on SQLite: attaching the user's file),
  decrypting 100 values (AES-GCM, description and achievements), the page cursor, and the
  request's audit row in its own transaction. A third row turns ``AUDIT_REQUESTS`` off on
  the same data so the audit row's share is visible.
* Target: Pathfinder's p50 within 2x of the bare handler's. The ratio is printed per
  back-end (SQLite in a temp dir; PostgreSQL from ``--pg-url`` or a throw-away cluster).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _server import (
    API,
    PASSWORD,
    experience_body,
    log,
    percentile,
    postgres_database,
    print_machine,
    temp_dir,
    time_round_robin,
)
from flask import Flask, jsonify, request

ROWS = 50
TARGET = 2.0
USER = "benchlatency"


def plain_table(metadata: sa.MetaData) -> sa.Table:
    """The experiences columns with the encrypted two in plain text (a list as JSON)."""
    from pathfinder.schema.types import JsonDocument, UtcDateTime, id_type

    return sa.Table(
        "bench_plain_experiences",
        metadata,
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("company", sa.String(200)),
        sa.Column("department", sa.String(200)),
        sa.Column("location", sa.String(200)),
        sa.Column("employment_type", sa.String(20), nullable=False),
        sa.Column("role_level", sa.String(20)),
        sa.Column("industry", sa.String(100)),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("key_achievements", JsonDocument()),
        sa.Column("technologies", JsonDocument()),
        sa.Column("team_size", sa.Integer()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Index("ix_bench_plain_dates", "start_date", "id"),
    )


def fill_plain(engine: sa.Engine, items: list[dict[str, Any]]) -> sa.Table:
    """Create the plain table and fill it with Pathfinder's answer ``items``, as stored."""
    metadata = sa.MetaData()
    table = plain_table(metadata)
    metadata.create_all(engine)
    rows = []
    for item in items:
        row = {c.name: item.get(c.name) for c in table.columns}
        for name in ("start_date", "end_date"):
            if row[name]:
                row[name] = dt.date.fromisoformat(row[name])
        for name in ("created_at", "updated_at"):
            row[name] = dt.datetime.fromisoformat(row[name].replace("Z", "+00:00"))
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    return table


def bare_app(url: str, items: list[dict[str, Any]]) -> tuple[Flask, sa.Engine]:
    """Create and fill the plain table, and the bare app that serves it."""
    engine = sa.create_engine(url)
    table = fill_plain(engine, items)
    app = Flask("bare")
    order = (table.c.start_date.desc(), table.c.id.desc())

    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value

    @app.get("/plain/experiences")
    def list_plain() -> Any:
        limit = min(int(request.args.get("limit", ROWS)), 100)
        with engine.connect() as conn:
            result = conn.execute(sa.select(table).order_by(*order).limit(limit)).mappings()
            items = [{k: plain(v) for k, v in row.items()} for row in result]
        return jsonify({"items": items})

    return app, engine


@contextlib.contextmanager
def target(backend: str, pg_url: str | None) -> Iterator[tuple[str, Path, str]]:
    with temp_dir("pathfinder-bench-latency.") as root:
        if backend == "sqlite":
            instance = root / "instance"
            yield f"sqlite:///{instance / 'pathfinder.db'}", instance, "SQLite, temp dir"
        else:
            with postgres_database(pg_url, "lat") as (url, description):
                yield url, root / "instance", description


def run_backend(backend: str, args: argparse.Namespace) -> tuple[str, dict[str, list[float]]]:
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.db.setup import init_database
    from pathfinder.flags.system import set_system_flag

    with target(backend, args.pg_url) as (url, instance, description):
        config = {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(instance),
            # Only registration hashes a password here, and it is not timed.
            "PASSWORD_HASH_PROFILE": "fast",
        }
        app = create_app(config)
        unaudited = create_app({**config, "AUDIT_REQUESTS": False})
        database = get_database(app)
        engines: list[sa.Engine] = []
        try:
            init_database(database)
            with database.transaction() as conn:
                set_system_flag(conn, "self_registration_enabled", True)
            client = app.test_client()
            body = {"username": USER, "email": f"{USER}@example.com", "password": PASSWORD}
            reply = client.post(f"{API}/auth/register", json=body)
            assert reply.status_code == 201, reply.get_json()
            headers = {"Authorization": f"Bearer {reply.get_json()['access_token']}"}
            roles = {"items": [experience_body(n) for n in range(ROWS)]}
            reply = client.post(f"{API}/me/experiences/bulk", headers=headers, json=roles)
            assert reply.status_code == 201, reply.get_json()
            path = f"{API}/me/experiences?limit={ROWS}"
            items = client.get(path, headers=headers).get_json()["items"]
            assert len(items) == ROWS
            bare, engine = bare_app(url, items)
            engines.append(engine)
            bare_client = bare.test_client()
            unaudited_client = unaudited.test_client()
            same_rows(items, bare_client.get(f"/plain/experiences?limit={ROWS}").get_json())

            def call(http: Any, url_path: str, with_auth: bool) -> Callable[[], None]:
                def run() -> None:
                    response = http.get(url_path, headers=headers if with_auth else None)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url_path}: {response.status_code}")

                return run

            operations = {
                "bare Flask + SQLAlchemy, plain rows": call(
                    bare_client, f"/plain/experiences?limit={ROWS}", False
                ),
                "Pathfinder GET /me/experiences": call(client, path, True),
                "Pathfinder, request audit row off": call(unaudited_client, path, True),
            }
            log(f"{backend}: {args.iterations} rounds")
            samples = time_round_robin(operations, args.iterations, args.warmup)
        finally:
            for engine in engines:
                engine.dispose()
            get_database(unaudited).dispose()
            database.dispose()
    return description, samples


def same_rows(api_items: list[dict[str, Any]], bare: dict[str, Any]) -> None:
    """Both handlers answer the same 50 roles, in the same order, with the same text."""
    keys = ("id", "title", "description", "key_achievements", "technologies", "start_date")
    left = [tuple(str(item[k]) for k in keys) for item in api_items]
    right = [tuple(str(item[k]) for k in keys) for item in bare["items"]]
    if left != right:
        raise RuntimeError("the bare handler does not answer the same rows as the API")


def print_report(results: dict[str, tuple[str, dict[str, list[float]]]]) -> bool:
    """Print the tables; True when every back-end meets the p50 target."""
    print(f"## API latency: {ROWS} decrypted experiences vs a bare handler\n")
    print_machine(f".venv/bin/python bench/api_latency.py {' '.join(sys.argv[1:])}".strip())
    met = True
    for backend, (description, samples) in results.items():
        print(f"### {backend} ({description})\n")
        print("| handler | n | p50 ms | p95 ms | mean ms |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, values in samples.items():
            print(
                f"| {name} | {len(values)} | {statistics.median(values):.2f} "
                f"| {percentile(values, 0.95):.2f} | {statistics.mean(values):.2f} |"
            )
        names = list(samples)
        bare, full, unaudited = (samples[n] for n in names)
        ratio50 = statistics.median(full) / statistics.median(bare)
        ratio95 = percentile(full, 0.95) / percentile(bare, 0.95)
        ratio_unaudited = statistics.median(unaudited) / statistics.median(bare)
        ok = ratio50 <= TARGET
        met &= ok
        print(
            f"\nPathfinder / bare: p50 **{ratio50:.2f}x** (target <= {TARGET:.0f}x: "
            f"{'met' if ok else 'missed'}), p95 {ratio95:.2f}x; without the request audit "
            f"row p50 {ratio_unaudited:.2f}x.\n"
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--iterations", type=int, default=300, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=30, help="discarded rounds")
    parser.add_argument("--pg-url", help="PostgreSQL server (role with CREATEDB) to use")
    parser.add_argument("--quick", action="store_true", help="100 rounds")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.warmup = 100, 10
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    results = {backend: run_backend(backend, args) for backend in backends}
    sys.exit(0 if print_report(results) else 1)


if __name__ == "__main__":
    main()
