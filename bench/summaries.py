"""Career tiers benchmark: read latency of quick (tier 3), summary (tier 2), detailed (tier 1).

Run: ``.venv/bin/python bench/summaries.py [--backend sqlite|postgresql|all]
[--experiences N] [--skills-per N] [--iterations N] [--pg-url URL] [--quick]``.

Why this shape:

* The seed design promises < 10 ms (quick), < 50 ms (summary) and < 200 ms (detailed).
  Each tier is timed at two levels: the **service** call (one transaction on the user's
  tables, decryption included; what the tier itself costs) and the **HTTP** request through
  Flask's test client (JWT check, session row, the request audit row, JSON), which is what
  a client waits for minus the network.
* quick = ``GET /me/profile/quick`` (one row), summary = ``GET /me/profile/summary`` (one
  row, larger JSON), detailed = ``GET /me/experiences?limit=N``: every experience of the
  user in one page with description and achievements decrypted (AES-GCM per value).
* The user is built through the API like a real one: ``--experiences`` roles (bulk create)
  with ``--skills-per`` skills each, so the summaries come from the real write path. One
  write is also timed (``PATCH`` of a role, which recomputes tiers 2 and 3 in its
  transaction) because that is what reading without touching tier 1 costs the writer.
* Operations are timed round-robin (one of each per round) so drift on a shared machine
  (other test suites, autovacuum) falls on all alike; p50 and p95 are printed per backend.
* PostgreSQL: ``--pg-url``, else ``PATHFINDER_TEST_PG_URL`` (a fresh schema, dropped at
  exit), else a throw-away cluster (``bench/_pg.py``). SQLite runs in a temp dir.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _pg
import sqlalchemy as sa
from _server import log, machine_info, time_round_robin
from flask import Flask

from pathfinder import create_app
from pathfinder.auth.principal import Principal
from pathfinder.career import service, summary_service
from pathfinder.career.schemas import ExperienceQuery
from pathfinder.db import get_database
from pathfinder.db.setup import init_database
from pathfinder.flags.system import set_system_flag

USER = "benchcareer"
PASSWORD = "bench password that is long enough"  # noqa: S105 - a throw-away bench account
API = "/api/v1"
BUDGET_MS = {"quick": 10.0, "summary": 50.0, "detailed": 200.0}
TECHNOLOGIES = ["Python", "PostgreSQL", "Kubernetes", "SQL", "Power BI", "Excel", "Go", "React"]
SKILLS = ["Leadership", "Budgeting", "IFRS", "Docker", "Terraform", "Mentoring", "Tableau"]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextlib.contextmanager
def sqlite_target() -> Iterator[tuple[str, Path, str]]:
    root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-career."))
    try:
        instance = root / "instance"
        yield f"sqlite:///{instance / 'pathfinder.db'}", instance, "temp dir, rollback journal"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgresql_target(pg_url: str | None) -> Iterator[tuple[str, Path, str]]:
    root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-career-pg."))
    cluster: _pg.TempCluster | None = None
    base = pg_url or os.environ.get("PATHFINDER_TEST_PG_URL")
    source = "--pg-url" if pg_url else "PATHFINDER_TEST_PG_URL"
    if not base:
        log("  starting a throw-away PostgreSQL cluster (bench/_pg.py)")
        cluster = _pg.start_cluster()
        base, source = cluster.url(), "throw-away cluster (fsync off)"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    schema = f"bench_career_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
            version = conn.exec_driver_sql("SHOW server_version").scalar()
        url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False), root / "instance", f"{source}, {version}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_app(url: str, instance: Path) -> Flask:
    return create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(instance),
            "PASSWORD_HASH_PROFILE": "fast",
            "RATELIMIT_REGISTER": "10000 per minute",
            "RATELIMIT_LOGIN": "10000 per minute",
        }
    )


def build_user(app: Flask, experiences: int, skills_per: int) -> tuple[dict[str, str], str]:
    """Register the bench user and give it a career through the API; (headers, a role id)."""
    with get_database(app).transaction() as conn:
        set_system_flag(conn, "self_registration_enabled", True)
    client = app.test_client()
    tokens = client.post(
        f"{API}/auth/register",
        json={"username": USER, "email": f"{USER}@example.com", "password": PASSWORD},
    ).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    roles = []
    for n in range(experiences):
        start = dt.date(1990, 1, 1) + dt.timedelta(days=200 * n)
        roles.append(
            {
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
        )
    ids = []
    for chunk in range(0, len(roles), 50):
        created = client.post(
            f"{API}/me/experiences/bulk", headers=headers, json={"items": roles[chunk : chunk + 50]}
        )
        if created.status_code != 201:
            raise RuntimeError(f"bulk create answered {created.status_code}: {created.get_json()}")
        ids += [item["id"] for item in created.get_json()["items"]]
    for n, role_id in enumerate(ids):
        for k in range(skills_per):
            name = SKILLS[(n + k) % len(SKILLS)]
            body = {"name": name, "experience_id": role_id, "proficiency_level": 1 + k % 5}
            response = client.post(f"{API}/me/skills", headers=headers, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"skill create answered {response.status_code}")
    return headers, ids[0]


def run_backend(backend: str, args: argparse.Namespace) -> tuple[str, dict[str, list[float]]]:
    target = sqlite_target() if backend == "sqlite" else postgresql_target(args.pg_url)
    with target as (url, instance, description):
        app = make_app(url, instance)
        db = get_database(app)
        init_database(db)
        try:
            log(f"  {backend}: building {args.experiences} roles x {args.skills_per} skills")
            headers, role_id = build_user(app, args.experiences, args.skills_per)
            with app.app_context():
                from pathfinder.auth.repo import find_user_by_login

                with db.transaction() as conn:
                    user = find_user_by_login(conn, USER)
                assert user is not None
                principal = Principal(user["id"], USER, "user", "bench")
                page = ExperienceQuery(limit=min(args.experiences, 100))
                client = app.test_client()
                detailed_url = f"{API}/me/experiences?limit={min(args.experiences, 100)}"

                def http(url: str) -> Callable[[], None]:
                    def call() -> None:
                        response = client.get(url, headers=headers)
                        if response.status_code != 200:
                            raise RuntimeError(f"{url} answered {response.status_code}")

                    return call

                flip = [False]

                def write() -> None:
                    flip[0] = not flip[0]
                    body = {"title": "Role 0 (edited)" if flip[0] else "Role 0"}
                    response = client.patch(
                        f"{API}/me/experiences/{role_id}", headers=headers, json=body
                    )
                    if response.status_code != 200:
                        raise RuntimeError(f"patch answered {response.status_code}")

                operations: dict[str, Callable[[], Any]] = {
                    "service quick": lambda: summary_service.get_quick_summary(principal),
                    "service summary": lambda: summary_service.get_profile_summary(principal),
                    "service detailed": lambda: service.list_experiences(principal, page),
                    "HTTP quick": http(f"{API}/me/profile/quick"),
                    "HTTP summary": http(f"{API}/me/profile/summary"),
                    "HTTP detailed": http(detailed_url),
                    "HTTP write (PATCH, recomputes tiers 2+3)": write,
                }
                log(f"  {backend}: {args.iterations} rounds of {len(operations)} operations")
                samples = time_round_robin(operations, args.iterations, args.warmup)
        finally:
            db.dispose()
    return description, samples


def print_report(
    machine: dict[str, str], results: dict[str, tuple[str, dict[str, list[float]]]], argv: list[str]
) -> None:
    print("## Career tiers: read latency\n")
    print(f"Command: `{' '.join(['.venv/bin/python', 'bench/summaries.py', *argv])}`\n")
    for key, value in machine.items():
        print(f"- {key}: {value}")
    for backend, (description, samples) in results.items():
        print(f"\n### {backend} ({description})\n")
        print("| operation | n | p50 ms | p95 ms | budget ms | p95 within budget |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for name, values in samples.items():
            tier = name.split()[-1] if name.split()[-1] in BUDGET_MS else None
            budget = BUDGET_MS.get(tier or "")
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            verdict = "" if budget is None else ("yes" if p95 <= budget else "**no**")
            budget_text = "" if budget is None else f"{budget:.0f}"
            print(f"| {name} | {len(values)} | {p50:.2f} | {p95:.2f} | {budget_text} | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--experiences", type=int, default=50, help="roles of the bench user")
    parser.add_argument("--skills-per", type=int, default=5, help="skills per role")
    parser.add_argument("--iterations", type=int, default=300, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=20, help="discarded rounds")
    parser.add_argument("--pg-url", help="PostgreSQL server to use (a schema is made there)")
    parser.add_argument("--quick", action="store_true", help="20 roles, 60 rounds")
    args = parser.parse_args()
    if args.quick:
        args.experiences, args.iterations, args.warmup = 20, 60, 5
    machine = machine_info()
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    results = {}
    for backend in backends:
        log(f"{backend}:")
        results[backend] = run_backend(backend, args)
    print_report(machine, results, sys.argv[1:])


if __name__ == "__main__":
    main()
