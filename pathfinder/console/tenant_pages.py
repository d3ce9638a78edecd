"""Tenants: the provisioning registry with filters, one user's objects, verify and repair
(site admins), and the template migration's progress."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue

from pathfinder.admin import tenants as tenant_admin
from pathfinder.admin.schemas import TenantListQuery
from pathfinder.api.errors import Problem
from pathfinder.console.blueprint import bp, page, principal
from pathfinder.console.forms import FormErrors, parse, problem_errors

STATES = ("requested", "creating", "ready", "failed", "deprovisioning", "dropped")


@bp.get("/tenants", endpoint="tenants")
@page("admin")
def tenants_page() -> ResponseReturnValue:
    """The registry: state, template version, attempts and last error, filtered."""
    keys = ("state", "below_version", "q", "cursor")
    args = {k: v for k, v in request.args.items() if v and k in keys}
    errors: dict[str, str] = {}
    try:
        found = tenant_admin.list_tenants(parse(TenantListQuery, {**args, "limit": 50}))
    except FormErrors as exc:
        errors, found = exc.errors, {"items": [], "next_cursor": None}
    return render_template(
        "console/tenants.html",
        found=found,
        args=args,
        errors=errors,
        states=STATES,
        migration=tenant_admin.migration_status(),
    ), (422 if errors else 200)


def _tenant_page(
    username: str, *, drift: dict[str, Any] | None, action: str | None, errors: dict[str, str]
) -> ResponseReturnValue:
    return render_template(
        "console/tenant.html",
        tenant=tenant_admin.tenant_detail(username),
        drift=drift,
        action=action,
        errors=errors,
    )


@bp.get("/tenants/<username>")
@page("admin")
def tenant(username: str) -> ResponseReturnValue:
    """One user's registry row and objects."""
    return _tenant_page(username, drift=None, action=None, errors={})


@bp.post("/tenants/<username>/verify")
@page("site_admin")
def verify_tenant(username: str) -> ResponseReturnValue:
    """Verify now and show the findings on the page (verify changes nothing)."""
    try:
        drift = tenant_admin.verify(username)
    except Problem as exc:
        return _tenant_page(username, drift=None, action=None, errors=problem_errors(exc))
    return _tenant_page(username, drift=drift, action="verify", errors={})


@bp.post("/tenants/<username>/repair")
@page("site_admin")
def repair_tenant(username: str) -> ResponseReturnValue:
    """Repair (create what is missing, never drop) and show what is left."""
    if request.form.get("confirm") != "yes":
        errors = {"confirm": "Tick the box to confirm."}
        return _tenant_page(username, drift=None, action=None, errors=errors), 422
    try:
        drift = tenant_admin.repair(principal(), username)
    except Problem as exc:
        return _tenant_page(username, drift=None, action=None, errors=problem_errors(exc))
    return _tenant_page(username, drift=drift, action="repair", errors={})
