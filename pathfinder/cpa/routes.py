"""``/api/v1/cpa/...``: parse, authorise, call the service, serialise. Nothing else.

Every route is the caller's own (``@requires("user")``): services only ever see the
caller's rows, and another user's report, experience or submission answers 404. A route
with a resource in its path checks that resource before reporting a bad body or query, so
a request about something that is not yours is 404 whatever it carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from pathfinder.api.contract import Media, Rule, contract
from pathfinder.api.errors import Problem
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.cpa import drafts, experiences, service, submissions, tracking
from pathfinder.cpa.exports import MEDIA_TYPES
from pathfinder.cpa.paging import CpaPageQuery
from pathfinder.cpa.responses import (
    CpaActivity,
    CpaDraft,
    CpaDraftPromotion,
    CpaDraftSummary,
    CpaExperience,
    CpaExperienceDetail,
    CpaExperienceVersion,
    CpaFramework,
    CpaMilestone,
    CpaPage,
    CpaProgress,
    CpaReport,
    CpaReportChecked,
    CpaReportDetail,
    CpaSubmission,
    CpaSubmissionEvent,
    CpaSubmissionStatusChanged,
    CpaSubmissionSummary,
    CpaTimeEntry,
    CpaTimeEntryChanged,
    CpaTimeEntryPage,
)
from pathfinder.cpa.schemas import (
    ActivityCreate,
    ActivityUpdate,
    CpaExperienceCreate,
    CpaExperienceUpdate,
    DraftCreate,
    DraftListQuery,
    DraftPromote,
    DraftUpdate,
    ExperienceReview,
    ExperienceVersionQuery,
    ExportQuery,
    FrameworkQuery,
    MilestoneQuery,
    ProgressQuery,
    ReportCreate,
    ReportUpdate,
    RestoreRequest,
    SubmissionCreate,
    SubmissionStatusChange,
    TimeEntryCreate,
    TimeEntryUpdate,
    VersionQuery,
)

bp = Blueprint("cpa", __name__)
M = TypeVar("M", bound=BaseModel)

PROGRESS = ("cpa-progress",)
REPORTS = ("cpa-reports",)
EXPERIENCES = ("cpa-experiences",)
TRACKING = ("cpa-activities-and-time",)
SUBMISSIONS = ("cpa-submissions",)
DRAFTS = ("cpa-drafts",)
EXPORT_FILE = Media(
    MEDIA_TYPES["json"],
    "The submission as a download in the `format` asked for: JSON (metadata, checksum and "
    "the canonical payload the checksum covers), PDF or DOCX.",
    alternatives=(MEDIA_TYPES["pdf"], MEDIA_TYPES["docx"]),
)


def _checked(parse: Callable[[type[M]], M], model: type[M], exists: Callable[[], None]) -> M:
    """Parse; when the input is bad, answer 404 first if the resource is not the caller's."""
    try:
        return parse(model)
    except Problem as exc:
        if exc.status in (400, 422):
            exists()
        raise


def body_for(model: type[M], exists: Callable[[], None]) -> M:
    return _checked(parse_body, model, exists)


def query_for(model: type[M], exists: Callable[[], None]) -> M:
    return _checked(parse_query, model, exists)


# -- framework, progress, milestones -----------------------------------------------------------


@bp.get("/cpa/framework")
@requires("user")
@contract(query=FrameworkQuery, responses={200: CpaFramework}, tags=PROGRESS)
def get_framework() -> ResponseReturnValue:
    """The competency framework (default: the one in force today)."""
    query = parse_query(FrameworkQuery)
    return jsonify(service.get_framework(query.version)), 200


@bp.get("/cpa/progress")
@requires("user")
@contract(query=ProgressQuery, responses={200: CpaProgress}, tags=PROGRESS)
def get_progress() -> ResponseReturnValue:
    """My progress toward the PER: duration, core/depth/breadth, enabling, deadlines."""
    return jsonify(service.progress(caller(), parse_query(ProgressQuery))), 200


@bp.get("/cpa/milestones")
@requires("user")
@contract(query=MilestoneQuery, responses={200: CpaPage[CpaMilestone]}, tags=PROGRESS)
def list_milestones() -> ResponseReturnValue:
    """When each competency first reached a level (self-assessed and reviewer-confirmed)."""
    return jsonify(service.list_milestones(caller(), parse_query(MilestoneQuery))), 200


# -- reports -----------------------------------------------------------------------------------


@bp.get("/cpa/reports")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaReport]}, tags=REPORTS)
def list_reports() -> ResponseReturnValue:
    """My report periods in date order."""
    return jsonify(service.list_reports(caller(), parse_query(CpaPageQuery))), 200


@bp.post("/cpa/reports")
@requires("user")
@contract(
    body=ReportCreate, responses={201: CpaReportChecked}, tags=REPORTS, links={"report_id": "/id"}
)
def create_report() -> ResponseReturnValue:
    """A new report period (409 when it overlaps one of mine)."""
    return jsonify(service.create_report(caller(), parse_body(ReportCreate))), 201


@bp.get("/cpa/reports/<id:report_id>")
@requires("user")
@contract(responses={200: CpaReportDetail}, tags=REPORTS)
def get_report(report_id: str) -> ResponseReturnValue:
    """One of my reports, with its period warnings and experience count."""
    return jsonify(service.get_report(caller(), report_id)), 200


@bp.patch("/cpa/reports/<id:report_id>")
@requires("user")
@contract(body=ReportUpdate, responses={200: CpaReportChecked}, tags=REPORTS)
def update_report(report_id: str) -> ResponseReturnValue:
    """Change a report (`version` required; 409 when stale)."""
    principal = caller()
    body = body_for(ReportUpdate, lambda: service.report_exists(principal, report_id))
    return jsonify(service.update_report(principal, report_id, body)), 200


@bp.delete("/cpa/reports/<id:report_id>")
@requires("user")
@contract(query=VersionQuery, responses={204: None}, tags=REPORTS)
def delete_report(report_id: str) -> ResponseReturnValue:
    """Delete a draft report (`?version=` required)."""
    principal = caller()
    query = query_for(VersionQuery, lambda: service.report_exists(principal, report_id))
    service.delete_report(principal, report_id, query.version)
    return "", 204


# -- experiences -------------------------------------------------------------------------------


@bp.get("/cpa/reports/<id:report_id>/experiences")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaExperience]}, tags=EXPERIENCES)
def list_experiences(report_id: str) -> ResponseReturnValue:
    """The current version of each experience in one of my reports."""
    principal = caller()
    query = query_for(CpaPageQuery, lambda: service.report_exists(principal, report_id))
    return jsonify(experiences.list_experiences(principal, report_id, query)), 200


@bp.post("/cpa/reports/<id:report_id>/experiences")
@requires("user")
@contract(
    body=CpaExperienceCreate,
    responses={201: CpaExperience},
    tags=EXPERIENCES,
    links={"experience_id": "/id"},
)
def create_experience(report_id: str) -> ResponseReturnValue:
    """Add an experience write-up to one of my editable reports (version 1)."""
    principal = caller()
    body = body_for(CpaExperienceCreate, lambda: service.report_exists(principal, report_id))
    return jsonify(experiences.create_experience(principal, report_id, body)), 201


@bp.get("/cpa/experiences/<id:experience_id>")
@requires("user")
@contract(responses={200: CpaExperienceDetail}, tags=EXPERIENCES)
def get_experience(experience_id: str) -> ResponseReturnValue:
    """One version (current or not) of one of my experiences, texts opened."""
    return jsonify(experiences.get_experience(caller(), experience_id)), 200


@bp.patch("/cpa/experiences/<id:experience_id>")
@requires("user")
@contract(body=CpaExperienceUpdate, responses={200: CpaExperience}, tags=EXPERIENCES)
def update_experience(experience_id: str) -> ResponseReturnValue:
    """Edit: writes a new version (`version_number` required; 409 when stale)."""
    principal = caller()
    body = body_for(
        CpaExperienceUpdate, lambda: experiences.experience_exists(principal, experience_id)
    )
    return jsonify(experiences.update_experience(principal, experience_id, body)), 200


@bp.delete("/cpa/experiences/<id:experience_id>")
@requires("user")
@contract(query=ExperienceVersionQuery, responses={204: None}, tags=EXPERIENCES)
def delete_experience(experience_id: str) -> ResponseReturnValue:
    """Remove an experience from its report (`?version_number=` required)."""
    principal = caller()
    query = query_for(
        ExperienceVersionQuery, lambda: experiences.experience_exists(principal, experience_id)
    )
    experiences.delete_experience(principal, experience_id, query.version_number)
    return "", 204


@bp.get("/cpa/experiences/<id:experience_id>/versions")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaExperienceVersion]}, tags=EXPERIENCES)
def list_versions(experience_id: str) -> ResponseReturnValue:
    """Every version of an experience, newest first (metadata and counts)."""
    principal = caller()
    query = query_for(CpaPageQuery, lambda: experiences.experience_exists(principal, experience_id))
    return jsonify(experiences.list_versions(principal, experience_id, query)), 200


@bp.post("/cpa/experiences/<id:experience_id>/restore")
@requires("user")
@contract(body=RestoreRequest, responses={201: CpaExperience}, tags=EXPERIENCES)
def restore_version(experience_id: str) -> ResponseReturnValue:
    """Make this (older) version current again, as a new version."""
    principal = caller()
    body = body_for(RestoreRequest, lambda: experiences.experience_exists(principal, experience_id))
    return jsonify(experiences.restore_version(principal, experience_id, body.version_number)), 201


@bp.post("/cpa/experiences/<id:experience_id>/review")
@requires("user")
@contract(body=ExperienceReview, responses={200: CpaExperience}, tags=EXPERIENCES)
def review_experience(experience_id: str) -> ResponseReturnValue:
    """Record the reviewer's assessment (kept apart from the self-assessed level)."""
    principal = caller()
    body = body_for(
        ExperienceReview, lambda: experiences.experience_exists(principal, experience_id)
    )
    return jsonify(experiences.review_experience(principal, experience_id, body)), 200


# -- activities and time -----------------------------------------------------------------------


@bp.get("/cpa/experiences/<id:experience_id>/activities")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaActivity]}, tags=TRACKING)
def list_activities(experience_id: str) -> ResponseReturnValue:
    """The activities breaking down an experience, in their sort order."""
    principal = caller()
    query = query_for(CpaPageQuery, lambda: experiences.experience_exists(principal, experience_id))
    return jsonify(tracking.list_activities(principal, experience_id, query)), 200


@bp.post("/cpa/experiences/<id:experience_id>/activities")
@requires("user")
@contract(
    body=ActivityCreate, responses={201: CpaActivity}, tags=TRACKING, links={"activity_id": "/id"}
)
def create_activity(experience_id: str) -> ResponseReturnValue:
    """Add an activity to an experience's breakdown."""
    principal = caller()
    body = body_for(ActivityCreate, lambda: experiences.experience_exists(principal, experience_id))
    return jsonify(tracking.create_activity(principal, experience_id, body)), 201


@bp.get("/cpa/activities/<id:activity_id>")
@requires("user")
@contract(responses={200: CpaActivity}, tags=TRACKING)
def get_activity(activity_id: str) -> ResponseReturnValue:
    """One activity of an experience's breakdown."""
    return jsonify(tracking.get_activity(caller(), activity_id)), 200


@bp.patch("/cpa/activities/<id:activity_id>")
@requires("user")
@contract(body=ActivityUpdate, responses={200: CpaActivity}, tags=TRACKING)
def update_activity(activity_id: str) -> ResponseReturnValue:
    """Change an activity of an experience's breakdown."""
    principal = caller()
    body = body_for(ActivityUpdate, lambda: tracking.activity_exists(principal, activity_id))
    return jsonify(tracking.update_activity(principal, activity_id, body)), 200


@bp.delete("/cpa/activities/<id:activity_id>")
@requires("user")
@contract(responses={204: None}, tags=TRACKING)
def delete_activity(activity_id: str) -> ResponseReturnValue:
    """Delete an activity of an experience's breakdown."""
    tracking.delete_activity(caller(), activity_id)
    return "", 204


@bp.get("/cpa/experiences/<id:experience_id>/time-entries")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaTimeEntryPage}, tags=TRACKING)
def list_time_entries(experience_id: str) -> ResponseReturnValue:
    """An experience's daily time entries by date, with its totals."""
    principal = caller()
    query = query_for(CpaPageQuery, lambda: experiences.experience_exists(principal, experience_id))
    return jsonify(tracking.list_time_entries(principal, experience_id, query)), 200


@bp.post("/cpa/experiences/<id:experience_id>/time-entries")
@requires("user")
@contract(
    body=TimeEntryCreate,
    responses={201: CpaTimeEntryChanged},
    tags=TRACKING,
    links={"entry_id": "/id"},
)
def create_time_entry(experience_id: str) -> ResponseReturnValue:
    """Log time on an experience for one day (409 when that day has an entry)."""
    principal = caller()
    body = body_for(
        TimeEntryCreate, lambda: experiences.experience_exists(principal, experience_id)
    )
    return jsonify(tracking.create_time_entry(principal, experience_id, body)), 201


@bp.get("/cpa/time-entries/<id:entry_id>")
@requires("user")
@contract(responses={200: CpaTimeEntry}, tags=TRACKING)
def get_time_entry(entry_id: str) -> ResponseReturnValue:
    """One time entry."""
    return jsonify(tracking.get_time_entry(caller(), entry_id)), 200


@bp.patch("/cpa/time-entries/<id:entry_id>")
@requires("user")
@contract(body=TimeEntryUpdate, responses={200: CpaTimeEntryChanged}, tags=TRACKING)
def update_time_entry(entry_id: str) -> ResponseReturnValue:
    """Change a time entry; the answer carries the experience's new totals."""
    principal = caller()
    body = body_for(TimeEntryUpdate, lambda: tracking.time_entry_exists(principal, entry_id))
    return jsonify(tracking.update_time_entry(principal, entry_id, body)), 200


@bp.delete("/cpa/time-entries/<id:entry_id>")
@requires("user")
@contract(responses={204: None}, tags=TRACKING)
def delete_time_entry(entry_id: str) -> ResponseReturnValue:
    """Delete a time entry."""
    tracking.delete_time_entry(caller(), entry_id)
    return "", 204


# -- submissions -------------------------------------------------------------------------------


@bp.get("/cpa/reports/<id:report_id>/submissions")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaSubmissionSummary]}, tags=SUBMISSIONS)
def list_submissions(report_id: str) -> ResponseReturnValue:
    """The submissions of one of my reports (without their contents)."""
    principal = caller()
    query = query_for(CpaPageQuery, lambda: service.report_exists(principal, report_id))
    return jsonify(submissions.list_submissions(principal, report_id, query)), 200


@bp.post("/cpa/reports/<id:report_id>/submissions")
@requires("user")
@contract(
    body=SubmissionCreate,
    responses={201: CpaSubmission},
    tags=SUBMISSIONS,
    links={"submission_id": "/id"},
    rules=(
        Rule(
            "report",
            "has at least one experience, each within the configured character limit",
        ),
    ),
)
def create_submission(report_id: str) -> ResponseReturnValue:
    """Freeze the report into a submission with its SHA-256 (nothing is sent anywhere)."""
    principal = caller()
    body = body_for(SubmissionCreate, lambda: service.report_exists(principal, report_id))
    return jsonify(submissions.create_submission(principal, report_id, body)), 201


@bp.get("/cpa/submissions/<id:submission_id>")
@requires("user")
@contract(responses={200: CpaSubmission}, tags=SUBMISSIONS)
def get_submission(submission_id: str) -> ResponseReturnValue:
    """One of my submissions, with the experiences frozen into it."""
    return jsonify(submissions.get_submission(caller(), submission_id)), 200


@bp.delete("/cpa/submissions/<id:submission_id>")
@requires("user")
@contract(responses={204: None}, tags=SUBMISSIONS)
def delete_submission(submission_id: str) -> ResponseReturnValue:
    """Delete a draft snapshot (a final submission is immutable: 409)."""
    submissions.delete_submission(caller(), submission_id)
    return "", 204


@bp.post("/cpa/submissions/<id:submission_id>/status")
@requires("user")
@contract(
    body=SubmissionStatusChange, responses={200: CpaSubmissionStatusChanged}, tags=SUBMISSIONS
)
def change_submission_status(submission_id: str) -> ResponseReturnValue:
    """Record the review outcome the provincial body gave, or a withdrawal."""
    principal = caller()
    body = body_for(
        SubmissionStatusChange, lambda: submissions.submission_exists(principal, submission_id)
    )
    return jsonify(submissions.change_status(principal, submission_id, body)), 200


@bp.get("/cpa/submissions/<id:submission_id>/history")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaSubmissionEvent]}, tags=SUBMISSIONS)
def list_submission_history(submission_id: str) -> ResponseReturnValue:
    """The status changes of one of my submissions, oldest first."""
    principal = caller()
    query = query_for(CpaPageQuery, lambda: submissions.submission_exists(principal, submission_id))
    return jsonify(submissions.list_history(principal, submission_id, query)), 200


@bp.get("/cpa/submissions/<id:submission_id>/export")
@requires("user")
@contract(query=ExportQuery, responses={200: EXPORT_FILE}, tags=SUBMISSIONS)
def export_submission(submission_id: str) -> ResponseReturnValue:
    """The submission as JSON (canonical payload and checksum), PDF or DOCX."""
    principal = caller()
    query = query_for(ExportQuery, lambda: submissions.submission_exists(principal, submission_id))
    content, media_type, filename = submissions.export_submission(
        principal, submission_id, query.format
    )
    response = Response(content, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# -- drafts ------------------------------------------------------------------------------------


@bp.get("/cpa/drafts")
@requires("user")
@contract(query=DraftListQuery, responses={200: CpaPage[CpaDraftSummary]}, tags=DRAFTS)
def list_drafts() -> ResponseReturnValue:
    """My drafts, newest first, without their texts."""
    return jsonify(drafts.list_drafts(caller(), parse_query(DraftListQuery))), 200


@bp.post("/cpa/drafts")
@requires("user")
@contract(body=DraftCreate, responses={201: CpaDraft}, tags=DRAFTS, links={"draft_id": "/id"})
def create_draft() -> ResponseReturnValue:
    """A new draft write-up for any competency (the limit is shown, not enforced)."""
    return jsonify(drafts.create_draft(caller(), parse_body(DraftCreate))), 201


@bp.get("/cpa/drafts/<id:draft_id>")
@requires("user")
@contract(responses={200: CpaDraft}, tags=DRAFTS)
def get_draft(draft_id: str) -> ResponseReturnValue:
    """One of my drafts, texts opened and counted."""
    return jsonify(drafts.get_draft(caller(), draft_id)), 200


@bp.patch("/cpa/drafts/<id:draft_id>")
@requires("user")
@contract(body=DraftUpdate, responses={200: CpaDraft}, tags=DRAFTS)
def update_draft(draft_id: str) -> ResponseReturnValue:
    """Change a draft."""
    principal = caller()
    body = body_for(DraftUpdate, lambda: drafts.draft_exists(principal, draft_id))
    return jsonify(drafts.update_draft(principal, draft_id, body)), 200


@bp.delete("/cpa/drafts/<id:draft_id>")
@requires("user")
@contract(responses={204: None}, tags=DRAFTS)
def delete_draft(draft_id: str) -> ResponseReturnValue:
    """Delete a draft."""
    drafts.delete_draft(caller(), draft_id)
    return "", 204


@bp.post("/cpa/drafts/<id:draft_id>/promote")
@requires("user")
@contract(
    body=DraftPromote,
    responses={201: CpaDraftPromotion},
    tags=DRAFTS,
    links={"experience_id": "/experience/id"},
)
def promote_draft(draft_id: str) -> ResponseReturnValue:
    """Copy a draft into a report as a new experience (all experience rules apply)."""
    principal = caller()
    body = body_for(DraftPromote, lambda: drafts.draft_exists(principal, draft_id))
    return jsonify(drafts.promote_draft(principal, draft_id, body)), 201
