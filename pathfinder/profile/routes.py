"""``/api/v1/me`` and ``/api/v1/me/preferences``."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.ratelimit import rate_limited
from pathfinder.api.validation import parse_body
from pathfinder.auth import email_change
from pathfinder.auth.policy import requires
from pathfinder.auth.responses import AuthEmailChangePending
from pathfinder.auth.routes import caller, request_meta
from pathfinder.auth.schemas import EmailChangeRequest
from pathfinder.profile import service
from pathfinder.profile.responses import Profile, ProfilePreferences
from pathfinder.profile.schemas import PreferencesUpdate, ProfileUpdate

bp = Blueprint("profile", __name__)


@bp.get("/me")
@requires("user")
@contract(responses={200: Profile}, tags=("profile",))
def get_me() -> ResponseReturnValue:
    """My profile."""
    return jsonify(service.get_profile(caller())), 200


@bp.patch("/me")
@requires("user")
@contract(body=ProfileUpdate, responses={200: Profile}, tags=("profile",))
def patch_me() -> ResponseReturnValue:
    """Change my profile fields (only those sent)."""
    return jsonify(service.update_profile(caller(), parse_body(ProfileUpdate))), 200


@bp.post("/me/email")
@requires("user")
@contract(body=EmailChangeRequest, responses={202: AuthEmailChangePending}, tags=("profile",))
@rate_limited("RATELIMIT_PASSWORD_RESET")
def change_email() -> ResponseReturnValue:
    """Ask to move my account to a new address: confirmed by a link sent there, the old
    address is told. Needs my current password."""
    body = parse_body(EmailChangeRequest)
    pending = email_change.request_change(caller(), body.new_email, body.password, request_meta())
    return jsonify(pending), 202


@bp.get("/me/preferences")
@requires("user")
@contract(responses={200: ProfilePreferences}, tags=("profile",))
def get_preferences() -> ResponseReturnValue:
    """My preference documents."""
    return jsonify(service.get_preferences(caller())), 200


@bp.put("/me/preferences")
@requires("user")
@contract(body=PreferencesUpdate, responses={200: ProfilePreferences}, tags=("profile",))
def put_preferences() -> ResponseReturnValue:
    """Replace my preference documents."""
    return jsonify(service.put_preferences(caller(), parse_body(PreferencesUpdate))), 200
