"""``/api/v1/admin/...``: users, roles, groups, invitations, the deletion queue, exports.

Parse, authorise, call the service, serialise; nothing else. Every route needs ``admin``
or ``site_admin``; which admin may act on which account is the services' rule.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from pathfinder.admin import deletion, export, groups, invitations, service, users
from pathfinder.admin.responses import (
    AccountExportLink,
    AdminDeletionQueuePage,
    AdminDeletionReport,
    AdminGroupDetail,
    AdminGroupMembersAdded,
    AdminGroupPage,
    AdminInvitation,
    AdminInvitationBatch,
    AdminInvitationPage,
    AdminPasswordReset,
    AdminRoleChange,
    AdminSessionsEnded,
    AdminUser,
    AdminUserPage,
)
from pathfinder.admin.schemas import (
    AdminDeletion,
    DeletionQueueQuery,
    GroupAssignment,
    GroupCreate,
    GroupListQuery,
    GroupMembers,
    GroupUpdate,
    InvitationBatch,
    InvitationListQuery,
    OptionalReason,
    PhoneVerification,
    ReasonRequest,
    ResendRequest,
    UserListQuery,
)
from pathfinder.api.contract import Media, Rule, contract
from pathfinder.api.validation import ValidationProblem, parse_body, parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller, request_meta
from pathfinder.auth.schemas import RoleChangeRequest

bp = Blueprint("admin", __name__)


# -- users --------------------------------------------------------------------------------


@bp.get("/admin/users")
@requires("admin")
@contract(query=UserListQuery, responses={200: AdminUserPage}, tags=("admin",))
def list_users() -> ResponseReturnValue:
    """Search accounts by username, e-mail or name; filter by status, role, group."""
    return jsonify(users.list_users(parse_query(UserListQuery))), 200


@bp.get("/admin/users/<id:user_id>")
@requires("admin")
@contract(responses={200: AdminUser}, tags=("admin",))
def get_user(user_id: str) -> ResponseReturnValue:
    """One account with its activity, lockout and session count."""
    return jsonify(users.get_user(user_id)), 200


@bp.put("/admin/users/<id:user_id>/role")
@requires("site_admin")
@contract(body=RoleChangeRequest, responses={200: AdminRoleChange}, tags=("admin",))
def change_role(user_id: str) -> ResponseReturnValue:
    """Promote or demote a user (never the last site admin)."""
    body = parse_body(RoleChangeRequest)
    return jsonify(service.change_role(caller(), user_id, body.role, request_meta())), 200


@bp.post("/admin/users/<id:user_id>/suspend")
@requires("admin")
@contract(body=ReasonRequest, responses={200: AdminUser}, tags=("admin",))
def suspend_user(user_id: str) -> ResponseReturnValue:
    """Suspend an account (with a reason); its sessions end at once."""
    body = parse_body(ReasonRequest)
    return jsonify(users.suspend(caller(), user_id, body.reason)), 200


@bp.post("/admin/users/<id:user_id>/reactivate")
@requires("admin")
@contract(body=OptionalReason, responses={200: AdminUser}, tags=("admin",), body_required=False)
def reactivate_user(user_id: str) -> ResponseReturnValue:
    """Let a suspended or locked account sign in again."""
    body = parse_body(OptionalReason)
    return jsonify(users.reactivate(caller(), user_id, body.reason)), 200


@bp.post("/admin/users/<id:user_id>/phone-verification")
@requires("admin")
@contract(body=PhoneVerification, responses={200: AdminUser}, tags=("admin",))
def verify_phone(user_id: str) -> ResponseReturnValue:
    """Record that support confirmed the account's current phone number by calling it."""
    body = parse_body(PhoneVerification)
    return jsonify(users.verify_phone(caller(), user_id, body.phone_number)), 200


@bp.post("/admin/users/<id:user_id>/password-reset")
@requires("admin")
@contract(body=ReasonRequest, responses={200: AdminPasswordReset}, tags=("admin",))
def force_password_reset(user_id: str) -> ResponseReturnValue:
    """Void the password, end sessions, e-mail a reset link (with a reason)."""
    body = parse_body(ReasonRequest)
    return jsonify(users.force_password_reset(caller(), user_id, body.reason)), 200


@bp.delete("/admin/users/<id:user_id>/sessions")
@requires("admin")
@contract(
    body=OptionalReason,
    responses={200: AdminSessionsEnded},
    tags=("admin",),
    body_required=False,
)
def revoke_user_sessions(user_id: str) -> ResponseReturnValue:
    """Sign an account out of every device."""
    body = parse_body(OptionalReason)
    return jsonify(users.revoke_sessions(caller(), user_id, body.reason)), 200


@bp.put("/admin/users/<id:user_id>/group")
@requires("admin")
@contract(body=GroupAssignment, responses={200: AdminUser}, tags=("admin",))
def assign_group(user_id: str) -> ResponseReturnValue:
    """Put an account in a feature group (`null`: the default group)."""
    body = parse_body(GroupAssignment)
    return jsonify(users.assign_group(caller(), user_id, body.group_id)), 200


@bp.post("/admin/users/<id:user_id>/export")
@requires("admin")
@contract(body=ReasonRequest, responses={201: AccountExportLink}, tags=("admin",))
def export_user(user_id: str) -> ResponseReturnValue:
    """Produce a user's GDPR export on their request (audited, with the reason)."""
    body = parse_body(ReasonRequest)
    return jsonify(export.export_on_request(caller(), user_id, body.reason).as_json()), 201


@bp.delete("/admin/users/<id:user_id>")
@requires("site_admin")
@contract(body=AdminDeletion, responses={200: AdminDeletionReport}, tags=("admin",))
def delete_user(user_id: str) -> ResponseReturnValue:
    """Erase an account now, without the cooling-off (username typed again, reason)."""
    body = parse_body(AdminDeletion)
    return jsonify(deletion.delete_now(caller(), user_id, body.confirm_username, body.reason)), 200


@bp.get("/admin/deletions")
@requires("admin")
@contract(query=DeletionQueueQuery, responses={200: AdminDeletionQueuePage}, tags=("admin",))
def deletion_queue() -> ResponseReturnValue:
    """Accounts with a scheduled deletion, soonest first."""
    return jsonify(deletion.deletion_queue(parse_query(DeletionQueueQuery))), 200


# -- invitations --------------------------------------------------------------------------


@bp.get("/admin/invitations")
@requires("admin")
@contract(query=InvitationListQuery, responses={200: AdminInvitationPage}, tags=("admin",))
def list_invitations() -> ResponseReturnValue:
    """Invitations, newest first, by status (pending, accepted, expired, revoked)."""
    return jsonify(invitations.list_invitations(parse_query(InvitationListQuery))), 200


@bp.post("/admin/invitations")
@requires("admin")
@contract(
    body=InvitationBatch,
    responses={201: AdminInvitationBatch},
    tags=("admin",),
    links={"invitation_id": "/created/0/id"},
)
def create_invitations() -> ResponseReturnValue:
    """Invite up to 100 addresses; each gets its link by e-mail (never in the answer)."""
    body = parse_body(InvitationBatch)
    return jsonify(invitations.create_invitations(caller(), body.invitations)), 201


@bp.post("/admin/invitations/csv")
@requires("admin")
@contract(
    body=Media(
        "text/csv",
        "CSV with a header row: `email` (required), `role`, `group` (a group's name) or "
        "`feature_group_id`, `expires_in_days`.",
        alternatives=("multipart/form-data",),
    ),
    responses={201: AdminInvitationBatch},
    tags=("admin",),
    rules=(
        Rule(
            "file",
            "UTF-8 text of at most 64 KiB without NUL, a header row with an `email` column "
            "and only the columns above, 1 to 100 invitations",
        ),
        Rule("rows.*", "a row has no more fields than the header"),
        Rule("rows.*.*", "each row's fields are valid as in `POST /admin/invitations`"),
    ),
)
def upload_invitations() -> ResponseReturnValue:
    """Invite from a CSV file (`text/csv` body or multipart field `file`)."""
    if (request.content_length or 0) > invitations.MAX_CSV_BYTES * 2:
        raise ValidationProblem(
            "The CSV file is too large.", errors=[{"field": "file", "message": "too large"}]
        )
    upload = request.files.get("file")
    data = upload.read(invitations.MAX_CSV_BYTES + 1) if upload else request.get_data()
    items = invitations.parse_csv(data)
    return jsonify(invitations.create_invitations(caller(), items)), 201


@bp.post("/admin/invitations/<id:invitation_id>/revoke")
@requires("admin")
@contract(responses={200: AdminInvitation}, tags=("admin",))
def revoke_invitation(invitation_id: str) -> ResponseReturnValue:
    """Revoke a pending invitation."""
    return jsonify(invitations.revoke_invitation(caller(), invitation_id)), 200


@bp.post("/admin/invitations/<id:invitation_id>/resend")
@requires("admin")
@contract(
    body=ResendRequest, responses={200: AdminInvitation}, tags=("admin",), body_required=False
)
def resend_invitation(invitation_id: str) -> ResponseReturnValue:
    """Send an invitation again with a new token and expiry."""
    body = parse_body(ResendRequest)
    return jsonify(
        invitations.resend_invitation(caller(), invitation_id, body.expires_in_days)
    ), 200


# -- groups -------------------------------------------------------------------------------


@bp.get("/admin/groups")
@requires("admin")
@contract(query=GroupListQuery, responses={200: AdminGroupPage}, tags=("admin",))
def list_groups() -> ResponseReturnValue:
    """Feature groups by name."""
    return jsonify(groups.list_groups(parse_query(GroupListQuery))), 200


@bp.post("/admin/groups")
@requires("admin")
@contract(
    body=GroupCreate, responses={201: AdminGroupDetail}, tags=("admin",), links={"group_id": "/id"}
)
def create_group() -> ResponseReturnValue:
    """Create a group (optionally the default one)."""
    return jsonify(groups.create_group(caller(), parse_body(GroupCreate))), 201


@bp.get("/admin/groups/<id:group_id>")
@requires("admin")
@contract(responses={200: AdminGroupDetail}, tags=("admin",))
def get_group(group_id: str) -> ResponseReturnValue:
    """One group with its member count."""
    return jsonify(groups.get_group(group_id)), 200


@bp.patch("/admin/groups/<id:group_id>")
@requires("admin")
@contract(body=GroupUpdate, responses={200: AdminGroupDetail}, tags=("admin",))
def update_group(group_id: str) -> ResponseReturnValue:
    """Rename, re-prioritise or make a group the default."""
    return jsonify(groups.update_group(caller(), group_id, parse_body(GroupUpdate))), 200


@bp.delete("/admin/groups/<id:group_id>")
@requires("admin")
@contract(responses={204: None}, tags=("admin",))
def delete_group(group_id: str) -> ResponseReturnValue:
    """Delete a group; its members fall back to the default group."""
    groups.delete_group(caller(), group_id)
    return "", 204


@bp.post("/admin/groups/<id:group_id>/members")
@requires("admin")
@contract(body=GroupMembers, responses={200: AdminGroupMembersAdded}, tags=("admin",))
def add_group_members(group_id: str) -> ResponseReturnValue:
    """Assign up to 100 users to a group."""
    body = parse_body(GroupMembers)
    return jsonify(groups.add_members(caller(), group_id, body.user_ids)), 200
