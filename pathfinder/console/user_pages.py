"""Users: search, one account (activity, sessions, lockout), and what admins do to it."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from pathfinder.admin import deletion, groups, service
from pathfinder.admin import users as user_admin
from pathfinder.admin.schemas import (
    AdminDeletion,
    DeletionQueueQuery,
    GroupAssignment,
    GroupListQuery,
    OptionalReason,
    ReasonRequest,
    UserListQuery,
)
from pathfinder.audit import search
from pathfinder.auth.schemas import RoleChangeRequest
from pathfinder.console.actions import run_action
from pathfinder.console.blueprint import bp, page, principal, request_meta
from pathfinder.console.forms import FormErrors, confirmed, parse, text

STATUSES = ("active", "suspended", "locked", "pending_verification", "pending_deletion")
ROLES = ("user", "admin", "site_admin")


def _group_options() -> list[tuple[str, str]]:
    items = groups.list_groups(GroupListQuery(limit=100))["items"]
    return [(g["id"], g["name"] + (" (default)" if g["is_default"] else "")) for g in items]


@bp.get("/users")
@page("admin")
def users() -> ResponseReturnValue:
    """Search accounts by username, e-mail or name; filter by status, role and group."""
    args = {k: v for k, v in request.args.items() if v and k in ("q", "status", "role", "cursor")}
    errors: dict[str, str] = {}
    try:
        found = user_admin.list_users(parse(UserListQuery, {**args, "limit": 25}))
    except FormErrors as exc:
        errors, found = exc.errors, {"items": [], "next_cursor": None}
    return render_template(
        "console/users.html",
        found=found,
        args=args,
        errors=errors,
        statuses=STATUSES,
        roles=ROLES,
    ), (422 if errors else 200)


def _user_page(user_id: str, errors: dict[str, dict[str, str]], status: int) -> ResponseReturnValue:
    account = user_admin.get_user(user_id)
    activity = search.search(search.AuditFilter(user_id=user_id), cursor=None, limit=15)
    return render_template(
        "console/user.html",
        user=account,
        sessions=user_admin.live_sessions(user_id),
        activity=activity["items"],
        group_options=_group_options(),
        role_options=[(r, r) for r in ROLES],
        errors=errors,
    ), status


@bp.get("/users/<user_id>")
@page("admin")
def user(user_id: str) -> ResponseReturnValue:
    """One account: profile, activity, live sessions, lockout, and the admin actions."""
    return _user_page(user_id, {}, 200)


def _act(user_id: str, form: str, action: Any, done: str) -> ResponseReturnValue:
    return run_action(
        action,
        form=form,
        done=lambda _result: url_for("console.user", user_id=user_id, notice=done),
        redraw=lambda errors, status: _user_page(user_id, errors, status),
    )


@bp.post("/users/<user_id>/suspend")
@page("admin")
def suspend_user(user_id: str) -> ResponseReturnValue:
    def action() -> Any:
        confirmed(request.form)
        body = parse(ReasonRequest, {"reason": text(request.form, "reason") or ""})
        return user_admin.suspend(principal(), user_id, body.reason)

    return _act(user_id, "suspend", action, "The account is suspended; its sessions ended.")


@bp.post("/users/<user_id>/reactivate")
@page("admin")
def reactivate_user(user_id: str) -> ResponseReturnValue:
    def action() -> Any:
        body = parse(OptionalReason, {"reason": text(request.form, "reason")})
        return user_admin.reactivate(principal(), user_id, body.reason)

    return _act(user_id, "reactivate", action, "The account is active again.")


@bp.post("/users/<user_id>/password-reset")
@page("admin")
def force_reset(user_id: str) -> ResponseReturnValue:
    def action() -> Any:
        confirmed(request.form)
        body = parse(ReasonRequest, {"reason": text(request.form, "reason") or ""})
        return user_admin.force_password_reset(principal(), user_id, body.reason)

    return _act(user_id, "reset", action, "The password is void; a reset link was e-mailed.")


@bp.post("/users/<user_id>/sessions")
@page("admin")
def end_sessions(user_id: str) -> ResponseReturnValue:
    def action() -> Any:
        confirmed(request.form)
        body = parse(OptionalReason, {"reason": text(request.form, "reason")})
        return user_admin.revoke_sessions(principal(), user_id, body.reason)

    return _act(user_id, "sessions", action, "Every session of the account has ended.")


@bp.post("/users/<user_id>/group")
@page("admin")
def assign_group(user_id: str) -> ResponseReturnValue:
    def action() -> Any:
        body = parse(GroupAssignment, {"group_id": text(request.form, "group_id")})
        return user_admin.assign_group(principal(), user_id, body.group_id)

    return _act(user_id, "group", action, "The group is changed.")


@bp.post("/users/<user_id>/role")
@page("site_admin")
def change_role(user_id: str) -> ResponseReturnValue:
    def action() -> Any:
        confirmed(request.form)
        body = parse(RoleChangeRequest, {"role": request.form.get("role", "")})
        return service.change_role(principal(), user_id, body.role, request_meta())

    return _act(user_id, "role", action, "The role is changed.")


@bp.post("/users/<user_id>/delete")
@page("site_admin")
def delete_user(user_id: str) -> ResponseReturnValue:
    def action() -> Any:
        confirmed(request.form)
        body = parse(
            AdminDeletion,
            {
                "confirm_username": request.form.get("confirm_username", ""),
                "reason": text(request.form, "reason") or "",
            },
        )
        return deletion.delete_now(principal(), user_id, body.confirm_username, body.reason)

    return run_action(
        action,
        form="delete",
        done=lambda _r: url_for("console.users", notice="The account was erased."),
        redraw=lambda errors, status: _user_page(user_id, errors, status),
    )


@bp.get("/deletions")
@page("admin")
def deletions() -> ResponseReturnValue:
    """Accounts with a scheduled deletion, soonest first."""
    queue = deletion.deletion_queue(
        parse(DeletionQueueQuery, {"limit": 100, "cursor": request.args.get("cursor") or None})
    )
    return render_template("console/deletions.html", queue=queue)
