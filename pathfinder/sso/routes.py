"""``/api/v1/auth/sso/...``: parse, authorise, call the service, serialise. Nothing else.

The start answers a redirect and sets the browser-binding cookie (``pathfinder.sso.flows``);
the callback must come back with that cookie. Cookies are HttpOnly, SameSite=Lax (sent on the
provider's top-level redirect back, not on cross-site subrequests) and Secure outside plain
HTTP development.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.fields import segment_converter
from pathfinder.api.ratelimit import rate_limited
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import public, requires
from pathfinder.auth.responses import AuthTokens
from pathfinder.auth.routes import caller, request_meta
from pathfinder.auth.service import complete_login
from pathfinder.sso import flows, service
from pathfinder.sso.registration import register_from_sso
from pathfinder.sso.responses import (
    SsoAuthorization,
    SsoCallbackResult,
    SsoLinkedAccount,
    SsoLinkedAccountList,
    SsoProviderList,
)
from pathfinder.sso.schemas import SsoCallbackQuery, SsoLinkRequest, SsoRegisterRequest
from pathfinder.sso.settings import PROVIDER_NAME, PROVIDER_NAME_MAX_LENGTH

bp = Blueprint("sso", __name__)


ProviderConverter = segment_converter(
    PROVIDER_NAME.pattern,
    max_length=PROVIDER_NAME_MAX_LENGTH,
    example="google",
    doc="``<sso_provider:provider>``: a segment that can name a provider (as provider names "
    "are configured, pathfinder.sso.settings); an unconfigured one is 404 "
    "``sso-provider-unknown``.",
)


TAGS = ("auth",)


def _set_binding(response: Response, started: service.StartedFlow) -> Response:
    secure = bool(current_app.config.get("PRODUCTION")) or request.scheme == "https"
    response.set_cookie(
        flows.BINDING_COOKIE,
        started.binding,
        max_age=started.expires_in,
        path=flows.COOKIE_PATH,
        httponly=True,
        secure=secure,
        samesite="Lax",
    )
    return response


@bp.get("/providers")
@public
@contract(responses={200: SsoProviderList}, tags=TAGS)
def providers() -> ResponseReturnValue:
    """The configured sign-in providers (for sign-in buttons)."""
    return jsonify({"items": service.list_providers()}), 200


@bp.get("/<sso_provider:provider>/start")
@public
@contract(responses={302: None}, tags=TAGS)
@rate_limited("RATELIMIT_LOGIN")
def start(provider: str) -> ResponseReturnValue:
    """Sign in (or register) with a provider: redirects the browser to it (PKCE, state and
    nonce) and sets the cookie that binds the flow to this browser."""
    started = service.start_sign_in(provider, request.cookies.get(flows.BINDING_COOKIE))
    response = Response(status=302, headers={"Location": started.authorization_url})
    return _set_binding(response, started)


@bp.get("/<sso_provider:provider>/callback")
@public
@contract(
    query=SsoCallbackQuery, responses={200: SsoCallbackResult, 201: SsoLinkedAccount}, tags=TAGS
)
@rate_limited("RATELIMIT_LOGIN")
def callback(provider: str) -> ResponseReturnValue:
    """Where the provider sends the browser back. A sign-in answers tokens, an MFA
    challenge or a registration offer (200); a link answers the linked account (201)."""
    query = parse_query(SsoCallbackQuery)
    outcome = service.complete_callback(
        provider,
        query.model_dump(),
        request.cookies.get(flows.BINDING_COOKIE),
        request_meta(),
    )
    if isinstance(outcome, service.Linked):
        return jsonify(outcome.account), 201
    return jsonify(outcome.as_json()), 200


@bp.post("/<sso_provider:provider>/link")
@requires("user")
@contract(body=SsoLinkRequest, responses={200: SsoAuthorization}, tags=TAGS, body_required=False)
def link(provider: str) -> ResponseReturnValue:
    """Start linking a provider to my account (needs my password, or a recent sign-in for
    an account without one); send the browser to `authorization_url`."""
    body = parse_body(SsoLinkRequest)
    started = service.start_link(
        caller(),
        provider,
        body.password,
        request.cookies.get(flows.BINDING_COOKIE),
        request_meta(),
    )
    response = jsonify(
        {"authorization_url": started.authorization_url, "expires_in": started.expires_in}
    )
    return _set_binding(response, started), 200


@bp.post("/register")
@public
@contract(body=SsoRegisterRequest, responses={201: AuthTokens}, tags=TAGS)
@rate_limited("RATELIMIT_REGISTER")
def register() -> ResponseReturnValue:
    """Create an account from a verified identity (self-registration or an invitation) and
    sign in."""
    body = parse_body(SsoRegisterRequest)
    user_id = register_from_sso(
        body.registration_token, body.username, body.invitation_token, request_meta()
    )
    tokens = complete_login(user_id, request_meta(), method="sso_registration")
    return jsonify(tokens.as_json()), 201


@bp.get("/accounts")
@requires("user")
@contract(responses={200: SsoLinkedAccountList}, tags=TAGS)
def accounts() -> ResponseReturnValue:
    """My linked sign-in providers."""
    return jsonify({"items": service.list_accounts(caller())}), 200


@bp.delete("/accounts/<id:sso_account_id>")
@requires("user")
@contract(responses={204: None}, tags=TAGS)
def unlink(sso_account_id: str) -> ResponseReturnValue:
    """Unlink a provider (refused when it is my last way to sign in)."""
    service.unlink(caller(), sso_account_id, request_meta())
    return "", 204


@bp.post("/accounts/<id:sso_account_id>/primary")
@requires("user")
@contract(responses={200: SsoLinkedAccount}, tags=TAGS)
def make_primary(sso_account_id: str) -> ResponseReturnValue:
    """Show this linked account first (the others stop being primary)."""
    return jsonify(service.make_primary(caller(), sso_account_id, request_meta())), 200
