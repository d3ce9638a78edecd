"""Does a sign-in stall other requests on SQLite? A GET's latency while another client signs in.

Run: ``.venv/bin/python bench/login_stall.py [--seconds 10] [--workers 2]``.

Why this shape: on SQLite a write transaction holds the whole database's write lock
(``BEGIN IMMEDIATE``). When sign-in ran argon2 inside that transaction, a process signing in
continuously held the lock for most of the time, and a plain authenticated GET (whose
session check and request row write too) went from p50 7.6 ms to p50 1.4 s (max 7.2 s).
Sign-in now hashes before its transaction opens. This runs ``pathfinder serve --production``
on SQLite (the real argon2 profile), measures ``GET /api/v1/me`` alone, then again while a
second client signs in back to back, and prints both and their ratio. The two phases
alternate twice so machine drift falls on both. No target is set by the issue beyond "no
stall"; the figure to watch is the p50 ratio (about 1 means no stall; CPU sharing on a
2-CPU machine costs something on its own).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

from _server import (
    API,
    Client,
    gunicorn,
    log,
    percentile,
    prepare_database,
    print_machine,
    production_settings,
    temp_dir,
)

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throw-away bench account


def measure_gets(client: Client, token: str, seconds: float) -> list[float]:
    """Milliseconds of each ``GET /me`` sent back to back for ``seconds``."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        reply = client.call("GET", f"{API}/me", token=token)
        if reply.status != 200:
            raise RuntimeError(f"GET /me answered {reply.status}: {reply.body}")
        samples.append(reply.seconds * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    print_machine("bench/login_stall.py")
    with temp_dir("pathfinder-bench-login-stall.") as root:
        instance = root / "instance"
        url = f"sqlite:///{instance / 'pathfinder.db'}"
        settings = production_settings(url, instance, ALLOW_SQLITE_IN_PRODUCTION="true")
        prepare_database(settings, {"self_registration_enabled": True})
        with gunicorn(settings, Path(root), workers=args.workers) as server:
            reader = Client(server.host, server.port)
            signer = Client(server.host, server.port)
            for name in ("reader", "signer"):
                reply = reader.call(
                    "POST",
                    f"{API}/auth/register",
                    {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
                )
                if reply.status != 201:
                    raise RuntimeError(f"register answered {reply.status}: {reply.body}")
            token = reader.call(
                "POST", f"{API}/auth/login", {"login": "reader", "password": PASSWORD}
            ).body["access_token"]
            quiet: list[float] = []
            busy: list[float] = []
            logins: list[float] = []
            failures: list[int] = []
            for round_ in range(2):
                log(f"round {round_ + 1}: GET alone for {args.seconds:.0f} s")
                quiet += measure_gets(reader, token, args.seconds)
                log(f"round {round_ + 1}: GET while another client signs in")
                stop = threading.Event()

                def sign_in(stop: threading.Event = stop) -> None:
                    while not stop.is_set():
                        reply = signer.call(
                            "POST", f"{API}/auth/login", {"login": "signer", "password": PASSWORD}
                        )
                        if reply.status != 200:
                            failures.append(reply.status)
                        logins.append(reply.seconds * 1000)

                thread = threading.Thread(target=sign_in)
                thread.start()
                try:
                    busy += measure_gets(reader, token, args.seconds)
                finally:
                    stop.set()
                    thread.join(60)
    print()
    print("| phase | GETs | p50 ms | p95 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, samples in (("GET alone", quiet), ("GET during sign-ins", busy)):
        print(
            f"| {name} | {len(samples)} | {statistics.median(samples):.1f} | "
            f"{percentile(samples, 0.95):.1f} | {max(samples):.1f} |"
        )
    print(
        f"| sign-in (argon2, production profile) | {len(logins)} | "
        f"{statistics.median(logins):.1f} | {percentile(logins, 0.95):.1f} | {max(logins):.1f} |"
    )
    if failures:
        print(f"\n{len(failures)} sign-in(s) did not answer 200: {sorted(set(failures))}")
        return 1
    ratio = statistics.median(busy) / statistics.median(quiet)
    print()
    print(f"GET p50 during sign-ins / alone: {ratio:.2f}x (before the fix: 7.6 ms -> 1.4 s, ~180x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
