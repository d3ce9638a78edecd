"""Changing the account's e-mail address: confirmed by the new address, told to the old one.

1. ``POST /me/email {new_email, password}``: the current password is checked (a stolen
   access token alone cannot move the account's mail, which is where reset links go). A
   single-use link is sent to the *new* address and a notice to the *old* one, naming the
   new address and how to stop it (change the password: that ends every session and the
   link with them, since a reset spends the account's pending tokens). Nothing changes yet.
2. ``POST /auth/email/confirm {token}``: spending the link (once, a conditional UPDATE)
   makes the new address the account's, verified, and tells the old address it happened.

Uniqueness is checked at both steps: an address taken between them is a 409 at
confirmation. A newer request replaces an older pending one. The e-mails are security mail:
notification settings never stop them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.auth import repo
from pathfinder.auth.errors import AlreadyTaken, InvalidToken
from pathfinder.auth.mfa import reauthenticate
from pathfinder.auth.principal import Principal
from pathfinder.auth.service import RequestMeta, settings, utcnow
from pathfinder.db import get_database
from pathfinder.mail import Message, get_mailer
from pathfinder.mail.links import action_text
from pathfinder.schema.shared.identity import users
from pathfinder.security.tokens import new_token, token_hash

PURPOSE = "email_change"
INVALID = "The confirmation link is invalid, expired or already used."


def _taken(conn: Connection, normalized: str, user_id: str) -> bool:
    found = conn.execute(
        sa.select(users.c.id).where(users.c.email_normalized == normalized, users.c.id != user_id)
    ).first()
    return found is not None


def request_change(
    principal: Principal, new_email: str, password: str, meta: RequestMeta
) -> dict[str, Any]:
    """Send the confirmation link to ``new_email`` and a notice to the current address."""
    reauthenticate(principal, password, meta)
    normalized = new_email.strip().casefold()
    now = utcnow()
    expires_at = now + settings().email_verification
    with get_database().transaction() as conn:
        user = repo.get_user_for_update(conn, principal.user_id)
        if user is None:
            raise InvalidToken(INVALID)
        if normalized == user["email_normalized"]:
            raise AlreadyTaken("That is already your address.", slug="same-email")
        if _taken(conn, normalized, principal.user_id):
            raise AlreadyTaken("Another account uses that address.", slug="email-taken")
        token = new_token()
        repo.invalidate_action_tokens(conn, principal.user_id, PURPOSE, now)
        repo.insert_action_token(
            conn,
            user_id=principal.user_id,
            purpose=PURPOSE,
            token_hash=token_hash(token),
            expires_at=expires_at,
            now=now,
            new_email=new_email.strip(),
        )
        link = action_text("confirm_email_change", token)
        mailer = get_mailer()
        mailer.queue(
            conn,
            Message(
                recipient=new_email.strip(),
                template="email_change_confirm",
                subject="Confirm your new e-mail address for Pathfinder",
                body=(
                    f"Confirm that Pathfinder account {user['username']} should use this "
                    f"address from now on:\n\n{link}\n\nThe link works once, until "
                    f"{expires_at:%Y-%m-%d %H:%M} UTC. If you did not ask for this, ignore it."
                ),
            ),
        )
        mailer.queue(
            conn,
            Message(
                recipient=user["email"],
                template="email_change_requested",
                subject="Your Pathfinder e-mail address is about to change",
                body=(
                    f"Someone signed in to your account asked to change its e-mail address "
                    f"to {new_email.strip()}. It changes only when that address confirms.\n\n"
                    "If this was not you, change your password now: that signs every device "
                    "out and cancels the change."
                ),
            ),
        )
        audit.record(
            conn,
            "user_updated",
            actor=principal,
            target_type="user",
            target_id=principal.user_id,
            details={"action": "email_change_requested"},
            request_meta=meta.as_audit(),
        )
    return {"pending_email": new_email.strip(), "expires_at": expires_at.isoformat()}


def confirm_change(token: str, meta: RequestMeta) -> dict[str, Any]:
    """Make the link's address the account's (verified) and tell the old address."""
    now: datetime = utcnow()
    with get_database().transaction() as conn:
        row = repo.spend_action_token(conn, PURPOSE, token_hash(token), now)
        if row is None:
            raise InvalidToken(INVALID)
        user = repo.get_user_for_update(conn, row["user_id"])
        if user is None or user["account_status"] in ("deleted", "pending_deletion"):
            raise InvalidToken(INVALID)
        new_email = str(row["new_email"])
        normalized = new_email.casefold()
        if _taken(conn, normalized, user["id"]):
            raise AlreadyTaken("Another account took that address meanwhile.", slug="email-taken")
        repo.update_user(
            conn,
            user["id"],
            email=new_email,
            email_normalized=normalized,
            email_verified=True,
            email_verified_at=now,
            updated_at=now,
        )
        get_mailer().queue(
            conn,
            Message(
                recipient=user["email"],
                template="email_changed",
                subject="Your Pathfinder e-mail address was changed",
                body=(
                    f"The e-mail address of Pathfinder account {user['username']} is now "
                    f"{new_email}; this address no longer receives its mail. If this was not "
                    "you, contact your administrator at once."
                ),
            ),
        )
        audit.record(
            conn,
            "user_updated",
            actor={"user_id": user["id"], "username": user["username"], "role": user["role"]},
            target_type="user",
            target_id=user["id"],
            details={"action": "email_changed", "fields": ["email"]},
            request_meta=meta.as_audit(),
        )
    return {"email": new_email, "email_verified": True}
