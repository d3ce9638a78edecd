"""Mixed workload against the real server: throughput, p50/p95/p99 latency and errors per call.

Run: ``.venv/bin/python bench/load.py [--seconds 30] [--processes 4] [--workers N]
[--users-per-process 2] [--mix login=5,list=35,create=15,chat=15,flags=30] [--pg-url URL]
[--hash-profile default|fast] [--quick]``.

Why this shape:

* The issue asks what the deployed app sustains, so the server is the deployed shape:
  ``pathfinder serve --production`` (gunicorn sync workers, generated secrets, JSON logs,
  the request audit row on) on a fresh PostgreSQL database over loopback HTTP.
* The load comes from ``--processes`` client processes (``multiprocessing``, stdlib
  ``http.client``; no load-testing dependency), each closed-loop: it sends the next request
  when the last one answered, so throughput is what the server gives back, not an offered
  rate. Each process drives its own users, chosen at random per request.
* The mix is the user-facing calls the issue names: password login (argon2, a new session
  row), list experiences (20 decrypted roles), create an experience (encrypt, insert, recompute
  tiers 2 and 3), a chat message (the offline assistant: the user's message, the reply and
  the usage row) and flag evaluation (``/me/flags``). Weights are ``--mix``.
* The run is bounded: every process starts at the same instant and stops at
  ``--seconds``. Users are created beforehand through the API (registration, 20 roles, one
  conversation) and are not timed.
* Errors are counted per call and status. A 5xx or a transport error makes the exit status
  1. Server worker memory (RSS) is reported before and after the run.

The clients share the machine's CPUs with the server and the database, so the figures are
a floor of what the same server does with remote clients; the load average is printed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _server import (
    API,
    PASSWORD,
    Client,
    experience_body,
    gunicorn,
    log,
    percentile,
    postgres_database,
    prepare_database,
    print_machine,
    production_settings,
    temp_dir,
)

OPERATIONS = ("login", "list", "create", "chat", "flags")
DEFAULT_MIX = "login=5,list=35,create=15,chat=15,flags=30"
SEED_EXPERIENCES = 20


@dataclass
class BenchUser:
    username: str
    token: str
    conversation_id: str


@dataclass
class ProcessResult:
    """What one client process saw (latencies in ms, per operation)."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[Any]] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0


def parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in OPERATIONS:
            raise SystemExit(f"--mix: unknown operation {name!r} (choose from {OPERATIONS})")
        mix[name.strip()] = int(weight)
    return mix


def create_users(host: str, port: int, count: int, tag: str) -> list[BenchUser]:
    """Register ``count`` users through the API, each with roles and a conversation."""
    client = Client(host, port)
    made = []
    try:
        for n in range(count):
            name = f"load_{tag}_{n:03d}"
            body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
            reply = client.call("POST", f"{API}/auth/register", body)
            if reply.status != 201:
                raise RuntimeError(f"register {name}: {reply.status} {reply.body}")
            token = reply.body["access_token"]
            roles = [experience_body(k) for k in range(SEED_EXPERIENCES)]
            reply = client.call("POST", f"{API}/me/experiences/bulk", {"items": roles}, token)
            if reply.status != 201:
                raise RuntimeError(f"bulk create for {name}: {reply.status} {reply.body}")
            reply = client.call(
                "POST", f"{API}/me/chat/conversations", {"title": "Load test"}, token
            )
            if reply.status != 201:
                raise RuntimeError(f"conversation for {name}: {reply.status} {reply.body}")
            made.append(BenchUser(name, token, reply.body["id"]))
            log(f"  user {n + 1}/{count} ready")
    finally:
        client.close()
    return made


def drive(
    host: str,
    port: int,
    users: list[BenchUser],
    mix: dict[str, int],
    start_at: float,
    seconds: float,
    seed: int,
) -> ProcessResult:
    """One client process: closed-loop requests from ``start_at`` for ``seconds``."""
    rng = random.Random(seed)
    names, weights = list(mix), list(mix.values())
    result = ProcessResult(
        latencies={name: [] for name in OPERATIONS},
        statuses={name: Counter() for name in OPERATIONS},
    )
    client = Client(host, port)
    counter = 0
    time.sleep(max(0.0, start_at - time.time()))
    began = time.monotonic()
    deadline = began + seconds
    while time.monotonic() < deadline:
        op = rng.choices(names, weights)[0]
        user = rng.choice(users)
        counter += 1
        try:
            reply = call(client, op, user, counter, seed)
        except Exception as exc:  # noqa: BLE001 - counted as a transport error
            result.statuses[op][f"{type(exc).__name__}"] += 1
            if len(result.examples) < 5:
                result.examples.append(f"{op}: {type(exc).__name__}: {exc}")
            client = Client(host, port)
            continue
        result.statuses[op][reply.status] += 1
        if 200 <= reply.status < 300:
            result.latencies[op].append(reply.seconds * 1000)
            if op == "login":
                user.token = reply.body["access_token"]
        elif len(result.examples) < 5:
            result.examples.append(f"{op}: {reply.status} {str(reply.body)[:200]}")
    result.seconds = time.monotonic() - began
    client.close()
    return result


def call(client: Client, op: str, user: BenchUser, counter: int, seed: int) -> Any:
    """Send one operation of the mix for ``user``."""
    if op == "login":
        body = {"login": user.username, "password": PASSWORD}
        return client.call("POST", f"{API}/auth/login", body)
    if op == "list":
        return client.call("GET", f"{API}/me/experiences?limit=20", token=user.token)
    if op == "create":
        body = experience_body(seed * 1_000_000 + counter)
        return client.call("POST", f"{API}/me/experiences", body, user.token)
    if op == "chat":
        path = f"{API}/me/chat/conversations/{user.conversation_id}/messages"
        body = {"content": f"How do I describe role {counter} for a senior finance position?"}
        return client.call("POST", path, body, user.token)
    return client.call("GET", f"{API}/me/flags", token=user.token)


def run(args: argparse.Namespace) -> tuple[list[ProcessResult], dict[str, Any]]:
    mix = parse_mix(args.mix)
    tag = f"{os.getpid() % 10000}"
    info: dict[str, Any] = {}
    with (
        postgres_database(args.pg_url, "load") as (url, description),
        temp_dir("pathfinder-bench-load.") as root,
    ):
        info["database"] = description
        settings = production_settings(
            url, root / "instance", PASSWORD_HASH_PROFILE=args.hash_profile
        )
        prepare_database(
            settings, {"self_registration_enabled": True, "chat_daily_message_limit": 1_000_000}
        )
        log(f"starting gunicorn: {args.workers} workers")
        with gunicorn(settings, root, workers=args.workers) as server:
            total_users = args.processes * args.users_per_process
            log(f"creating {total_users} users through the API")
            users = create_users(server.host, server.port, total_users, tag)
            info["rss_before"] = server.workers_rss_kib()
            start_at = time.time() + 1.0
            log(f"{args.processes} client processes for {args.seconds:.0f} s")
            context = multiprocessing.get_context("fork")
            jobs = [
                (
                    server.host,
                    server.port,
                    users[n * args.users_per_process : (n + 1) * args.users_per_process],
                    mix,
                    start_at,
                    args.seconds,
                    n + 1,
                )
                for n in range(args.processes)
            ]
            with context.Pool(args.processes) as pool:
                results = pool.starmap(drive, jobs)
            info["rss_after"] = server.workers_rss_kib()
            info["load_after"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        server_log = server.log_path.read_text(errors="replace")
        info["tracebacks"] = server_log.count("Traceback")
    return results, info


def print_report(
    args: argparse.Namespace, results: list[ProcessResult], info: dict[str, Any]
) -> bool:
    """Print the tables; True when no 5xx and no transport error happened."""
    print("## Mixed load\n")
    print_machine(f".venv/bin/python bench/load.py {' '.join(sys.argv[1:])}".strip())
    print(f"- database: {info['database']}")
    print(
        f"- server: pathfinder serve --production, {args.workers} gunicorn sync workers; "
        f"password hash profile: {args.hash_profile}"
    )
    print(
        f"- clients: {args.processes} processes x {args.users_per_process} users, closed loop, "
        f"{args.seconds:.0f} s; mix {args.mix}"
    )
    print(f"- load average at the end: {info['load_after']}\n")
    seconds = max(r.seconds for r in results)
    print("| operation | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    everything: list[float] = []
    total_errors = 0
    bad = 0
    status_lines = []
    for op in OPERATIONS:
        samples = [x for r in results for x in r.latencies[op]]
        statuses: Counter[Any] = Counter()
        for r in results:
            statuses.update(r.statuses[op])
        requests = sum(statuses.values())
        if not requests:
            continue
        errors = sum(n for s, n in statuses.items() if not (isinstance(s, int) and s < 300))
        bad += sum(n for s, n in statuses.items() if not isinstance(s, int) or s >= 500)
        total_errors += errors
        everything += samples
        status_lines.append(f"{op}: " + ", ".join(f"{s} x {n}" for s, n in statuses.items()))
        print(f"| {op} | {requests} | {errors} | {requests / seconds:.1f} | {_row(samples)} |")
    total = len(everything) + total_errors
    print(f"| **all** | {total} | {total_errors} | {total / seconds:.1f} | {_row(everything)} |")
    print("\nStatuses: " + "; ".join(status_lines))
    before, after = info["rss_before"], info["rss_after"]
    if before and after:
        print(
            f"\nServer workers' RSS: {len(before)} workers, "
            f"{statistics.mean(before) / 1024:.0f} MiB mean before, "
            f"{statistics.mean(after) / 1024:.0f} MiB after "
            f"(max {max(after) / 1024:.0f} MiB)"
        )
    print(f"Tracebacks in the server log: {info['tracebacks']}")
    examples = [e for r in results for e in r.examples]
    if examples:
        print("\nFirst errors:\n")
        for example in examples[:10]:
            print(f"- {example}")
    ok = bad == 0 and info["tracebacks"] == 0
    print(
        f"\nResult: {'no 5xx, no transport error' if ok else 'VIOLATION: 5xx or transport errors'}"
    )
    return ok


def _row(samples: list[float]) -> str:
    if not samples:
        return " | | |"
    return (
        f"{statistics.median(samples):.1f} | {percentile(samples, 0.95):.1f} | "
        f"{percentile(samples, 0.99):.1f} | {max(samples):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="timed run length")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--users-per-process", type=int, default=2)
    parser.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)) * 2 + 1,
        help="gunicorn workers (default: gunicorn.conf.py's 2 x CPUs + 1)",
    )
    parser.add_argument("--mix", default=DEFAULT_MIX, help="operation=weight,...")
    parser.add_argument("--hash-profile", choices=["default", "fast"], default="default")
    parser.add_argument("--pg-url", help="PostgreSQL server (role with CREATEDB) to use")
    parser.add_argument("--quick", action="store_true", help="10 s, 2 processes")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.processes = 10.0, 2
    results, info = run(args)
    sys.exit(0 if print_report(args, results, info) else 1)


if __name__ == "__main__":
    main()
