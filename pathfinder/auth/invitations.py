"""Accepting an invitation: registration with the invited role and group, exactly once.

Creating, listing and revoking invitations belong to the admin domain; this is the identity
side. The invitation is marked accepted inside the registration's own transaction by a
conditional UPDATE, so of two concurrent accepts one creates an account and the other gets
a clear error, and a failed registration leaves the invitation usable.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.api.validation import ValidationProblem
from pathfinder.auth import service
from pathfinder.auth.errors import InvalidToken
from pathfinder.auth.schemas import RegisterRequest
from pathfinder.db import get_database
from pathfinder.schema.shared.identity import user_invitations, users
from pathfinder.security.tokens import token_hash

INVALID = "The invitation is invalid, expired, revoked or already used."


def register_with_invitation(body: RegisterRequest, meta: service.RequestMeta) -> str:
    """Register through an invitation token; its role and feature group apply. Returns the
    new user's id."""
    if body.invitation_token is None:
        raise InvalidToken(INVALID)
    digest = token_hash(body.invitation_token)
    now = datetime.now(UTC)
    with get_database().transaction() as conn:
        invitation = (
            conn.execute(sa.select(user_invitations).where(user_invitations.c.token_hash == digest))
            .mappings()
            .first()
        )
    if invitation is None or invitation["status"] != "pending" or invitation["expires_at"] <= now:
        raise InvalidToken(INVALID, slug="invalid-invitation")
    if invitation["email_normalized"] != body.email.strip().casefold():
        raise ValidationProblem(
            "Register with the address the invitation was sent to.",
            errors=[{"field": "email", "message": "does not match the invitation"}],
        )

    def accept(conn: Connection, user_id: str) -> None:
        result = conn.execute(
            user_invitations.update()
            .where(
                user_invitations.c.id == invitation["id"], user_invitations.c.status == "pending"
            )
            .values(status="accepted", accepted_at=now, accepted_user_id=user_id, updated_at=now)
        )
        if result.rowcount != 1:
            raise InvalidToken(INVALID, slug="invalid-invitation")
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(invited_by=invitation["invited_by"], invitation_accepted_at=now)
        )

    return service.register(
        username=body.username,
        email=body.email,
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        meta=meta,
        role=invitation["role"],
        feature_group_id=invitation["feature_group_id"],
        invited=True,
        conn_hook=accept,
    )
