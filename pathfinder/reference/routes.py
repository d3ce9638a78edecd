"""``/api/v1/ref/...``: the skills catalogue and career paths; admins curate them.

Reading needs a signed-in user. There is deliberately no user-level route with an id in its
path: reference rows are shared, and every user-level ``<id>`` route in the API names a
resource of the caller's own (another user's id answers 404). Clients find one entry with
the ``q``/``key`` filters instead.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.reference import service
from pathfinder.reference.responses import (
    RefCareerPath,
    RefCareerPathPage,
    RefSkill,
    RefSkillCategoryList,
    RefSkillPage,
)
from pathfinder.reference.schemas import (
    CareerPathCreate,
    CareerPathQuery,
    CareerPathUpdate,
    SkillCatalogCreate,
    SkillCatalogQuery,
    SkillCatalogUpdate,
)

bp = Blueprint("reference", __name__)


@bp.get("/ref/skills")
@requires("user")
@contract(query=SkillCatalogQuery, responses={200: RefSkillPage}, tags=("reference",))
def list_skills() -> ResponseReturnValue:
    """Search the skills catalogue (`q` in names and aliases, `category`); paginated."""
    return jsonify(service.list_skills(parse_query(SkillCatalogQuery))), 200


@bp.get("/ref/skills/categories")
@requires("user")
@contract(responses={200: RefSkillCategoryList}, tags=("reference",))
def list_skill_categories() -> ResponseReturnValue:
    """Catalogue categories with the number of active skills in each."""
    return jsonify(service.list_categories()), 200


@bp.post("/ref/skills")
@requires("admin")
@contract(
    body=SkillCatalogCreate,
    responses={201: RefSkill},
    tags=("reference",),
    links={"ref_skill_id": "/id"},
)
def create_skill() -> ResponseReturnValue:
    """Add a catalogue entry; its name and aliases must not belong to another entry."""
    return jsonify(service.create_skill(caller(), parse_body(SkillCatalogCreate))), 201


@bp.get("/ref/skills/<id:ref_skill_id>")
@requires("user")
@contract(responses={200: RefSkill}, tags=("reference",))
def get_skill(ref_skill_id: str) -> ResponseReturnValue:
    """One entry of the skills catalogue."""
    return jsonify(service.get_skill(ref_skill_id)), 200


@bp.patch("/ref/skills/<id:ref_skill_id>")
@requires("admin")
@contract(body=SkillCatalogUpdate, responses={200: RefSkill}, tags=("reference",))
def update_skill(ref_skill_id: str) -> ResponseReturnValue:
    """Change a catalogue entry (deactivate with `is_active: false`)."""
    body = parse_body(SkillCatalogUpdate)
    return jsonify(service.update_skill(caller(), ref_skill_id, body)), 200


@bp.delete("/ref/skills/<id:ref_skill_id>")
@requires("admin")
@contract(responses={204: None}, tags=("reference",))
def delete_skill(ref_skill_id: str) -> ResponseReturnValue:
    """Remove a catalogue entry."""
    service.delete_skill(caller(), ref_skill_id)
    return "", 204


@bp.get("/ref/career-paths")
@requires("user")
@contract(query=CareerPathQuery, responses={200: RefCareerPathPage}, tags=("reference",))
def list_career_paths() -> ResponseReturnValue:
    """Career paths with their ordered stages (`q` search, `key` for one); paginated."""
    return jsonify(service.list_career_paths(parse_query(CareerPathQuery))), 200


@bp.post("/ref/career-paths")
@requires("admin")
@contract(
    body=CareerPathCreate,
    responses={201: RefCareerPath},
    tags=("reference",),
    links={"career_path_id": "/id"},
)
def create_career_path() -> ResponseReturnValue:
    """Add a career path."""
    return jsonify(service.create_career_path(caller(), parse_body(CareerPathCreate))), 201


@bp.get("/ref/career-paths/<id:career_path_id>")
@requires("user")
@contract(responses={200: RefCareerPath}, tags=("reference",))
def get_career_path(career_path_id: str) -> ResponseReturnValue:
    """One career path."""
    return jsonify(service.get_career_path(career_path_id)), 200


@bp.patch("/ref/career-paths/<id:career_path_id>")
@requires("admin")
@contract(body=CareerPathUpdate, responses={200: RefCareerPath}, tags=("reference",))
def update_career_path(career_path_id: str) -> ResponseReturnValue:
    """Change a career path."""
    body = parse_body(CareerPathUpdate)
    return jsonify(service.update_career_path(caller(), career_path_id, body)), 200


@bp.delete("/ref/career-paths/<id:career_path_id>")
@requires("admin")
@contract(responses={204: None}, tags=("reference",))
def delete_career_path(career_path_id: str) -> ResponseReturnValue:
    """Remove a career path."""
    service.delete_career_path(caller(), career_path_id)
    return "", 204
