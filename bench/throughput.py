"""Authenticated GET throughput under gunicorn against a bare Flask + SQLAlchemy handler.

Run: ``.venv/bin/python bench/throughput.py [--pg-url URL] [--workers N] [--clients N]
[--seconds S] [--rounds N] [--quick]``.

Why this shape:

* The deployed shape, both sides: ``pathfinder serve --production`` (gunicorn sync
  workers, ``gunicorn.conf.py``, request audit rows on) and the bare handler
  (``bench/_bare_app.py``) under the same gunicorn with the same worker count and an access
  log too, on one PostgreSQL database (``bench/_server.py``).
* The same work asked of both: ``GET /api/v1/me/experiences?limit=50`` (a JWT, its session,
  the user's tables, 100 decryptions, the audit row) against ``GET /plain/experiences?
  limit=50`` over the same 50 roles in plain text (the script checks they are the same).
* Closed-loop client processes (stdlib ``http.client``), one server at a time, the order
  flipped every round; each round's ratio is printed, their spread and the load around
  each figure. Clients, servers and the database share the machine's CPUs, so the
  absolute figures are a floor; the ratio is what the target is about.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _server import (
    API,
    PASSWORD,
    Client,
    Server,
    experience_body,
    gunicorn,
    log,
    machine_info,
    postgres_database,
    prepare_database,
    production_settings,
    temp_dir,
    wait_ready,
)
from api_latency import fill_plain

BENCH = Path(__file__).resolve().parent
ROWS = 50
TARGET = 0.5
PATHFINDER_PATH = f"{API}/me/experiences?limit={ROWS}"
BARE_PATH = f"/plain/experiences?limit={ROWS}"


def load() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


@contextlib.contextmanager
def bare_gunicorn(url: str, log_dir: Path, *, workers: int) -> Iterator[Server]:
    """The bare app under gunicorn, same workers, same timeouts, an access log too."""
    from _pg import free_port

    port = free_port()
    env = dict(os.environ, BENCH_BARE_DATABASE_URL=url)
    log_path = log_dir / f"bare-{port}.log"
    command = [sys.executable, "-m", "gunicorn", "--chdir", str(BENCH), "_bare_app:app"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "60"]
    command += ["--keep-alive", "5", "--access-logfile", "-"]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(process=process, host="127.0.0.1", port=port, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if Client(server.host, port).call("GET", BARE_PATH).status == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"bare gunicorn did not start:\n{server.log_tail()}")
            time.sleep(0.25)
        time.sleep(1.0)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            process.kill()


def client_loop(
    host: str, port: int, path: str, token: str | None, start_at: float, seconds: float
) -> dict[str, Any]:
    """One closed-loop client: GETs from ``start_at`` (wall clock) for ``seconds``."""
    client = Client(host, port)
    ok = bad = 0
    time.sleep(max(0.0, start_at - time.time()))
    began = time.monotonic()
    deadline = began + seconds
    while time.monotonic() < deadline:
        try:
            reply = client.call("GET", path, token=token)
        except Exception:  # noqa: BLE001 - a transport error is counted, not fatal
            bad += 1
            client = Client(host, port)
            continue
        if reply.status == 200:
            ok += 1
        else:
            bad += 1
    client.close()
    return {"ok": ok, "bad": bad, "seconds": time.monotonic() - began}


def drive(
    pool: Any, server: Server, path: str, tokens: list[str | None], seconds: float
) -> dict[str, Any]:
    start_at = time.time() + 0.3
    before = load()
    parts = pool.starmap(
        client_loop, [(server.host, server.port, path, t, start_at, seconds) for t in tokens]
    )
    elapsed = max(p["seconds"] for p in parts)
    ok = sum(p["ok"] for p in parts)
    return {
        "rps": ok / elapsed,
        "ok": ok,
        "bad": sum(p["bad"] for p in parts),
        "load": f"{before} -> {load()}",
    }


def register_users(server: Server, count: int) -> tuple[list[str], list[dict[str, Any]]]:
    """``count`` users with the same 50 roles each; their tokens and the first one's list."""
    client = Client(server.host, server.port)
    tokens = []
    items: list[dict[str, Any]] = []
    for n in range(count):
        name = f"thru{os.getpid() % 10000}x{n:02d}"
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        reply = client.call("POST", f"{API}/auth/register", body)
        if reply.status != 201:
            raise RuntimeError(f"register {name}: {reply.status} {reply.body}")
        token = reply.body["access_token"]
        roles = {"items": [experience_body(k) for k in range(ROWS)]}
        made = client.call("POST", f"{API}/me/experiences/bulk", roles, token)
        if made.status != 201:
            raise RuntimeError(f"bulk {name}: {made.status} {made.body}")
        tokens.append(token)
        if not items:
            items = client.call("GET", PATHFINDER_PATH, token=token).body["items"]
    client.close()
    return tokens, items


def fill_plain_at(url: str, items: list[dict[str, Any]]) -> None:
    engine = sa.create_engine(url)
    fill_plain(engine, items)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help="PostgreSQL server (role with CREATEDB)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per server")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 4 s")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 4.0, 3
    context = multiprocessing.get_context("fork")
    rounds: list[dict[str, dict[str, Any]]] = []
    with (
        context.Pool(args.clients) as pool,
        postgres_database(args.pg_url, "thru") as (url, description),
        temp_dir("pathfinder-bench-thru.") as root,
    ):
        settings = production_settings(url, root / "instance", PASSWORD_HASH_PROFILE="fast")  # noqa: S106
        prepare_database(settings, {"self_registration_enabled": True})
        with gunicorn(settings, root, workers=args.workers) as pathfinder:
            wait_ready(pathfinder, timeout=60)
            tokens, items = register_users(pathfinder, args.clients)
            fill_plain_at(url, items)
            with bare_gunicorn(url, root, workers=args.workers) as bare:
                same = Client(bare.host, bare.port).call("GET", BARE_PATH).body["items"]
                if [i["id"] for i in same] != [i["id"] for i in items]:
                    raise RuntimeError("the bare handler does not answer the same roles")
                servers = {
                    "bare": (bare, BARE_PATH, [None] * args.clients),
                    "pathfinder": (pathfinder, PATHFINDER_PATH, tokens),
                }
                for server, path, toks in servers.values():  # warm, untimed
                    drive(pool, server, path, toks, 1.0)
                for n in range(args.rounds):
                    order = ("bare", "pathfinder") if n % 2 == 0 else ("pathfinder", "bare")
                    result = {}
                    for name in order:
                        server, path, toks = servers[name]
                        log(f"round {n + 1}/{args.rounds}: {name}, {args.seconds:.0f} s")
                        result[name] = drive(pool, server, path, toks, args.seconds)
                    rounds.append(result)
            tracebacks = pathfinder.log_path.read_text(errors="replace").count("Traceback")
    print("## Authenticated GET throughput under gunicorn vs a bare handler\n")
    print(f"Command: `.venv/bin/python bench/throughput.py {' '.join(sys.argv[1:])}`\n")
    for key, value in machine_info().items():
        print(f"- {key}: {value}")
    print(f"- database: {description}")
    print(
        f"- servers: {args.workers} gunicorn sync workers each; {args.clients} closed-loop "
        f"client processes; {args.rounds} rounds of {args.seconds:.0f} s per side\n"
    )
    print(
        "| round | bare req/s | Pathfinder req/s | Pathfinder / bare | non-200 bare / Pathfinder "
        "| load bare | load Pathfinder |"
    )
    print("| ---: | ---: | ---: | ---: | --- | --- | --- |")
    ratios = []
    for n, r in enumerate(rounds, start=1):
        ratio = r["pathfinder"]["rps"] / r["bare"]["rps"]
        ratios.append(ratio)
        print(
            f"| {n} | {r['bare']['rps']:.1f} | {r['pathfinder']['rps']:.1f} | {ratio:.2f}x | "
            f"{r['bare']['bad']} / {r['pathfinder']['bad']} | {r['bare']['load']} | "
            f"{r['pathfinder']['load']} |"
        )
    median = statistics.median(ratios)
    print(
        f"\nPathfinder / bare throughput: median **{median:.2f}x** (spread {min(ratios):.2f}-"
        f"{max(ratios):.2f}x over {len(ratios)} rounds); target >= {TARGET}x: "
        f"{'met' if median >= TARGET else 'missed'}. Tracebacks in the server log: {tracebacks}."
    )
    errors = sum(r[s]["bad"] for r in rounds for s in r)
    sys.exit(1 if errors or tracebacks else 0)


if __name__ == "__main__":
    main()
