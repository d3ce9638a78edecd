"""Concurrent registrations against the real server: every one ends ``ready``, nothing leaks.

Run: ``.venv/bin/python bench/concurrency.py [--users 50] [--workers 8] [--pg-url URL]
[--hash-profile default|fast] [--duplicates N]``.

Why this shape:

* Registration is the one request that runs DDL (the new user's tables are created inside
  it), so it is where concurrency can break what unit tests cannot show: lock waits between
  workers, catalog contention on PostgreSQL, a half-provisioned user. The run therefore uses
  the deployed shape: ``pathfinder serve --production`` (gunicorn, sync workers, generated
  secrets) on a fresh PostgreSQL database, over loopback HTTP.
* ``--users`` clients (threads, one connection each) wait on a barrier and then all send
  ``POST /auth/register`` at once; the server's workers take them as fast as they can, the
  rest queue in gunicorn's backlog as real clients would.
* ``--duplicates N`` adds N pairs of clients racing for the *same* username: exactly one
  of each pair must win (201) and the other must get 409, never a 5xx or a second account.
* After the burst, each new user lists its experiences with the token it got (its tables
  are usable), the server is stopped, and the database is checked directly:
  - every user has one ``pf_users`` row and a registry row ``ready`` at the latest version;
  - the catalog (``pg_class``: tables, indexes, views, sequences named ``pf_user_...``)
    equals the registry (``pf_tenant_objects``): no orphan object, no registered-but-missing
    object;
  - ``verify_user`` finds every user clean against the template;
  - no response was a 5xx and the server log holds no traceback.
* The exit status is 1 when any check fails, so the script can gate a release.

The password hash is argon2's default profile unless ``--hash-profile fast``: registration
hashes the password, and that cost is part of what a real burst of sign-ups pays.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from _server import (
    API,
    PASSWORD,
    Client,
    Reply,
    app_config,
    gunicorn,
    log,
    percentile,
    postgres_database,
    prepare_database,
    print_machine,
    production_settings,
    temp_dir,
)


@dataclass
class Outcome:
    """One client's registration."""

    username: str
    reply: Reply | None = None
    error: str | None = None
    check_status: int | None = None


@dataclass
class Check:
    name: str
    expected: str
    found: str
    ok: bool


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    wall_seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)


def register_all(host: str, port: int, names: list[str]) -> tuple[list[Outcome], float]:
    """All clients register at once (barrier); returns their outcomes and the wall time."""
    outcomes = [Outcome(name) for name in names]
    barrier = threading.Barrier(len(names) + 1)

    def run(outcome: Outcome, index: int) -> None:
        client = Client(host, port)
        body = {
            "username": outcome.username,
            # A racing duplicate uses its own address, so only the username collides.
            "email": f"{outcome.username}.{index}@example.com",
            "password": PASSWORD,
        }
        barrier.wait()
        try:
            outcome.reply = client.call("POST", f"{API}/auth/register", body)
        except Exception as exc:  # noqa: BLE001 - a transport failure is a result here
            outcome.error = f"{type(exc).__name__}: {exc}"
        finally:
            client.close()

    threads = [
        threading.Thread(target=run, args=(outcome, n), daemon=True)
        for n, outcome in enumerate(outcomes)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - start


def use_tables(host: str, port: int, outcomes: list[Outcome]) -> None:
    """Each winner lists its experiences: the new tables answer through the API."""
    client = Client(host, port)
    try:
        for outcome in outcomes:
            if outcome.reply is not None and outcome.reply.status == 201:
                token = outcome.reply.body["access_token"]
                reply = client.call("GET", f"{API}/me/experiences", token=token)
                outcome.check_status = reply.status
    finally:
        client.close()


def tenant_catalog(conn: sa.Connection) -> dict[str, tuple[str, bool]]:
    """Per-user relations in the catalog: name -> (owning table, backs a constraint).

    Every relation of the current schema whose table is named ``pf_user_...`` and is not one
    of the shared tables that happen to start the same way (``pf_user_sessions``, ...).
    """
    from pathfinder.schema.shared import metadata

    rows = conn.exec_driver_sql(
        "SELECT c.relname, coalesce(t.relname, c.relname), "
        "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = c.oid) "
        "FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid "
        "LEFT JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'i', 'S', 'f')"
    )
    shared = set(metadata.tables)
    return {
        name: (owner, bool(backs))
        for name, owner, backs in rows
        if owner.startswith("pf_user_") and owner not in shared
    }


def check_database(settings: dict[str, str], usernames: set[str]) -> list[Check]:
    """Compare users, registry and catalog directly in the database (server stopped)."""
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.provisioning.verify import verify_user
    from pathfinder.schema.shared.identity import users
    from pathfinder.schema.shared.system import tenant_objects, tenant_provisioning
    from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION

    app = create_app(app_config(settings))
    database = get_database(app)
    checks: list[Check] = []
    try:
        with database.transaction() as conn:
            user_counts = Counter(conn.execute(sa.select(users.c.username)).scalars())
            states = {
                row.username: (row.state, row.template_version)
                for row in conn.execute(
                    sa.select(
                        tenant_provisioning.c.username,
                        tenant_provisioning.c.state,
                        tenant_provisioning.c.template_version,
                    )
                )
            }
            registered = set(conn.execute(sa.select(tenant_objects.c.object_name)).scalars())
            catalog = tenant_catalog(conn)
        extra_users = sorted(set(user_counts) - usernames)
        doubled = sorted(name for name, count in user_counts.items() if count > 1)
        missing_users = sorted(usernames - set(user_counts))
        checks.append(
            Check(
                "one pf_users row per expected user",
                f"{len(usernames)} users",
                f"{len(user_counts)} users; missing {missing_users[:5]}, doubled {doubled[:5]}, "
                f"unexpected {extra_users[:5]}",
                not (missing_users or doubled or extra_users),
            )
        )
        not_ready = sorted(
            name for name in usernames if states.get(name) != ("ready", LATEST_TEMPLATE_VERSION)
        )
        state_counts = Counter(state for state, _ in states.values())
        checks.append(
            Check(
                "registry: every user ready at the latest template",
                f"{len(usernames)} ready (v{LATEST_TEMPLATE_VERSION})",
                ", ".join(f"{n} {s}" for s, n in sorted(state_counts.items()))
                + (f"; not ready: {not_ready[:5]}" if not_ready else ""),
                not not_ready and set(states) == usernames,
            )
        )
        present = set(catalog)
        # A constraint's own index (primary key, unique) comes and goes with its table, so
        # it is not registered; every other per-user relation must be.
        orphans = sorted(
            name
            for name, (owner, backs_constraint) in catalog.items()
            if name not in registered and not (backs_constraint and owner in registered)
        )
        unbuilt = sorted(registered - present)
        checks.append(
            Check(
                "catalog = registry (no orphan, nothing missing)",
                f"{len(registered)} registered objects",
                f"{len(present)} per-user relations in pg_class; orphans {len(orphans)} "
                f"{orphans[:3]}, registered but missing {len(unbuilt)} {unbuilt[:3]}",
                not orphans and not unbuilt and bool(present),
            )
        )
        dirty = []
        for name in sorted(usernames):
            drift = verify_user(database, name)
            if not drift.clean:
                dirty.append(f"{name}: {'; '.join(drift.lines()[:2])}")
        checks.append(
            Check(
                "verify_user clean for every user",
                f"{len(usernames)} clean",
                f"{len(usernames) - len(dirty)} clean" + (f"; {dirty[:2]}" if dirty else ""),
                not dirty,
            )
        )
    finally:
        database.dispose()
    return checks


def run(args: argparse.Namespace) -> Report:
    suffix = secrets.token_hex(2)
    names = [f"conc_{suffix}_{n:03d}" for n in range(args.users)]
    racers = [f"dup_{suffix}_{n:03d}" for n in range(args.duplicates)]
    report = Report()
    with (
        postgres_database(args.pg_url, "conc") as (url, description),
        temp_dir("pathfinder-bench-conc.") as root,
    ):
        log(f"database: {description}")
        settings = production_settings(
            url, root / "instance", PASSWORD_HASH_PROFILE=args.hash_profile
        )
        prepare_database(settings, {"self_registration_enabled": True})
        log(f"starting gunicorn: {args.workers} workers x {args.threads} threads")
        with gunicorn(settings, root, workers=args.workers, threads=args.threads) as server:
            everyone = names + racers + racers
            log(f"{len(everyone)} clients register at once")
            report.outcomes, report.wall_seconds = register_all(server.host, server.port, everyone)
            use_tables(server.host, server.port, report.outcomes)
            log_text = server.log_path  # read after the server stopped (flushed)
        server_log = log_text.read_text(errors="replace")
        report.checks = response_checks(report.outcomes, names, racers)
        report.checks.append(
            Check(
                "no traceback in the server log",
                "0",
                str(server_log.count("Traceback")),
                "Traceback" not in server_log,
            )
        )
        log("checking the registry against the catalog")
        report.checks += check_database(settings, set(names) | set(racers))
        print_report(args, description, report)
    return report


def response_checks(outcomes: list[Outcome], names: list[str], racers: list[str]) -> list[Check]:
    """What the clients saw: 201 for each unique name, one 201 + one 409 per raced name."""
    checks = []
    by_name: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_name.setdefault(outcome.username, []).append(outcome)
    statuses = Counter((o.reply.status if o.reply else f"error {o.error}") for o in outcomes)
    failed = [n for n in names if not _status_is(by_name[n][0], 201)]
    checks.append(
        Check(
            "unique names: 201 Created",
            f"{len(names)} x 201",
            f"{len(names) - len(failed)} x 201"
            + (f"; others: {[_describe(by_name[n][0]) for n in failed[:3]]}" if failed else ""),
            not failed,
        )
    )
    if racers:
        bad = [
            n
            for n in racers
            if sorted(o.reply.status if o.reply else 0 for o in by_name[n]) != [201, 409]
        ]
        checks.append(
            Check(
                "raced names: one 201 and one 409",
                f"{len(racers)} pairs",
                f"{len(racers) - len(bad)} pairs as expected"
                + (f"; {[[_describe(o) for o in by_name[n]] for n in bad[:2]]}" if bad else ""),
                not bad,
            )
        )
    fives = sum(
        count for status, count in statuses.items() if isinstance(status, int) and status >= 500
    )
    transport = sum(count for status, count in statuses.items() if not isinstance(status, int))
    checks.append(
        Check(
            "no 5xx, no transport error",
            "0",
            f"{fives} 5xx, {transport} errors",
            not fives and not transport,
        )
    )
    unusable = [
        o.username
        for o in outcomes
        if o.reply is not None and o.reply.status == 201 and o.check_status != 200
    ]
    checks.append(
        Check(
            "each new user's GET /me/experiences answers 200",
            "all",
            f"{len(unusable)} did not" + (f": {unusable[:3]}" if unusable else ""),
            not unusable,
        )
    )
    return checks


def _status_is(outcome: Outcome, status: int) -> bool:
    return outcome.reply is not None and outcome.reply.status == status


def _describe(outcome: Outcome) -> str:
    if outcome.reply is None:
        return f"{outcome.username}: {outcome.error}"
    detail: Any = outcome.reply.body
    if isinstance(detail, dict):
        detail = detail.get("detail") or detail.get("title")
    return f"{outcome.username}: {outcome.reply.status} {str(detail)[:120]}"


def print_report(args: argparse.Namespace, description: str, report: Report) -> None:
    print("## Concurrent registrations\n")
    print_machine(f".venv/bin/python bench/concurrency.py {' '.join(sys.argv[1:])}".strip())
    print(f"- database: {description}")
    print(
        f"- server: pathfinder serve --production, {args.workers} gunicorn workers x "
        f"{args.threads} threads; password hash profile: {args.hash_profile}"
    )
    print(
        f"- clients: {args.users} unique names + {args.duplicates} raced pairs, "
        "all released at once\n"
    )
    latencies = [o.reply.seconds * 1000 for o in report.outcomes if o.reply is not None]
    statuses = Counter(o.reply.status if o.reply else "error" for o in report.outcomes)
    print("| requests | statuses | wall s | registrations/s | p50 ms | p95 ms | max ms |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {len(report.outcomes)} "
        f"| {', '.join(f'{s}: {n}' for s, n in sorted(statuses.items(), key=str))} "
        f"| {report.wall_seconds:.2f} "
        f"| {len(report.outcomes) / report.wall_seconds:.1f} "
        f"| {statistics.median(latencies):.0f} | {percentile(latencies, 0.95):.0f} "
        f"| {max(latencies):.0f} |\n"
    )
    print("| check | expected | found | ok |")
    print("| --- | --- | --- | --- |")
    for check in report.checks:
        print(
            f"| {check.name} | {check.expected} | {check.found} | "
            f"{'yes' if check.ok else '**NO**'} |"
        )
    verdict = all(c.ok for c in report.checks)
    print(f"\nResult: {'all checks passed' if verdict else 'VIOLATION'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent registrations")
    parser.add_argument("--duplicates", type=int, default=0, help="pairs racing for one name")
    parser.add_argument("--workers", type=int, default=8, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--hash-profile", choices=["default", "fast"], default="default")
    parser.add_argument("--pg-url", help="PostgreSQL server (role with CREATEDB) to use")
    args = parser.parse_args()
    report = run(args)
    sys.exit(0 if all(check.ok for check in report.checks) else 1)


if __name__ == "__main__":
    main()
