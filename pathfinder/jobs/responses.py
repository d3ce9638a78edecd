"""Response body of ``GET /api/v1/admin/jobs``.

Declared here so the OpenAPI document shows what an administrator sees of each job and of
the scheduler's lease, and the suite (``CHECK_CONTRACTS``) fails when a run row starts
exposing a column such as the run's lock holder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field

from pathfinder.api.contract import ResponseModel
from pathfinder.schema.shared.jobs import JOB_OUTCOMES

JobOutcome = Literal["running", "succeeded", "failed", "skipped"]

# Spelled out for type checkers; it must not drift from the table's CHECK.
if get_args(JobOutcome) != JOB_OUTCOMES:
    raise RuntimeError("pathfinder.jobs.responses is out of step with the pf_job_runs CHECK")


class JobRun(ResponseModel):
    """One run of a job (``pf_job_runs``), without the process that held its lock."""

    id: str
    job_name: str
    triggered_by: Literal["scheduler", "cli"] = Field(
        description="`scheduler`, or `cli` for a run started with `pathfinder jobs run`."
    )
    started_at: datetime
    finished_at: datetime | None = Field(description="Null while the run is in progress.")
    outcome: JobOutcome
    rows_touched: int | None
    error: str | None = Field(description="Exception type and message of a failed run.")
    details: dict[str, Any] | None


class JobState(ResponseModel):
    name: str
    description: str
    schedule: dict[str, Any] = Field(
        description="APScheduler trigger arguments: `trigger` (`interval` or `cron`) and its "
        'fields, e.g. `{"trigger": "interval", "hours": 1}`.'
    )
    next_run_at: datetime | None
    last_runs: list[JobRun] = Field(description="Up to five latest runs, newest first.")


class SchedulerLease(ResponseModel):
    """Which scheduler process currently runs the jobs (one leader among the instances)."""

    holder: str | None = Field(description="Leader's id (host and process); null when none.")
    lease_expires_at: datetime | None


class JobList(ResponseModel):
    items: list[JobState]
    scheduler: SchedulerLease
