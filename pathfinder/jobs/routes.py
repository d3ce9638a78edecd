"""``GET /api/v1/admin/jobs``: every job, its schedule, next run and latest runs."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.auth.policy import requires
from pathfinder.jobs.responses import JobList
from pathfinder.jobs.status import job_overview

bp = Blueprint("jobs", __name__)


@bp.get("/admin/jobs")
@requires("admin")
@contract(responses={200: JobList}, tags=("jobs",))
def list_jobs() -> ResponseReturnValue:
    """Jobs with their last runs, next run time and the scheduler's current leader."""
    return jsonify(job_overview(current_app._get_current_object())), 200  # type: ignore[attr-defined]
