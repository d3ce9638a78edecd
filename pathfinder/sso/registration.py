"""A new account from a single sign-on identity: the same gates as password registration.

The identity comes from a callback that found it linked to no account, as a signed,
short-lived registration token; its flow row makes it single use. The account is created
only when self-registration is open or an invitation is presented, exactly as for
``POST /auth/register``:

* **self-registration**: the provider must vouch for the e-mail address
  (``email_verified``); it becomes the account's address, verified.
* **invitation**: the account gets the invitation's address (the invitation token shows
  its holder reads mail there), role and group; the address counts as verified only when the
  provider vouches for the same one.

An address already registered is refused like a taken username: an identity never attaches
to an existing account because its e-mail matches; its owner signs in and links it. The new
account has no password; its link is its way to sign in, and unlinking it is refused until
it has another.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_jwt_extended import decode_token

from pathfinder import audit
from pathfinder.auth import repo as auth_repo
from pathfinder.auth.errors import AlreadyTaken, InvalidToken, RegistrationClosed
from pathfinder.auth.service import RequestMeta, finish_provisioning
from pathfinder.db import get_database
from pathfinder.flags.system import system_flag
from pathfinder.ids import new_id
from pathfinder.schema.shared.identity import user_invitations
from pathfinder.security import field_secrets
from pathfinder.security.tokens import token_hash
from pathfinder.sso import flows, repo
from pathfinder.sso.errors import SsoEmailUnverified, SsoIdentityInUse
from pathfinder.sso.oidc import Identity
from pathfinder.sso.service import REGISTRATION_TOKEN_TYPE, link_values, provider_of

INVALID = "The registration token is invalid, expired or already used; sign in again."
INVALID_INVITATION = "The invitation is invalid, expired, revoked or already used."


def _identity(registration_token: str) -> tuple[str, str, Identity]:
    """The flow id, provider name and identity a registration token carries."""
    try:
        claims = decode_token(registration_token)
    except Exception as exc:  # noqa: BLE001 - every decode failure is the same answer
        raise InvalidToken(INVALID, slug="sso-registration-invalid") from exc
    if claims.get("type") != REGISTRATION_TOKEN_TYPE:
        raise InvalidToken(INVALID, slug="sso-registration-invalid")
    identity = Identity(
        issuer=str(claims["idp_issuer"]),
        subject=str(claims["subject"]),
        email=claims.get("email"),
        email_verified=bool(claims.get("email_verified")),
        name=claims.get("name"),
        picture=claims.get("picture"),
        amr=(),
    )
    return str(claims["sub"]), str(claims["provider"]), identity


def _invitation(invitation_token: str, now: datetime) -> Any:
    with get_database().transaction() as conn:
        invitation = (
            conn.execute(
                sa.select(user_invitations).where(
                    user_invitations.c.token_hash == token_hash(invitation_token)
                )
            )
            .mappings()
            .first()
        )
    if invitation is None or invitation["status"] != "pending" or invitation["expires_at"] <= now:
        raise InvalidToken(INVALID_INVITATION, slug="invalid-invitation")
    return invitation


def register_from_sso(
    registration_token: str, username: str, invitation_token: str | None, meta: RequestMeta
) -> str:
    """Create the account of a verified identity and link it; return the new user's id."""
    flow_id, provider_name, identity = _identity(registration_token)
    _settings, provider = provider_of(provider_name)
    if identity.issuer != provider.issuer:
        raise InvalidToken(INVALID, slug="sso-registration-invalid")
    now = datetime.now(UTC)
    invitation = _invitation(invitation_token, now) if invitation_token else None
    if invitation is not None:
        email = str(invitation["email"])
        verified = (
            identity.email_verified
            and (identity.email or "").strip().casefold() == (invitation["email_normalized"])
        )
    else:
        if not identity.email or not identity.email_verified:
            raise SsoEmailUnverified()
        email, verified = identity.email.strip(), True
    database = get_database()
    try:
        with database.transaction() as conn:
            if invitation is None and not system_flag(conn, "self_registration_enabled"):
                raise RegistrationClosed("Self-registration is disabled; ask for an invitation.")
            if not flows.claim_registration(conn, flow_id, now):
                raise InvalidToken(INVALID, slug="sso-registration-invalid")
            if repo.find_link(conn, provider.name, identity.subject) is not None:
                raise SsoIdentityInUse("This identity is already linked to an account.")
            taken = auth_repo.username_or_email_taken(conn, username, email)
            if taken == "email":
                raise AlreadyTaken(
                    "An account with this e-mail address exists: sign in to it and link "
                    f"{provider.display_name} from its settings.",
                    field="email",
                )
            if taken:
                raise AlreadyTaken("That username is already registered.", field="username")
            user_id = new_id()
            role = invitation["role"] if invitation is not None else "user"
            auth_repo.insert_user(
                conn,
                {
                    "id": user_id,
                    "username": username,
                    "email": email,
                    "email_normalized": email.casefold(),
                    "email_verified": verified,
                    "email_verified_at": now if verified else None,
                    "password_hash": None,
                    "role": role,
                    "account_status": "active",
                    "mfa_enabled": False,
                    "failed_login_count": 0,
                    "total_logins": 0,
                    "feature_group_id": invitation["feature_group_id"] if invitation else None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            field_secrets.create_first_key(conn, user_id)
            link = link_values(user_id, provider, identity, primary=True, now=now)
            repo.insert_link(conn, link)
            if invitation is not None:
                accepted = conn.execute(
                    user_invitations.update()
                    .where(
                        user_invitations.c.id == invitation["id"],
                        user_invitations.c.status == "pending",
                    )
                    .values(
                        status="accepted", accepted_at=now, accepted_user_id=user_id, updated_at=now
                    )
                )
                if accepted.rowcount != 1:
                    raise InvalidToken(INVALID_INVITATION, slug="invalid-invitation")
            actor = {"user_id": user_id, "username": username, "role": role}
            audit.record(
                conn,
                "user_created",
                actor=actor,
                target_type="user",
                target_id=user_id,
                details={
                    "via": f"sso:{provider.name}"
                    + ("+invitation" if invitation is not None else ""),
                    "role": role,
                },
                request_meta=meta.as_audit(),
            )
            audit.record(
                conn,
                "authn_sso_linked",
                actor=actor,
                target_type="sso_account",
                target_id=link["id"],
                details={"provider": provider.name, "at": "registration"},
                request_meta=meta.as_audit(),
            )
    except sa.exc.IntegrityError as exc:
        raise AlreadyTaken("That username, e-mail address or identity is already taken.") from exc
    finish_provisioning(database, username, user_id)
    return user_id
