"""The account lifecycle seen by its owner and by invitees.

``/api/v1/invitations/<token>`` (public: look up, accept), ``/api/v1/me/deletion`` (schedule,
see, cancel), ``/api/v1/me/export`` and the one-time download ``/api/v1/exports/<token>``
(public: the link is the credential, like a signed URL; it works once and expires).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify, send_file
from flask.typing import ResponseReturnValue

from pathfinder.admin import deletion, export, invitations
from pathfinder.admin.responses import (
    AccountDeletionStatus,
    AccountExportLink,
    InvitationDeclined,
    InvitationPreview,
)
from pathfinder.admin.schemas import AcceptInvitation, DeletionRequest
from pathfinder.api.contract import Media, contract
from pathfinder.api.ratelimit import rate_limited
from pathfinder.api.validation import parse_body
from pathfinder.auth.policy import public, requires
from pathfinder.auth.responses import AuthTokens
from pathfinder.auth.routes import caller, request_meta
from pathfinder.db import get_database

bp = Blueprint("account", __name__)

EXPORT_FILE = Media(
    "application/json",
    "The export: a JSON document, or a zip holding it (`pathfinder-export.json`) when the "
    "link's `format` is `zip`.",
    alternatives=("application/zip",),
)


@bp.get("/invitations/<token:token>")
@public
@contract(responses={200: InvitationPreview}, tags=("invitations",))
def invitation(token: str) -> ResponseReturnValue:
    """Is this invitation usable? Shows the invited address and the inviter's name only."""
    return jsonify(invitations.lookup(token)), 200


@bp.post("/invitations/<token:token>/decline")
@public
@contract(responses={200: InvitationDeclined}, tags=("invitations",))
@rate_limited("RATELIMIT_REGISTER")
def decline_invitation(token: str) -> ResponseReturnValue:
    """Turn the invitation down; the link stops working and the inviter sees it declined."""
    return jsonify(invitations.decline(token)), 200


@bp.post("/invitations/<token:token>/accept")
@public
@contract(body=AcceptInvitation, responses={201: AuthTokens}, tags=("invitations",))
@rate_limited("RATELIMIT_REGISTER")
def accept_invitation(token: str) -> ResponseReturnValue:
    """Register through the invitation (its address, role and group) and sign in."""
    body = parse_body(AcceptInvitation)
    tokens = invitations.accept(token, body, request_meta())
    return jsonify(tokens.as_json()), 201


@bp.get("/me/deletion")
@requires("user")
@contract(responses={200: AccountDeletionStatus}, tags=("account",))
def my_deletion() -> ResponseReturnValue:
    """Whether my account's deletion is scheduled, and for when."""
    return jsonify(deletion.deletion_status(caller())), 200


@bp.post("/me/deletion")
@requires("user")
@contract(body=DeletionRequest, responses={202: AccountDeletionStatus}, tags=("account",))
def schedule_my_deletion() -> ResponseReturnValue:
    """Schedule my account's deletion after the cooling-off period (password required)."""
    body = parse_body(DeletionRequest)
    return jsonify(deletion.schedule_deletion(caller(), body.password)), 202


@bp.delete("/me/deletion")
@requires("user")
@contract(responses={200: AccountDeletionStatus}, tags=("account",))
def cancel_my_deletion() -> ResponseReturnValue:
    """Cancel my scheduled deletion."""
    return jsonify(deletion.cancel_deletion(caller())), 200


@bp.post("/me/export")
@requires("user")
@contract(responses={201: AccountExportLink}, tags=("account",))
def export_me() -> ResponseReturnValue:
    """Everything held about me, as a one-time, expiring download link."""
    return jsonify(export.export_mine(caller()).as_json()), 201


@bp.get("/exports/<token:token>")
@public
@contract(responses={200: EXPORT_FILE}, tags=("account",))
def download_export(token: str) -> ResponseReturnValue:
    """Download an export once; the link then stops working."""
    download = export.claim_download(get_database(), token)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    response = send_file(
        download.handle,
        mimetype=download.media_type,
        as_attachment=True,
        download_name=f"pathfinder-export-{stamp}.{download.format}",
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
