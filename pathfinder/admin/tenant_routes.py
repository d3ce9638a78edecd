"""``/api/v1/admin/tenants...``: the provisioning registry for admins and DBAs.

Reading the registry needs ``admin``; verify and repair are tenant operations, for
``site_admin``. The rules are the provisioning engine's (:mod:`pathfinder.admin.tenants`).
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.admin import tenants
from pathfinder.admin.responses import (
    AdminTenantDetail,
    AdminTenantDrift,
    AdminTenantMigrationStatus,
    AdminTenantPage,
)
from pathfinder.admin.schemas import TenantListQuery
from pathfinder.api.contract import contract
from pathfinder.api.fields import segment_converter
from pathfinder.api.validation import parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.schema.naming import USERNAME_MAX_LENGTH

# Any case: a username is matched case-insensitively (`Alice` is `alice`).
UsernameConverter = segment_converter(
    f"^[A-Za-z][A-Za-z0-9_]{{2,{USERNAME_MAX_LENGTH - 1}}}$",
    max_length=USERNAME_MAX_LENGTH,
    example="alice_smith",
    doc="``<username:username>``: a segment that can be a username (3-30 characters).",
)
bp = Blueprint("tenants", __name__)


@bp.get("/admin/tenants")
@requires("admin")
@contract(query=TenantListQuery, responses={200: AdminTenantPage}, tags=("admin",))
def list_tenants() -> ResponseReturnValue:
    """The provisioning registry by username: state, template version, last error."""
    return jsonify(tenants.list_tenants(parse_query(TenantListQuery))), 200


@bp.get("/admin/tenants/migration-status")
@requires("admin")
@contract(responses={200: AdminTenantMigrationStatus}, tags=("admin",))
def migration_status() -> ResponseReturnValue:
    """Ready users per template version and how many still need `pathfinder tenants migrate`."""
    return jsonify(tenants.migration_status()), 200


@bp.get("/admin/tenants/<username:username>")
@requires("admin")
@contract(responses={200: AdminTenantDetail}, tags=("admin",))
def get_tenant(username: str) -> ResponseReturnValue:
    """One user's registry row and the objects the engine created for them."""
    return jsonify(tenants.tenant_detail(username)), 200


@bp.post("/admin/tenants/<username:username>/verify")
@requires("site_admin")
@contract(responses={200: AdminTenantDrift}, tags=("admin",))
def verify_tenant(username: str) -> ResponseReturnValue:
    """Compare the user's tables with the template and the registry (changes nothing)."""
    return jsonify(tenants.verify(username)), 200


@bp.post("/admin/tenants/<username:username>/repair")
@requires("site_admin")
@contract(responses={200: AdminTenantDrift}, tags=("admin",))
def repair_tenant(username: str) -> ResponseReturnValue:
    """Create what is missing and reconcile the registry (never drops); audited."""
    return jsonify(tenants.repair(caller(), username)), 200
