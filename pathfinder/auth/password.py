"""Password change, forgotten-password reset and e-mail verification.

Reset and verification links carry a random token; only its SHA-256 is stored, it expires,
and spending it is a conditional UPDATE, so two concurrent uses of one link cannot both
succeed. A reset ends every session of the account; a change ends all but the current one.
"""

from __future__ import annotations

from pathfinder import audit
from pathfinder.auth import repo
from pathfinder.auth.errors import InvalidCredentials, InvalidToken
from pathfinder.auth.principal import Principal
from pathfinder.auth.service import (
    RequestMeta,
    enforce_password_policy,
    hasher,
    record_failed_attempt,
    settings,
    utcnow,
)
from pathfinder.db import get_database
from pathfinder.mail import Message, get_mailer
from pathfinder.mail.links import action_text
from pathfinder.security.tokens import new_token, token_hash


def change_password(principal: Principal, current: str, new: str, meta: RequestMeta) -> int:
    """Change the caller's password; returns how many other sessions were ended.

    Both hashes (checking the current password, hashing the new one) run before the
    transaction, so no row lock is held for them; the update applies only if the stored
    hash is still the one checked. A wrong current password counts towards the lockout.
    """
    with get_database().connect() as conn:
        seen = repo.get_user(conn, principal.user_id)
        conn.rollback()
    if seen is None:
        raise InvalidCredentials()
    current_ok = hasher().verify(seen["password_hash"], current)
    new_hash = None
    if current_ok:
        enforce_password_policy(
            new, username=seen["username"], email=seen["email"], field="new_password"
        )
        new_hash = hasher().hash(new)
    now = utcnow()
    ended = 0
    with get_database().transaction() as conn:
        user = repo.get_user_for_update(conn, principal.user_id)
        if user is None:
            raise InvalidCredentials()
        failed = new_hash is None or user["password_hash"] != seen["password_hash"]
        if failed:
            audit.record(
                conn,
                "authn_password_change",
                actor=principal,
                outcome="failure",
                details={"reason": "bad_current_password"},
                request_meta=meta.as_audit(),
            )
            record_failed_attempt(conn, user, meta, "bad_password_reauth")
        else:
            repo.update_user(
                conn,
                principal.user_id,
                password_hash=new_hash,
                password_changed_at=now,
                updated_at=now,
            )
            ended = repo.revoke_user_sessions(
                conn, principal.user_id, "password_changed", now, except_family=principal.session_id
            )
            # A pending e-mail change may be the intruder's: the new password cancels it.
            repo.invalidate_action_tokens(conn, principal.user_id, "email_change", now)
            audit.record(
                conn,
                "authn_password_change",
                actor=principal,
                target_type="user",
                target_id=principal.user_id,
                details={"other_sessions_ended": ended},
                request_meta=meta.as_audit(),
            )
    if failed:
        raise InvalidCredentials()
    return ended


def request_password_reset(email: str, meta: RequestMeta) -> None:
    """E-mail a reset link if the address belongs to an account; say nothing either way."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = repo.find_user_by_email(conn, email)
        audit.record(
            conn,
            "authn_password_reset_request",
            actor={"user_id": user["id"], "username": user["username"], "role": user["role"]}
            if user
            else None,
            outcome="success" if user else "failure",
            request_meta=meta.as_audit(),
        )
        if user is None or user["account_status"] in ("deleted", "pending_deletion"):
            return
        token = new_token()
        repo.invalidate_action_tokens(conn, user["id"], "password_reset", now)
        repo.insert_action_token(
            conn,
            user_id=user["id"],
            purpose="password_reset",
            token_hash=token_hash(token),
            expires_at=now + settings().password_reset,
            now=now,
        )
        get_mailer().queue(
            conn,
            Message(
                recipient=user["email"],
                template="password_reset",
                subject="Reset your Pathfinder password",
                body=(
                    "Choose a new password within the hour:\n\n"
                    f"{action_text('reset_password', token)}\n\n"
                    "If you did not ask for this, ignore this message.\n"
                ),
            ),
        )


def reset_password(token: str, new: str, meta: RequestMeta) -> None:
    """Set a new password with a reset token (once), ending every session of the account.

    The new password is checked and hashed before the transaction (no row lock is held for
    an argon2 hash); the token is spent inside it, so a token used twice at once still
    works once. MFA stays on after a reset (a reset link proves the mailbox, not the second
    factor), so the owner is told by e-mail, with the recovery path, never silently.
    """
    presented = token_hash(token)
    with get_database().connect() as conn:
        peek = repo.live_action_token_user(conn, "password_reset", presented, utcnow())
        conn.rollback()
    if peek is None:
        raise InvalidToken("The reset link is invalid, expired or already used.")
    enforce_password_policy(
        new, username=peek["username"], email=peek["email"], field="new_password"
    )
    new_hash = hasher().hash(new)
    now = utcnow()
    with get_database().transaction() as conn:
        row = repo.spend_action_token(conn, "password_reset", presented, now)
        if row is None:
            raise InvalidToken("The reset link is invalid, expired or already used.")
        user = repo.get_user_for_update(conn, row["user_id"])
        if user is None:
            raise InvalidToken("The reset link is invalid, expired or already used.")
        repo.update_user(
            conn,
            user["id"],
            password_hash=new_hash,
            password_changed_at=now,
            failed_login_count=0,
            locked_until=None,
            updated_at=now,
        )
        repo.revoke_user_sessions(conn, user["id"], "password_changed", now)
        repo.invalidate_action_tokens(conn, user["id"], "email_change", now)
        audit.record(
            conn,
            "authn_password_reset",
            actor={"user_id": user["id"], "username": user["username"], "role": user["role"]},
            target_type="user",
            target_id=user["id"],
            details={"mfa_kept": bool(user["mfa_enabled"])},
            request_meta=meta.as_audit(),
        )
        if user["mfa_enabled"]:
            get_mailer().queue(
                conn,
                Message(
                    recipient=user["email"],
                    template="password_reset_mfa_kept",
                    subject="Your Pathfinder password was reset; two-step sign-in stays on",
                    body=(
                        "Your password was just reset. Two-step sign-in (an authenticator "
                        "app) is still required when you sign in. If you no longer have the "
                        "app, sign in with one of your recovery codes and set the app up "
                        "again. If you never set up two-step sign-in, someone else did: "
                        "contact your administrator before signing in.\n"
                    ),
                ),
            )


def request_email_verification(principal: Principal, meta: RequestMeta) -> bool:
    """E-mail a verification link; False when the address is already verified."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = repo.get_user(conn, principal.user_id)
        if user is None or user["email_verified"]:
            return False
        token = new_token()
        repo.invalidate_action_tokens(conn, user["id"], "email_verification", now)
        repo.insert_action_token(
            conn,
            user_id=user["id"],
            purpose="email_verification",
            token_hash=token_hash(token),
            expires_at=now + settings().email_verification,
            now=now,
        )
        get_mailer().queue(
            conn,
            Message(
                recipient=user["email"],
                template="email_verification",
                subject="Confirm your e-mail address for Pathfinder",
                body=f"Confirm this address:\n\n{action_text('verify_email', token)}\n",
            ),
        )
    return True


def verify_email(token: str, meta: RequestMeta) -> None:
    """Mark the address verified with a verification token (once)."""
    now = utcnow()
    with get_database().transaction() as conn:
        row = repo.spend_action_token(conn, "email_verification", token_hash(token), now)
        if row is None:
            raise InvalidToken("The verification link is invalid, expired or already used.")
        repo.update_user(
            conn, row["user_id"], email_verified=True, email_verified_at=now, updated_at=now
        )
        audit.record(
            conn,
            "authn_email_verified",
            target_type="user",
            target_id=row["user_id"],
            request_meta=meta.as_audit(),
        )
