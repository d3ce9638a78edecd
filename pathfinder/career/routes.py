"""``/api/v1/me/...`` career routes: parse, authorise, call the service, serialise.

Every route is the caller's own data (``@requires("user")``); an id of anything that is not
the caller's answers 404. Routes with an id in the path accept an empty body (``{}``), so
the existence check (404) is never pre-empted by a body validation error (422).
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.career import archive, service, summary_service
from pathfinder.career.responses import (
    CareerArchivedExperience,
    CareerArchivePage,
    CareerExperience,
    CareerExperienceBatch,
    CareerExperiencePage,
    CareerExperienceSkillPage,
    CareerProfileSummary,
    CareerQuickSummary,
    CareerSkill,
    CareerSkillExtraction,
    CareerSkillPage,
    CareerSkillsSummary,
    CareerTotals,
)
from pathfinder.career.schemas import (
    ArchiveQuery,
    ArchiveRequest,
    BulkExperienceCreate,
    DuplicateRequest,
    ExperienceCreate,
    ExperienceQuery,
    ExperienceUpdate,
    ExtractSkillsRequest,
    QuickSummaryUpdate,
    SkillCreate,
    SkillQuery,
    SkillsSummaryQuery,
    SkillUpdate,
)

bp = Blueprint("career", __name__)


# -- experiences -------------------------------------------------------------------------------


@bp.get("/me/experiences")
@requires("user")
@contract(query=ExperienceQuery, responses={200: CareerExperiencePage}, tags=("experiences",))
def list_experiences() -> ResponseReturnValue:
    """My experiences, newest first; filter by company, title text, skill, date range."""
    return jsonify(service.list_experiences(caller(), parse_query(ExperienceQuery))), 200


@bp.post("/me/experiences")
@requires("user")
@contract(
    body=ExperienceCreate,
    responses={201: CareerExperience},
    tags=("experiences",),
    links={"career_experience_id": "/id"},
)
def create_experience() -> ResponseReturnValue:
    """Add an experience."""
    return jsonify(service.create_experience(caller(), parse_body(ExperienceCreate))), 201


@bp.post("/me/experiences/bulk")
@requires("user")
@contract(body=BulkExperienceCreate, responses={201: CareerExperienceBatch}, tags=("experiences",))
def bulk_create_experiences() -> ResponseReturnValue:
    """Add up to 50 experiences at once: all are created, or (any invalid) none."""
    items = service.bulk_create(caller(), parse_body(BulkExperienceCreate))
    return jsonify({"items": items}), 201


@bp.get("/me/experiences/<id:career_experience_id>")
@requires("user")
@contract(responses={200: CareerExperience}, tags=("experiences",))
def get_experience(career_experience_id: str) -> ResponseReturnValue:
    """One of my experiences."""
    return jsonify(service.get_experience(caller(), career_experience_id)), 200


@bp.patch("/me/experiences/<id:career_experience_id>")
@requires("user")
@contract(body=ExperienceUpdate, responses={200: CareerExperience}, tags=("experiences",))
def update_experience(career_experience_id: str) -> ResponseReturnValue:
    """Change the fields sent (`null` clears an optional one)."""
    body = parse_body(ExperienceUpdate)
    return jsonify(service.update_experience(caller(), career_experience_id, body)), 200


@bp.delete("/me/experiences/<id:career_experience_id>")
@requires("user")
@contract(responses={204: None}, tags=("experiences",))
def delete_experience(career_experience_id: str) -> ResponseReturnValue:
    """Delete an experience and the skills tied to it."""
    service.delete_experience(caller(), career_experience_id)
    return "", 204


@bp.post("/me/experiences/<id:career_experience_id>/duplicate")
@requires("user")
@contract(
    body=DuplicateRequest,
    responses={201: CareerExperience},
    tags=("experiences",),
    body_required=False,
    links={"career_experience_id": "/id"},
)
def duplicate_experience(career_experience_id: str) -> ResponseReturnValue:
    """Copy an experience (optionally a new title; skills copied unless told not to)."""
    body = parse_body(DuplicateRequest)
    return jsonify(service.duplicate_experience(caller(), career_experience_id, body)), 201


@bp.post("/me/experiences/<id:career_experience_id>/extract-skills")
@requires("user")
@contract(
    body=ExtractSkillsRequest,
    responses={200: CareerSkillExtraction},
    tags=("experiences",),
    body_required=False,
)
def extract_skills(career_experience_id: str) -> ResponseReturnValue:
    """Find catalogued skills in the experience's text; `save` (default) adds new ones."""
    body = parse_body(ExtractSkillsRequest)
    return jsonify(service.extract_skills(caller(), career_experience_id, save=body.save)), 200


@bp.get("/me/experiences/<id:career_experience_id>/skills")
@requires("user")
@contract(query=SkillQuery, responses={200: CareerExperienceSkillPage}, tags=("experiences",))
def experience_skills(career_experience_id: str) -> ResponseReturnValue:
    """The skills tied to one experience, paginated."""
    query = parse_query(SkillQuery)
    return jsonify(service.experience_skills(caller(), career_experience_id, query)), 200


@bp.post("/me/experiences/<id:career_experience_id>/archive")
@requires("user")
@contract(
    body=ArchiveRequest,
    responses={200: CareerArchivedExperience},
    tags=("archive",),
    body_required=False,
    links={"archive_id": "/id"},
)
def archive_experience(career_experience_id: str) -> ResponseReturnValue:
    """Move an experience into my archive (its skills stay, as standalone skills)."""
    body = parse_body(ArchiveRequest)
    return jsonify(archive.archive_experience(caller(), career_experience_id, body.reason)), 200


# -- archive -----------------------------------------------------------------------------------


@bp.get("/me/experiences/archive")
@requires("user")
@contract(query=ArchiveQuery, responses={200: CareerArchivePage}, tags=("archive",))
def list_archived() -> ResponseReturnValue:
    """My archived experiences, most recently archived first."""
    return jsonify(archive.list_archived(caller(), parse_query(ArchiveQuery))), 200


@bp.get("/me/experiences/archive/<id:archive_id>")
@requires("user")
@contract(responses={200: CareerArchivedExperience}, tags=("archive",))
def get_archived(archive_id: str) -> ResponseReturnValue:
    """One archived experience."""
    return jsonify(archive.get_archived(caller(), archive_id)), 200


@bp.post("/me/experiences/archive/<id:archive_id>/restore")
@requires("user")
@contract(responses={200: CareerExperience}, tags=("archive",))
def restore_archived(archive_id: str) -> ResponseReturnValue:
    """Move an archived experience back into my experiences (same id)."""
    return jsonify(archive.restore_experience(caller(), archive_id)), 200


# -- skills ------------------------------------------------------------------------------------


@bp.get("/me/skills")
@requires("user")
@contract(query=SkillQuery, responses={200: CareerSkillPage}, tags=("skills",))
def list_skills() -> ResponseReturnValue:
    """My skills by name; filter by text, category, experience, standalone."""
    return jsonify(service.list_skills(caller(), parse_query(SkillQuery))), 200


@bp.post("/me/skills")
@requires("user")
@contract(
    body=SkillCreate, responses={201: CareerSkill}, tags=("skills",), links={"skill_id": "/id"}
)
def create_skill() -> ResponseReturnValue:
    """Add a skill, standalone or tied to one of my experiences (`experience_id`)."""
    return jsonify(service.create_skill(caller(), parse_body(SkillCreate))), 201


@bp.get("/me/skills/summary")
@requires("user")
@contract(query=SkillsSummaryQuery, responses={200: CareerSkillsSummary}, tags=("skills",))
def skills_summary() -> ResponseReturnValue:
    """Per skill across my career: total years (overlaps once), last used; ranked."""
    query = parse_query(SkillsSummaryQuery)
    return jsonify(
        summary_service.skills_summary(caller(), limit=query.limit, offset=query.offset)
    ), 200


@bp.get("/me/skills/<id:skill_id>")
@requires("user")
@contract(responses={200: CareerSkill}, tags=("skills",))
def get_skill(skill_id: str) -> ResponseReturnValue:
    """One of my skills."""
    return jsonify(service.get_skill(caller(), skill_id)), 200


@bp.patch("/me/skills/<id:skill_id>")
@requires("user")
@contract(body=SkillUpdate, responses={200: CareerSkill}, tags=("skills",))
def update_skill(skill_id: str) -> ResponseReturnValue:
    """Change the fields sent (`experience_id: null` makes it standalone)."""
    return jsonify(service.update_skill(caller(), skill_id, parse_body(SkillUpdate))), 200


@bp.delete("/me/skills/<id:skill_id>")
@requires("user")
@contract(responses={204: None}, tags=("skills",))
def delete_skill(skill_id: str) -> ResponseReturnValue:
    """Delete one of my skills."""
    service.delete_skill(caller(), skill_id)
    return "", 204


# -- summaries ---------------------------------------------------------------------------------


@bp.get("/me/profile/summary")
@requires("user")
@contract(responses={200: CareerProfileSummary}, tags=("summaries",))
def profile_summary() -> ResponseReturnValue:
    """Tier 2: my career profile (years, industries, top skills, highlights)."""
    return jsonify(summary_service.get_profile_summary(caller())), 200


@bp.get("/me/profile/quick")
@requires("user")
@contract(responses={200: CareerQuickSummary}, tags=("summaries",))
def quick_summary() -> ResponseReturnValue:
    """Tier 3: my headline, current role, years and key strengths."""
    return jsonify(summary_service.get_quick_summary(caller())), 200


@bp.patch("/me/profile/quick")
@requires("user")
@contract(body=QuickSummaryUpdate, responses={200: CareerQuickSummary}, tags=("summaries",))
def update_quick_summary() -> ResponseReturnValue:
    """Set or clear my career objective (the rest of tier 3 is computed)."""
    body = parse_body(QuickSummaryUpdate)
    return jsonify(summary_service.set_career_objective(caller(), body.career_objective)), 200


@bp.get("/me/career-summary")
@requires("user")
@contract(responses={200: CareerTotals}, tags=("summaries",))
def career_summary() -> ResponseReturnValue:
    """Totals over my experiences (the `career_summary` view)."""
    return jsonify(summary_service.career_summary(caller())), 200
