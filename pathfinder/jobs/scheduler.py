"""``pathfinder scheduler``: APScheduler in its own process, leading only with the lease.

The main loop renews the lease every third of its length. While it leads, a background
APScheduler runs the registered jobs on their schedules (coalesced, one instance at a time,
each through :func:`run_job`, which also takes the job's own lock). The leader also seals the
audit log every ``AUDIT_SEAL_INTERVAL_SECONDS`` (:mod:`pathfinder.audit.sealer`). A process
that does not hold the lease logs that it is a standby and keeps trying; when the leader
dies, the lease expires and a standby starts scheduling within one lease length.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from pathfinder.db import get_database
from pathfinder.jobs import lease
from pathfinder.jobs.registry import load_jobs, schedule_for
from pathfinder.jobs.runner import holder_id, run_job

log = logging.getLogger("pathfinder.scheduler")


class SchedulerProcess:
    """One scheduler process: standby until it holds the lease, leader while it does."""

    def __init__(self, app: Flask, *, lease_seconds: float | None = None) -> None:
        self.app = app
        seconds = lease_seconds or float(app.config.get("SCHEDULER_LEASE_SECONDS", 60))
        self.ttl = timedelta(seconds=seconds)
        self.holder = holder_id()
        self.stop_event = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self.role = "starting"

    def _set_role(self, role: str) -> None:
        if role != self.role:
            log.info("scheduler %s is now %s", self.holder, role)
            print(f"scheduler {self.holder}: {role}", flush=True)
            self.role = role

    def _start_jobs(self) -> None:
        scheduler = BackgroundScheduler(timezone="UTC")
        for name, job_ in load_jobs().items():
            trigger_args: dict[str, Any] = dict(schedule_for(self.app, job_))
            trigger = trigger_args.pop("trigger", "interval")
            scheduler.add_job(
                run_job,
                trigger,
                args=[self.app, name],
                kwargs={"trigger": "scheduler", "holder": self.holder},
                id=name,
                name=name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=300,
                replace_existing=True,
                **trigger_args,
            )
        interval = float(self.app.config.get("AUDIT_SEAL_INTERVAL_SECONDS", 5))
        if interval > 0:
            # Frequent and cheap, so not through run_job: a run record every few seconds
            # would bury the others. Failures are logged; `jobs run audit_seal` records.
            scheduler.add_job(
                self._seal_audit_log,
                "interval",
                seconds=interval,
                id="audit_seal_interval",
                name="audit_seal_interval",
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        scheduler.start()
        self.scheduler = scheduler

    def _seal_audit_log(self) -> None:
        from pathfinder import audit

        try:
            with self.app.app_context():
                report = audit.seal(get_database(self.app), self.app.config)
        except Exception:  # noqa: BLE001 - logged; the next interval tries again
            log.exception("audit seal failed")
            return
        if report.rows:
            log.info("audit sealed %d row(s); tree size %d", report.rows, report.tree_size)

    def _stop_jobs(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    def step(self) -> str:
        """Renew or try to take the lease once, start or stop scheduling; return the role."""
        with self.app.app_context():
            leading = lease.try_acquire(get_database(self.app), self.holder, self.ttl)
        if leading and self.scheduler is None:
            self._start_jobs()
        if not leading and self.scheduler is not None:
            self._stop_jobs()
        self._set_role("leader" if leading else "standby")
        return self.role

    def run_forever(self) -> None:
        """Loop until SIGTERM/SIGINT; release the lease on a clean stop."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        interval = max(self.ttl.total_seconds() / 3, 0.2)
        try:
            while not self.stop_event.is_set():
                try:
                    self.step()
                except Exception:  # noqa: BLE001 - a database blip must not kill the process
                    log.exception("scheduler lease step failed; retrying")
                    self._stop_jobs()
                    self._set_role("standby")
                self.stop_event.wait(interval)
        finally:
            self._stop_jobs()
            with self.app.app_context():
                lease.release(get_database(self.app), self.holder)
