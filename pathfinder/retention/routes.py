"""``/api/v1/admin/retention-policies``: read (admins) and change (site admins)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.validation import parse_body
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.db import get_database
from pathfinder.retention import service
from pathfinder.retention.responses import RetentionPolicyList
from pathfinder.retention.schemas import RetentionPoliciesUpdate

bp = Blueprint("retention", __name__)


@bp.get("/admin/retention-policies")
@requires("admin")
@contract(responses={200: RetentionPolicyList}, tags=("admin",))
def list_policies() -> ResponseReturnValue:
    """Every retention policy: table, age, action, whether it is active, its last run."""
    return jsonify(service.list_policies(get_database())), 200


@bp.put("/admin/retention-policies")
@requires("site_admin")
@contract(body=RetentionPoliciesUpdate, responses={200: RetentionPolicyList}, tags=("admin",))
def update_policies() -> ResponseReturnValue:
    """Change the days, action or activity of existing policies (all or none); audited."""
    body = parse_body(RetentionPoliciesUpdate)
    return jsonify(service.update_policies(get_database(), caller(), body)), 200
