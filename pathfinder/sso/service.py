"""Single sign-on rules: start a flow, complete its callback, link, list and unlink.

Account takeover is what these rules are for:

* an identity from a provider signs in to an account only through a link that account's
  owner made while signed in (:func:`start_link`, which needs re-authentication); an
  e-mail address is never used to match an identity to an account;
* an identity linked to no account may create one (``pathfinder.sso.registration``) under
  the same rules as password registration: self-registration open, or an invitation;
* the last way to sign in to an account (its only link, and no password) is never removed.

Every link, unlink and sign-in, refused or not, is an audit row. No transaction is open while
the provider is called, and a failure after the state was spent is audited in a transaction
of its own, so it is kept when the request fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_jwt_extended import create_access_token
from sqlalchemy.engine import RowMapping

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth import repo as auth_repo
from pathfinder.auth.mfa import reauthenticate
from pathfinder.auth.principal import Principal
from pathfinder.auth.service import (
    MfaChallenge,
    RequestMeta,
    TokenPair,
    actor_of,
    complete_login,
    issue_mfa_challenge,
    resume_unfinished_registration,
)
from pathfinder.config import ConfigurationError
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.sso import flows, repo
from pathfinder.sso.errors import (
    SsoAlreadyLinked,
    SsoCodeRejected,
    SsoDenied,
    SsoIdentityInUse,
    SsoIdTokenInvalid,
    SsoLastSignInMethod,
    SsoNotConfigured,
    SsoProviderUnavailable,
    SsoProviderUnknown,
    SsoReauthenticationRequired,
    SsoSignInRefused,
    SsoStateInvalid,
)
from pathfinder.sso.oidc import (
    CodeRejected,
    Identity,
    IdTokenRejected,
    OidcClient,
    ProviderUnavailable,
    oidc_client,
)
from pathfinder.sso.settings import ProviderSettings, SsoSettings, load_sso_settings

log = logging.getLogger(__name__)

REGISTRATION_TOKEN_TYPE = "sso_registration"  # noqa: S105 - a token type, not a secret
# The error codes of RFC 6749 4.1.2.1 and OpenID Connect Core 3.1.2.6 a client may see; any
# other text from the provider is not echoed.
PROVIDER_ERRORS = frozenset(
    {
        "access_denied",
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
    }
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StartedFlow:
    """Where to send the browser, and the browser-binding cookie to set."""

    authorization_url: str
    binding: str
    expires_in: int


@dataclass(frozen=True)
class RegistrationRequired:
    """A valid identity linked to no account: it may register (once, for a while)."""

    registration_token: str
    expires_in: int
    provider: str
    email: str | None
    email_verified: bool
    name: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "registration_required": True,
            "registration_token": self.registration_token,
            "expires_in": self.expires_in,
            "provider": self.provider,
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name,
        }


@dataclass(frozen=True)
class Linked:
    """The callback of a link flow: the new linked account."""

    account: dict[str, Any]


CallbackOutcome = TokenPair | MfaChallenge | RegistrationRequired | Linked


# -- configuration ---------------------------------------------------------------------------


def sso_settings() -> SsoSettings:
    """The SSO settings; a broken configuration is logged and answered 503, never a 500."""
    try:
        return load_sso_settings(current_app.config)
    except ConfigurationError as exc:
        log.error("single sign-on configuration: %s", exc)
        raise SsoNotConfigured() from exc


def provider_of(name: str) -> tuple[SsoSettings, ProviderSettings]:
    settings = sso_settings()
    provider = settings.providers.get(name)
    if provider is None:
        raise SsoProviderUnknown()
    return settings, provider


def client_for(provider: ProviderSettings, settings: SsoSettings) -> OidcClient:
    return oidc_client(current_app._get_current_object(), provider, settings)  # type: ignore[attr-defined]


def list_providers() -> list[dict[str, str]]:
    """The configured providers, for sign-in buttons."""
    settings = sso_settings()
    return [
        {
            "name": p.name,
            "display_name": p.display_name,
            "start_url": f"/api/v1/auth/sso/{p.name}/start",
        }
        for p in settings.providers.values()
    ]


# -- starting a flow ---------------------------------------------------------------------------


def _start(
    provider_name: str, *, purpose: str, user_id: str | None, presented_binding: str | None
) -> StartedFlow:
    settings, provider = provider_of(provider_name)
    client = client_for(provider, settings)
    try:
        client.metadata()  # before a flow is recorded: a provider that is down starts none
    except ProviderUnavailable as exc:
        log.warning("single sign-on provider unavailable: %s", exc)
        raise SsoProviderUnavailable() from exc
    binding = flows.browser_binding(presented_binding)
    with get_database().transaction() as conn:
        secrets_ = flows.start_flow(
            conn,
            provider=provider.name,
            purpose=purpose,
            user_id=user_id,
            binding=binding,
            now=utcnow(),
            lifetime=settings.flow_lifetime,
        )
    url = client.authorization_url(
        redirect_uri=settings.redirect_uri(provider),
        state=secrets_.state,
        nonce=secrets_.nonce,
        code_verifier=secrets_.code_verifier,
    )
    return StartedFlow(url, binding, int(settings.flow_lifetime.total_seconds()))


def start_sign_in(provider_name: str, presented_binding: str | None) -> StartedFlow:
    """Begin signing in (or registering) with a provider."""
    return _start(
        provider_name, purpose="sign_in", user_id=None, presented_binding=presented_binding
    )


def start_link(
    principal: Principal,
    provider_name: str,
    password: str | None,
    presented_binding: str | None,
    meta: RequestMeta,
) -> StartedFlow:
    """Begin linking a provider to the caller's account, after re-authentication.

    An account with a password must give it (a wrong one counts towards the lockout); an
    account without one must have signed in within ``SSO_REAUTH_MINUTES``. An access token
    alone (stolen, or a device left signed in) cannot attach an attacker's identity.
    """
    settings, _provider = provider_of(provider_name)
    with get_database().transaction() as conn:
        user = auth_repo.get_user(conn, principal.user_id)
        started = auth_repo.family_started_at(conn, principal.session_id)
    if user is None:
        raise SsoReauthenticationRequired()
    if user["password_hash"] is not None:
        if not password:
            raise SsoReauthenticationRequired()
        reauthenticate(principal, password, meta)
    elif started is None or utcnow() - started > settings.reauth_window:
        raise SsoReauthenticationRequired()
    return _start(
        provider_name,
        purpose="link",
        user_id=principal.user_id,
        presented_binding=presented_binding,
    )


# -- the callback ------------------------------------------------------------------------------


def _audit(
    event: str, *, outcome: str, meta: RequestMeta, actor: Any = None, **details: Any
) -> None:
    """An audit row in a transaction of its own (kept when the request then fails)."""
    with get_database().transaction() as conn:
        audit.record(
            conn,
            event,
            actor=actor,
            outcome=outcome,
            details=details,
            request_meta=meta.as_audit(),
        )


def _flow_actor(flow: RowMapping | None) -> dict[str, Any] | None:
    if flow is None or flow["user_id"] is None:
        return None
    with get_database().transaction() as conn:
        user = auth_repo.get_user(conn, flow["user_id"])
    return actor_of(user) if user is not None else None


def _fail(flow: RowMapping | None, provider: str, reason: str, meta: RequestMeta) -> None:
    """Audit a failed callback: a failed sign-in, or a refused link."""
    event = (
        "authn_sso_linked" if flow is not None and flow["purpose"] == "link" else "authn_login_fail"
    )
    _audit(
        event,
        outcome="failure",
        meta=meta,
        actor=_flow_actor(flow),
        reason=f"sso_{reason}",
        provider=provider,
    )


def complete_callback(
    provider_name: str, query: dict[str, str | None], binding: str | None, meta: RequestMeta
) -> CallbackOutcome:
    """Finish a flow: check the state, exchange the code, check the ID token, then sign in,
    offer registration, or link, as the flow was started for."""
    settings, provider = provider_of(provider_name)
    client = client_for(provider, settings)
    try:
        with get_database().transaction() as conn:
            flow = flows.spend_flow(
                conn,
                state=query.get("state") or "",
                binding=binding,
                provider=provider.name,
                now=utcnow(),
            )
    except flows.FlowInvalid as exc:
        _fail(exc.flow, provider.name, exc.reason, meta)
        raise SsoStateInvalid() from exc
    error = query.get("error")
    if error:
        code = error if error in PROVIDER_ERRORS else "provider_error"
        _fail(flow, provider.name, f"provider_{code}", meta)
        raise SsoDenied(f"The provider answered {code}.", error=code)
    try:
        metadata = client.metadata()
        issuer = query.get("iss")
        # RFC 9207: an answer naming another issuer is a mix-up attack.
        if (issuer is not None and issuer != provider.issuer) or (
            issuer is None and metadata.iss_parameter_supported
        ):
            _fail(flow, provider.name, "issuer_mismatch", meta)
            raise SsoStateInvalid()
        code = query.get("code")
        if not code:
            _fail(flow, provider.name, "code_missing", meta)
            raise SsoDenied("The provider's answer has no authorization code.", error="no_code")
        derived = flows.secrets_of(query.get("state") or "")
        token = client.exchange_code(
            code=code,
            redirect_uri=settings.redirect_uri(provider),
            code_verifier=derived.code_verifier,
        )
        identity = client.validate_id_token(
            token["id_token"], nonce=derived.nonce, access_token=token.get("access_token")
        )
        # The provider's access and refresh tokens are not needed: they are not kept.
        del token
    except ProviderUnavailable as exc:
        log.warning("single sign-on provider unavailable: %s", exc)
        _fail(flow, provider.name, "provider_unavailable", meta)
        raise SsoProviderUnavailable() from exc
    except CodeRejected as exc:
        _fail(flow, provider.name, f"code_rejected:{exc.error}"[:60], meta)
        raise SsoCodeRejected() from exc
    except IdTokenRejected as exc:
        _fail(flow, provider.name, f"id_token:{exc.reason}"[:80], meta)
        raise SsoIdTokenInvalid() from exc
    if flow["purpose"] == "link":
        return Linked(_link(flow, provider, identity, meta))
    return _sign_in(flow, provider, identity, meta, settings)


def _profile(identity: Identity) -> dict[str, Any]:
    """What a link keeps of the person: an e-mail address only when the provider vouches."""
    return {
        "email": identity.email if identity.email_verified else None,
        "display_name": identity.name,
        "avatar_url": identity.picture,
    }


def _sign_in(
    flow: RowMapping,
    provider: ProviderSettings,
    identity: Identity,
    meta: RequestMeta,
    settings: SsoSettings,
) -> CallbackOutcome:
    now = utcnow()
    refusal: str | None = None
    user: RowMapping | None = None
    with get_database().transaction() as conn:
        link = repo.find_link(conn, provider.name, identity.subject)
        if link is not None and link["issuer"] not in (None, identity.issuer):
            refusal = "issuer_changed"
        elif link is not None:
            user = auth_repo.get_user_for_update(conn, link["user_id"])
            if user is None or user["account_status"] != "active":
                refusal = "account_inactive"
            elif user["locked_until"] is not None and user["locked_until"] > now:
                refusal = "account_locked"
            else:
                repo.touch_link(conn, link["id"], now, issuer=identity.issuer, **_profile(identity))
        if refusal is not None or link is None:
            audit.record(
                conn,
                "authn_login_fail",
                actor=actor_of(user) if user is not None else None,
                outcome="failure",
                details={"reason": f"sso_{refusal or 'not_linked'}", "provider": provider.name},
                request_meta=meta.as_audit(),
            )
    if refusal is not None:
        raise SsoSignInRefused()
    if user is None:
        return _registration_offer(flow, provider, identity, settings)
    resume_unfinished_registration(user)
    method = f"sso:{provider.name}"
    if user["mfa_enabled"]:
        asserted = set(identity.amr) & set(provider.mfa_amr)
        if not (provider.trust_mfa and asserted):
            return issue_mfa_challenge(user["id"], first_factor=method)
        method += "+provider_mfa"
    return complete_login(user["id"], meta, method=method)


def _registration_offer(
    flow: RowMapping, provider: ProviderSettings, identity: Identity, settings: SsoSettings
) -> RegistrationRequired:
    """A signed, short-lived token carrying the verified identity to the registration step;
    the flow row makes it single use."""
    lifetime = settings.flow_lifetime
    token = create_access_token(
        identity=flow["id"],
        additional_claims={
            "type": REGISTRATION_TOKEN_TYPE,
            "provider": provider.name,
            "idp_issuer": identity.issuer,
            "subject": identity.subject,
            "email": identity.email,
            "email_verified": identity.email_verified,
            "name": identity.name,
            "picture": identity.picture,
        },
        expires_delta=lifetime,
    )
    return RegistrationRequired(
        token,
        int(lifetime.total_seconds()),
        provider.name,
        identity.email,
        identity.email_verified,
        identity.name,
    )


def account_json(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    """A linked account as the API shows it (never any token)."""
    return {
        "id": row["id"],
        "provider": row["provider"],
        "email": row["email"],
        "display_name": row["display_name"],
        "avatar_url": row["avatar_url"],
        "is_primary": bool(row["is_primary"]),
        "created_at": row["created_at"].isoformat(),
        "last_used_at": row["last_used_at"].isoformat() if row["last_used_at"] else None,
    }


def link_values(
    user_id: str, provider: ProviderSettings, identity: Identity, *, primary: bool, now: datetime
) -> dict[str, Any]:
    """The row of a new link. Provider tokens are not stored: nothing Pathfinder does needs
    them, and a token that is not kept cannot leak."""
    return {
        "id": new_id(),
        "user_id": user_id,
        "provider": provider.name,
        "provider_user_id": identity.subject,
        "issuer": identity.issuer,
        **_profile(identity),
        "is_primary": primary,
        "row_version": 1,
        "last_used_at": None,
        "created_at": now,
        "updated_at": now,
    }


def _link(
    flow: RowMapping, provider: ProviderSettings, identity: Identity, meta: RequestMeta
) -> dict[str, Any]:
    now = utcnow()
    refusal: type[Exception] | None = None
    values: dict[str, Any] | None = None
    try:
        with get_database().transaction() as conn:
            # Lock order: the user row, then their links.
            user = auth_repo.get_user_for_update(conn, flow["user_id"])
            existing = repo.find_link(conn, provider.name, identity.subject)
            if user is None or user["account_status"] != "active":
                refusal = SsoSignInRefused  # suspended (or deleted) since the link started
            elif existing is not None:
                refusal = (
                    SsoAlreadyLinked if existing["user_id"] == user["id"] else SsoIdentityInUse
                )
            else:
                primary = repo.count_links(conn, user["id"]) == 0
                values = link_values(user["id"], provider, identity, primary=primary, now=now)
                repo.insert_link(conn, values)
            audit.record(
                conn,
                "authn_sso_linked",
                actor=actor_of(user) if user is not None else None,
                target_type="sso_account",
                target_id=values["id"] if values else None,
                outcome="failure" if refusal else "success",
                details={
                    "provider": provider.name,
                    **({"reason": refusal.slug} if refusal else {}),  # type: ignore[attr-defined]
                },
                request_meta=meta.as_audit(),
            )
    except sa.exc.IntegrityError as exc:
        # The same identity linked by a concurrent request a moment before.
        _fail(flow, provider.name, "identity_in_use", meta)
        raise SsoIdentityInUse("This identity was just linked to an account.") from exc
    if refusal is SsoSignInRefused:
        raise SsoSignInRefused()
    if refusal is SsoAlreadyLinked:
        raise SsoAlreadyLinked("This identity is already linked to your account.")
    if refusal is SsoIdentityInUse:
        raise SsoIdentityInUse("This identity is linked to another account; unlink it there first.")
    assert values is not None  # noqa: S101 - every other path raised
    return account_json(values)


# -- listing and unlinking ----------------------------------------------------------------------


def list_accounts(principal: Principal) -> list[dict[str, Any]]:
    """The caller's linked accounts, oldest first."""
    with get_database().transaction() as conn:
        return [account_json(row) for row in repo.list_links(conn, principal.user_id)]


def unlink(principal: Principal, link_id: str, meta: RequestMeta) -> None:
    """Remove one of the caller's links, unless it is their last way to sign in.

    The user row is locked first, so two unlinks at once cannot each see the other link
    and remove both.
    """
    now = utcnow()
    refused = False
    with get_database().transaction() as conn:
        user = auth_repo.get_user_for_update(conn, principal.user_id)
        link = repo.get_link(conn, principal.user_id, link_id) if user is not None else None
        if user is None or link is None:
            raise NotFound("No such linked account.")
        if user["password_hash"] is None and repo.count_links(conn, principal.user_id) <= 1:
            refused = True
        else:
            repo.delete_link(conn, link_id)
            if link["is_primary"]:
                repo.promote_oldest(conn, principal.user_id, now)
        audit.record(
            conn,
            "authn_sso_unlinked",
            actor=principal,
            target_type="sso_account",
            target_id=link_id,
            outcome="failure" if refused else "success",
            details={
                "provider": link["provider"],
                **({"reason": "last_sign_in_method"} if refused else {}),
            },
            request_meta=meta.as_audit(),
        )
    if refused:
        raise SsoLastSignInMethod()


def make_primary(principal: Principal, link_id: str, meta: RequestMeta) -> dict[str, Any]:
    """Make one of the caller's links the one shown first (at most one per user)."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = auth_repo.get_user_for_update(conn, principal.user_id)
        link = repo.get_link(conn, principal.user_id, link_id) if user is not None else None
        if link is None:
            raise NotFound("No such linked account.")
        repo.make_primary(conn, principal.user_id, link_id, now)
        audit.record(
            conn,
            "user_updated",
            actor=principal,
            target_type="sso_account",
            target_id=link_id,
            details={"change": "sso_primary", "provider": link["provider"]},
            request_meta=meta.as_audit(),
        )
        updated = repo.get_link(conn, principal.user_id, link_id)
    assert updated is not None  # noqa: S101 - locked above
    return account_json(updated)
