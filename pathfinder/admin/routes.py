"""``/api/v1/admin/...`` routes of the identity work: role changes (site admins only)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.admin import service
from pathfinder.api.validation import parse_body
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller, request_meta
from pathfinder.auth.schemas import RoleChangeRequest

bp = Blueprint("admin", __name__)


@bp.put("/admin/users/<user_id>/role")
@requires("site_admin")
def change_role(user_id: str) -> ResponseReturnValue:
    """Promote or demote a user (never the last site admin)."""
    body = parse_body(RoleChangeRequest)
    return jsonify(service.change_role(caller(), user_id, body.role, request_meta())), 200
