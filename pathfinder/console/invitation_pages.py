"""Invitations: the list by status, invite one or many, a CSV upload with a preview of
what will be skipped, revoke and resend."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pathfinder.admin import groups, invitations
from pathfinder.admin.schemas import (
    GroupListQuery,
    InvitationItem,
    InvitationListQuery,
    ResendRequest,
)
from pathfinder.api.errors import Problem
from pathfinder.console.actions import run_action
from pathfinder.console.blueprint import bp, page, principal
from pathfinder.console.forms import FormErrors, confirmed, parse, problem_errors, text

STATUSES = ("pending", "accepted", "expired", "revoked")
ROLES = ("user", "admin", "site_admin")
MAX_CSV_TEXT = invitations.MAX_CSV_BYTES


def _page(
    errors: dict[str, dict[str, str]],
    status: int,
    *,
    form: dict[str, Any] | None = None,
    preview: dict[str, Any] | None = None,
    csv_text: str = "",
) -> ResponseReturnValue:
    args = {k: v for k, v in request.args.items() if v and k in ("status", "email", "cursor")}
    try:
        found = invitations.list_invitations(parse(InvitationListQuery, {**args, "limit": 50}))
    except FormErrors as exc:
        errors = {**errors, "filter": exc.errors}
        found = {"items": [], "next_cursor": None}
    group_items = groups.list_groups(GroupListQuery(limit=100))["items"]
    return render_template(
        "console/invitations.html",
        found=found,
        args=args,
        statuses=STATUSES,
        role_options=[(r, r) for r in ROLES],
        group_options=[("", "The default group")] + [(g["id"], g["name"]) for g in group_items],
        errors=errors,
        form=form or {},
        preview=preview,
        csv_text=csv_text,
    ), status


@bp.get("/invitations", endpoint="invitations")
@page("admin")
def invitations_page() -> ResponseReturnValue:
    """Invitations, newest first, filtered by status or address."""
    return _page({}, 200)


def _items_from_form() -> list[InvitationItem]:
    """One invitation per address in the text box (one per line, or comma-separated)."""
    raw = (request.form.get("emails") or "").replace(",", "\n")
    emails = [line.strip() for line in raw.splitlines() if line.strip()]
    if not emails:
        raise FormErrors({"emails": "Enter at least one e-mail address."})
    if len(emails) > 100:
        raise FormErrors({"emails": "At most 100 addresses at a time."})
    days = text(request.form, "expires_in_days")
    common = {
        "role": request.form.get("role") or "user",
        "feature_group_id": text(request.form, "feature_group_id"),
        "expires_in_days": days,
    }
    items = []
    for email in emails:
        try:
            items.append(parse(InvitationItem, {"email": email, **common}))
        except FormErrors as exc:
            field, message = next(iter(exc.errors.items()))
            if field == "email":
                raise FormErrors({"emails": f"{email}: {message}"}) from None
            raise
    return items


@bp.post("/invitations")
@page("admin")
def create_invitations() -> ResponseReturnValue:
    """Invite the addresses typed in (one or many); skipped ones are listed."""
    form = {
        k: request.form.get(k, "")
        for k in ("emails", "role", "feature_group_id", "expires_in_days")
    }

    def action() -> Any:
        return invitations.create_invitations(principal(), _items_from_form())

    def done(result: dict[str, Any]) -> str:
        skipped = ", ".join(f"{s['email']} ({s['reason']})" for s in result["skipped"])
        message = f"{len(result['created'])} invited." + (
            f" Skipped: {skipped}." if skipped else ""
        )
        return url_for("console.invitations", notice=message)

    return run_action(
        action,
        form="create",
        done=done,
        redraw=lambda errors, status: _page(errors, status, form=form),
        prefix="invitations.0.",
    )


@bp.post("/invitations/csv")
@page("admin")
def upload_invitations() -> ResponseReturnValue:
    """A CSV file: first a preview (who is invited, who is skipped and why), then create."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        data = upload.read(MAX_CSV_TEXT + 1)
    else:
        data = (request.form.get("csv_text") or "").encode("utf-8")
    csv_text = data.decode("utf-8", errors="replace")
    try:
        if not data.strip():
            raise FormErrors({"file": "Choose a CSV file."})
        items = invitations.parse_csv(data)
        if request.form.get("step") != "create":
            preview = invitations.preview_invitations(principal(), items)
            return _page({}, 200, preview=preview, csv_text=csv_text)
        result = invitations.create_invitations(principal(), items)
    except FormErrors as exc:
        return _page({"csv": exc.errors}, 422, csv_text=csv_text)
    except Problem as exc:
        return _page({"csv": problem_errors(exc)}, exc.status, csv_text=csv_text)
    message = f"{len(result['created'])} invited from the file; {len(result['skipped'])} skipped."
    return redirect(url_for("console.invitations", notice=message))


@bp.post("/invitations/<invitation_id>/revoke")
@page("admin")
def revoke_invitation(invitation_id: str) -> ResponseReturnValue:
    """Revoke a pending invitation (its link stops working)."""

    def action() -> Any:
        confirmed(request.form)
        return invitations.revoke_invitation(principal(), invitation_id)

    return run_action(
        action,
        form=f"revoke-{invitation_id}",
        done=lambda _r: url_for("console.invitations", notice="The invitation is revoked."),
        redraw=lambda errors, status: _page(errors, status),
    )


@bp.post("/invitations/<invitation_id>/resend")
@page("admin")
def resend_invitation(invitation_id: str) -> ResponseReturnValue:
    """Send again with a new link and expiry (the old link stops working)."""

    def action() -> Any:
        body = parse(ResendRequest, {"expires_in_days": text(request.form, "expires_in_days")})
        return invitations.resend_invitation(principal(), invitation_id, body.expires_in_days)

    return run_action(
        action,
        form=f"resend-{invitation_id}",
        done=lambda _r: url_for("console.invitations", notice="The invitation was sent again."),
        redraw=lambda errors, status: _page(errors, status),
    )
