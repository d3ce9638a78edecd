"""Jobs: schedules, next and last runs, the scheduler's leader, and "run now"."""

from __future__ import annotations

from flask import current_app, render_template, url_for
from flask.typing import ResponseReturnValue

from pathfinder.console.actions import run_action
from pathfinder.console.blueprint import bp, page, principal
from pathfinder.console.forms import FormErrors
from pathfinder.jobs.runner import UnknownJob
from pathfinder.jobs.status import job_overview, run_now


def _jobs_page(errors: dict[str, dict[str, str]], status: int) -> ResponseReturnValue:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return render_template("console/jobs.html", overview=job_overview(app), errors=errors), status


@bp.get("/jobs", endpoint="jobs")
@page("admin")
def jobs_page() -> ResponseReturnValue:
    """Every job with its schedule, next run and last five runs."""
    return _jobs_page({}, 200)


@bp.post("/jobs/<name>/run")
@page("site_admin")
def run_job(name: str) -> ResponseReturnValue:
    """Run a job once now, in this request (as ``pathfinder jobs run NAME`` does)."""

    def action() -> object:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            return run_now(app, principal(), name)
        except UnknownJob:
            raise FormErrors({"": f"No job is called {name}."}) from None

    def done(record: object) -> str:
        outcome = getattr(record, "outcome", "")
        return url_for("console.jobs", notice=f"{name}: {outcome}.")

    return run_action(action, form=name, done=done, redraw=_jobs_page)
