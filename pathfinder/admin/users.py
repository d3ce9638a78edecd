"""User administration: search, view, suspend and reactivate, force a password reset, end
sessions, and assign feature groups. (Role changes are in :mod:`pathfinder.admin.service`.)

Who may act on whom: an admin acts on users below their own rank; a site admin on anyone.
Nobody suspends, resets or deletes their own account through these routes (that would
lock them out mid-request, and their own settings exist for it). Every action writes its
audit row in the same transaction, with the admin's reason where one is asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, RowMapping

from pathfinder import audit
from pathfinder.admin import repo
from pathfinder.admin.paging import decode_cursor, page_of
from pathfinder.admin.schemas import UserListQuery
from pathfinder.api.errors import Conflict, Forbidden, NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth import repo as auth_repo
from pathfinder.auth import service as auth_service
from pathfinder.auth.errors import LastSiteAdmin
from pathfinder.auth.principal import ROLE_RANK, Principal
from pathfinder.db import get_database
from pathfinder.flags.evaluator import invalidate_on_commit
from pathfinder.mail import Message, get_mailer
from pathfinder.mail.links import action_text
from pathfinder.security.fields import field_cipher
from pathfinder.security.tokens import new_token, token_hash

SUSPENDABLE = ("active", "pending_verification", "locked")
REACTIVATABLE = ("suspended", "locked")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def user_summary(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    """The fields the admin list shows (no secrets, no encrypted personal fields)."""
    return {
        "id": row["id"],
        "username": row["username"],
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "role": row["role"],
        "account_status": row["account_status"],
        "feature_group_id": row["feature_group_id"],
        "email_verified": bool(row["email_verified"]),
        "mfa_enabled": bool(row["mfa_enabled"]),
        "last_login": _iso(row["last_login"]),
        "deletion_scheduled_for": _iso(row["deletion_scheduled_for"]),
        "created_at": _iso(row["created_at"]),
    }


def target_user(conn: Connection, user_id: str, *, lock: bool = False) -> RowMapping:
    """A live (not deleted) account, or 404."""
    user = (
        auth_repo.get_user_for_update(conn, user_id) if lock else auth_repo.get_user(conn, user_id)
    )
    if user is None or user["account_status"] == "deleted":
        raise NotFound("No such user.")
    return user


def user_id_by_login(login: str) -> str:
    """The id of the live account a username or e-mail address names, or 404 (for forms
    where an admin types a name rather than pastes an id)."""
    with get_database().transaction() as conn:
        user = auth_repo.find_user_by_login(conn, login)
    if user is None or user["account_status"] == "deleted":
        raise NotFound("No such user.", field="username")
    return str(user["id"])


def check_authority(actor: Principal, target: RowMapping, *, allow_self: bool = False) -> None:
    """Admins act on lower ranks only; nobody acts on themselves unless ``allow_self``."""
    if not allow_self and target["id"] == actor.user_id:
        raise Conflict("Use your own account settings for this.", slug="self-action")
    if not actor.has_role("site_admin") and ROLE_RANK[target["role"]] >= ROLE_RANK[actor.role]:
        raise Forbidden(
            "Only a site admin can act on an admin or site admin account.",
            slug="insufficient-rank",
        )


def guard_last_site_admin(conn: Connection, target: RowMapping) -> None:
    """Refuse to take the last active site admin out of service."""
    if target["role"] == "site_admin" and target["account_status"] == "active":
        if auth_repo.count_active_site_admins(conn, lock=True) <= 1:
            raise LastSiteAdmin("Promote another site admin first.")


# -- reading ------------------------------------------------------------------------------


def list_users(query: UserListQuery) -> dict[str, Any]:
    after = decode_cursor(query.cursor, 1)[0] if query.cursor else None
    with get_database().transaction() as conn:
        rows = repo.search_users(
            conn,
            q=query.q,
            status=query.status,
            role=query.role,
            group_id=query.group_id,
            after=after,
            limit=query.limit + 1,
        )
    items, cursor = page_of(rows, query.limit, lambda r: [r["username"]])
    return {"items": [user_summary(r) for r in items], "next_cursor": cursor}


def get_user(user_id: str) -> dict[str, Any]:
    """One account as an admin sees it: the summary plus activity and lockout state."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = target_user(conn, user_id)
        group = repo.get_group(conn, user["feature_group_id"]) if user["feature_group_id"] else None
        sessions = repo.count_live_sessions(conn, user_id, now)
    return {
        **user_summary(user),
        "feature_group_name": group["name"] if group else None,
        "timezone": user["timezone"],
        "language": user["language"],
        "title": user["title"],
        "company": user["company"],
        "total_logins": user["total_logins"],
        "last_activity_at": _iso(user["last_activity_at"]),
        "locked_until": _iso(user["locked_until"]),
        "password_changed_at": _iso(user["password_changed_at"]),
        "deletion_requested_at": _iso(user["deletion_requested_at"]),
        "phone_verified": bool(user["phone_verified"]),
        "invited_by": user["invited_by"],
        "invitation_accepted_at": _iso(user["invitation_accepted_at"]),
        "live_sessions": sessions,
        "updated_at": _iso(user["updated_at"]),
    }


def live_sessions(user_id: str) -> list[dict[str, Any]]:
    """An account's signed-in devices (never a token or its hash), oldest first."""
    with get_database().transaction() as conn:
        target_user(conn, user_id)
        rows = auth_repo.list_live_sessions(conn, user_id, utcnow())
    return [
        {
            "id": row["family_id"],
            "ip_address": row["ip_address"],
            "user_agent": row["user_agent"],
            "created_at": _iso(row["started_at"]),
            "last_activity_at": _iso(row["last_activity_at"]),
            "expires_at": _iso(row["expires_at"]),
        }
        for row in rows
    ]


# -- lifecycle ----------------------------------------------------------------------------


def suspend(actor: Principal, user_id: str, reason: str) -> dict[str, Any]:
    """Suspend an account: it cannot sign in, and every session ends now."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = target_user(conn, user_id, lock=True)
        check_authority(actor, user)
        if user["account_status"] not in SUSPENDABLE:
            raise Conflict(f"The account is {user['account_status']}; it cannot be suspended.")
        guard_last_site_admin(conn, user)
        auth_repo.update_user(conn, user_id, account_status="suspended", updated_at=now)
        devices = repo.count_live_sessions(conn, user_id, now)
        auth_repo.revoke_user_sessions(conn, user_id, "admin_revoked", now)
        audit.record(
            conn,
            "user_suspended",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details={"reason": reason, "devices_signed_out": devices},
        )
    return get_user(user_id)


def reactivate(actor: Principal, user_id: str, reason: str | None) -> dict[str, Any]:
    """Let a suspended (or locked) account sign in again."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = target_user(conn, user_id, lock=True)
        check_authority(actor, user)
        if user["account_status"] not in REACTIVATABLE:
            raise Conflict(f"The account is {user['account_status']}; nothing to reactivate.")
        auth_repo.update_user(
            conn,
            user_id,
            account_status="active",
            locked_until=None,
            failed_login_count=0,
            updated_at=now,
        )
        audit.record(
            conn,
            "user_reactivated",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details={"reason": reason, "previous_status": user["account_status"]},
        )
    return get_user(user_id)


def _digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def verify_phone(actor: Principal, user_id: str, phone_number: str) -> dict[str, Any]:
    """Record that support confirmed the account's phone number (Pathfinder sends no SMS).

    The admin states the number they reached; it must be the one on the account now, so a
    number changed meanwhile is never marked verified.
    """
    now = utcnow()
    with get_database().transaction() as conn:
        user = target_user(conn, user_id, lock=True)
        check_authority(actor, user, allow_self=False)
        stored = field_cipher(conn).open_row("pf_users", user, user_id=user_id)["phone_number"]
        if not stored:
            raise Conflict("The account has no phone number to verify.", slug="no-phone-number")
        if _digits(stored) != _digits(phone_number):
            raise Conflict(
                "That is not the account's current phone number; read the account again.",
                slug="phone-number-changed",
            )
        auth_repo.update_user(conn, user_id, phone_verified=True, updated_at=now)
        audit.record(
            conn,
            "user_updated",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details={"fields": ["phone_verified"], "phone_verified": True},
        )
    return get_user(user_id)


def force_password_reset(actor: Principal, user_id: str, reason: str) -> dict[str, Any]:
    """Void the password, end every session and e-mail a reset link (valid as a normal
    reset link is). The account can sign in again only after choosing a new password."""
    now = utcnow()
    config = auth_service.settings()
    with get_database().transaction() as conn:
        user = target_user(conn, user_id, lock=True)
        check_authority(actor, user)
        auth_repo.update_user(conn, user_id, password_hash=None, updated_at=now)
        devices = repo.count_live_sessions(conn, user_id, now)
        auth_repo.revoke_user_sessions(conn, user_id, "admin_revoked", now)
        auth_repo.invalidate_action_tokens(conn, user_id, "password_reset", now)
        token = new_token()
        auth_repo.insert_action_token(
            conn,
            user_id=user_id,
            purpose="password_reset",
            token_hash=token_hash(token),
            expires_at=now + config.password_reset,
            now=now,
        )
        get_mailer().queue(
            conn,
            Message(
                recipient=user["email"],
                template="password_reset",
                subject="Choose a new Pathfinder password",
                body=(
                    "An administrator asked you to choose a new password; your old one no "
                    "longer works and you have been signed out everywhere.\n\n"
                    f"{action_text('reset_password', token)}\n"
                ),
            ),
        )
        audit.record(
            conn,
            "authn_password_reset_request",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details={"forced": True, "reason": reason, "devices_signed_out": devices},
        )
    return {"id": user_id, "password_reset": True, "sessions_ended": devices}


def revoke_sessions(actor: Principal, user_id: str, reason: str | None) -> dict[str, Any]:
    """End every session of an account (it can sign in again)."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = target_user(conn, user_id, lock=True)
        check_authority(actor, user, allow_self=True)
        families = repo.count_live_sessions(conn, user_id, now)
        auth_repo.revoke_user_sessions(conn, user_id, "admin_revoked", now)
        audit.record(
            conn,
            "session_revoked",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details={"reason": reason, "devices_signed_out": families, "by_admin": True},
        )
    return {"id": user_id, "sessions_ended": families}


def assign_group(actor: Principal, user_id: str, group_id: str | None) -> dict[str, Any]:
    """Put a user in a feature group (None: back to the default group)."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = target_user(conn, user_id, lock=True)
        check_authority(actor, user, allow_self=True)
        if group_id is not None and repo.get_group(conn, group_id) is None:
            raise ValidationProblem(
                "One or more fields are invalid.",
                errors=[{"field": "group_id", "message": "no such group"}],
            )
        old = user["feature_group_id"]
        if old != group_id:
            auth_repo.update_user(conn, user_id, feature_group_id=group_id, updated_at=now)
            audit.record(
                conn,
                "user_updated",
                actor=actor,
                target_type="user",
                target_id=user_id,
                details={"feature_group_id": {"old": old, "new": group_id}},
            )
            invalidate_on_commit(conn)
    return get_user(user_id)
