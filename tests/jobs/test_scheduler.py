"""Two ``pathfinder scheduler`` processes: one leader, one standby; kill the leader and the
standby takes over within the lease time."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

from pathfinder.db import Database
from pathfinder.jobs import lease

LEASE_SECONDS = 1.5


def start_scheduler(db: Database) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = dict(os.environ)
    env["PATHFINDER_DATABASE_URL"] = db.settings.url
    env["PATHFINDER_INSTANCE_PATH"] = str(db.settings.instance_path)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pathfinder.cli",
            "scheduler",
            "--lease-seconds",
            str(LEASE_SECONDS),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def wait_for_role(lines: queue.Queue[str], role: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if line.endswith(f": {role}"):
            return True
    return False


def test_one_leader_one_standby_and_failover(db: Database) -> None:
    first, first_lines = start_scheduler(db)
    try:
        assert wait_for_role(first_lines, "leader", timeout=30), "first scheduler never led"
        second, second_lines = start_scheduler(db)
        try:
            assert wait_for_role(second_lines, "standby", timeout=30)
            holder, _ = lease.current_holder(db)
            assert holder is not None and f":{first.pid}:" in holder

            first.send_signal(signal.SIGKILL)  # no clean release: the lease must expire
            first.wait(timeout=10)
            killed_at = time.monotonic()
            assert wait_for_role(second_lines, "leader", timeout=LEASE_SECONDS * 4 + 5)
            took = time.monotonic() - killed_at
            assert took <= LEASE_SECONDS * 2 + 2, took
            holder, _ = lease.current_holder(db)
            assert holder is not None and f":{second.pid}:" in holder
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=20)
            close(second)
        # A clean stop releases the lease at once.
        assert lease.current_holder(db)[0] is None
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
        close(first)


def close(process: subprocess.Popen[str]) -> None:
    if process.stdout is not None:
        process.stdout.close()
