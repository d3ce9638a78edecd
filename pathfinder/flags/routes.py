"""``/api/v1/me/flags`` and ``/api/v1/admin/flags/...``: parse, authorise, call, serialise."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.fields import segment_converter
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.flags import service
from pathfinder.flags.responses import (
    Flag,
    FlagEvaluations,
    FlagOverride,
    FlagOverridePage,
    FlagPage,
)
from pathfinder.flags.schemas import (
    FLAG_KEY_MAX_LENGTH,
    FLAG_KEY_PATTERN,
    FlagCreate,
    FlagListQuery,
    FlagUpdate,
    OverrideCreate,
    OverrideListQuery,
    OverrideUpdate,
)

bp = Blueprint("flags", __name__)

FlagKeyConverter = segment_converter(
    FLAG_KEY_PATTERN,
    max_length=FLAG_KEY_MAX_LENGTH,
    example="new_dashboard",
    doc="``<flag_key:flag_key>``: a segment that can be a flag's key.",
)


@bp.get("/me/flags")
@requires("user")
@contract(responses={200: FlagEvaluations}, tags=("flags",))
def my_flags() -> ResponseReturnValue:
    """Every flag's value for me, and why (override, group, rollout, default ...)."""
    return jsonify(service.my_flags(caller())), 200


@bp.get("/admin/flags")
@requires("admin")
@contract(query=FlagListQuery, responses={200: FlagPage}, tags=("flags",))
def list_flags() -> ResponseReturnValue:
    """Flag definitions, by key, a page at a time."""
    return jsonify(service.list_flags(parse_query(FlagListQuery))), 200


@bp.post("/admin/flags")
@requires("admin")
@contract(body=FlagCreate, responses={201: Flag}, tags=("flags",), links={"flag_key": "/flag_key"})
def create_flag() -> ResponseReturnValue:
    """Define a new flag."""
    return jsonify(service.create_flag(caller(), parse_body(FlagCreate))), 201


@bp.get("/admin/flags/<flag_key:flag_key>")
@requires("admin")
@contract(responses={200: Flag}, tags=("flags",))
def get_flag(flag_key: str) -> ResponseReturnValue:
    """One flag's definition."""
    return jsonify(service.get_flag(flag_key)), 200


@bp.patch("/admin/flags/<flag_key:flag_key>")
@requires("admin")
@contract(body=FlagUpdate, responses={200: Flag}, tags=("flags",))
def update_flag(flag_key: str) -> ResponseReturnValue:
    """Change a flag (value, rollout, window, allowed values, on/off)."""
    return jsonify(service.update_flag(caller(), flag_key, parse_body(FlagUpdate))), 200


@bp.delete("/admin/flags/<flag_key:flag_key>")
@requires("admin")
@contract(responses={204: None}, tags=("flags",))
def delete_flag(flag_key: str) -> ResponseReturnValue:
    """Delete a flag and its overrides (never a system flag)."""
    service.delete_flag(caller(), flag_key)
    return "", 204


@bp.get("/admin/flags/<flag_key:flag_key>/overrides")
@requires("admin")
@contract(query=OverrideListQuery, responses={200: FlagOverridePage}, tags=("flags",))
def list_overrides(flag_key: str) -> ResponseReturnValue:
    """A flag's user and group overrides."""
    return jsonify(service.list_overrides(flag_key, parse_query(OverrideListQuery))), 200


@bp.post("/admin/flags/<flag_key:flag_key>/overrides")
@requires("admin")
@contract(
    body=OverrideCreate,
    responses={201: FlagOverride},
    tags=("flags",),
    links={"override_id": "/id"},
)
def create_override(flag_key: str) -> ResponseReturnValue:
    """Override a flag for one user or one group, with a reason and optional expiry."""
    body = parse_body(OverrideCreate)
    return jsonify(service.create_override(caller(), flag_key, body)), 201


@bp.get("/admin/flags/<flag_key:flag_key>/overrides/<id:override_id>")
@requires("admin")
@contract(responses={200: FlagOverride}, tags=("flags",))
def get_override(flag_key: str, override_id: str) -> ResponseReturnValue:
    """One override of a flag."""
    return jsonify(service.get_override(flag_key, override_id)), 200


@bp.patch("/admin/flags/<flag_key:flag_key>/overrides/<id:override_id>")
@requires("admin")
@contract(body=OverrideUpdate, responses={200: FlagOverride}, tags=("flags",))
def update_override(flag_key: str, override_id: str) -> ResponseReturnValue:
    """Change an override's value, reason or expiry."""
    body = parse_body(OverrideUpdate)
    return jsonify(service.update_override(caller(), flag_key, override_id, body)), 200


@bp.delete("/admin/flags/<flag_key:flag_key>/overrides/<id:override_id>")
@requires("admin")
@contract(responses={204: None}, tags=("flags",))
def delete_override(flag_key: str, override_id: str) -> ResponseReturnValue:
    """Remove an override."""
    service.delete_override(caller(), flag_key, override_id)
    return "", 204
