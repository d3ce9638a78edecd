"""The auth guard: every request passes here before its view runs.

Order, as the architecture fixes it: the route's declared policy (none declared: 403), then
for non-public routes the JWT (signature, expiry, type: 401 when wrong), then its session
row (revoked or expired: 401), then the account's status and the role the database holds now
(not the role in the token, so a demotion takes effect at once), then MFA for admins when the
system flag asks for it. The caller becomes ``flask.g.principal``.

``OPTIONS`` requests pass untouched: they run no view and answer only the route's methods
(and, for an allowed origin's preflight, its CORS headers).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import JWTManager, get_jwt, verify_jwt_in_request

from pathfinder.api.errors import Forbidden, Unauthorized, problem_response
from pathfinder.auth import repo
from pathfinder.auth.policy import policy_of
from pathfinder.auth.principal import Principal
from pathfinder.db import get_database
from pathfinder.flags.system import system_flag
from pathfinder.security.secrets import resolve_secret

log = logging.getLogger(__name__)

ACTIVITY_TOUCH_INTERVAL = timedelta(seconds=60)
ACTIVE_STATUSES = ("active", "pending_verification")


def init_app(app: Flask) -> None:
    """Configure flask-jwt-extended and install the guard."""
    app.config.setdefault("JWT_ACCESS_TOKEN_EXPIRES", timedelta(minutes=15))
    app.config["JWT_ALGORITHM"] = "HS256"
    # Only HS256 is accepted on decode: "alg": "none" and algorithm confusion fail.
    app.config["JWT_DECODE_ALGORITHMS"] = ["HS256"]
    app.config["JWT_TOKEN_LOCATION"] = ["headers"]
    app.config.setdefault("JWT_SECRET_KEY", None)
    jwt = JWTManager(app)

    def secret(*_args: Any) -> str:
        # Read lazily: create_app does no I/O, and a dev secret may live in a file.
        key = app.extensions.get("pathfinder.jwt_key")
        if key is None:
            key = resolve_secret(app.config, "JWT_SECRET_KEY")
            app.extensions["pathfinder.jwt_key"] = key
        return key

    jwt.encode_key_loader(secret)
    jwt.decode_key_loader(secret)

    def unauthorized(reason: str) -> Response:
        body = Unauthorized(reason).to_dict()
        return problem_response(body, 401, {"WWW-Authenticate": "Bearer"})

    jwt.unauthorized_loader(lambda reason: unauthorized("A bearer access token is required."))
    jwt.invalid_token_loader(lambda reason: unauthorized("The access token is invalid."))
    jwt.expired_token_loader(lambda header, payload: unauthorized("The access token has expired."))
    jwt.revoked_token_loader(lambda header, payload: unauthorized("The session has ended."))
    jwt.user_lookup_error_loader(lambda header, payload: unauthorized("The session has ended."))
    jwt.needs_fresh_token_loader(lambda header, payload: unauthorized("Sign in again."))
    jwt.invalid_token_loader(lambda reason: unauthorized("The access token is invalid."))

    app.before_request(_guard)


def _guard() -> None:
    endpoint = request.endpoint
    if endpoint is None:
        return  # no route matched: the 404/405 handler answers
    if request.method == "OPTIONS":
        # A CORS preflight (or a plain OPTIONS) carries no credentials and runs no view:
        # Flask answers it with the route's Allow header. flask-jwt-extended exempts
        # OPTIONS and loads no claims, so reading them here was a 500 on every route.
        return
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return
    if endpoint == "static":
        return
    policy = policy_of(view)
    if policy is None:
        log.error("route %s has no access policy; denied", endpoint)
        raise Forbidden("This route has no access policy.", slug="no-policy")
    if policy.public:
        return
    verify_jwt_in_request()
    claims = get_jwt()
    if claims.get("type") != "access":
        raise Unauthorized("An access token is required.")
    g.principal = load_principal(claims)
    if not g.principal.has_role(policy.role or "user"):
        from pathfinder import audit

        with get_database().transaction() as conn:
            audit.record(
                conn,
                "authz_fail",
                actor=g.principal,
                outcome="failure",
                details={"route": endpoint, "required_role": policy.role},
            )
        raise Forbidden("Your role does not allow this.")
    if policy.role in ("admin", "site_admin"):
        require_admin_mfa(g.principal)


def load_principal(claims: dict[str, Any]) -> Principal:
    """Check the token's session and account in the database; return the caller.

    The check is the request's first unit of work and is left open: the route's own unit
    continues its transaction on the same connection and commits both (``pathfinder.db
    .request_scope``), so a read request costs one checkout and one transaction. It is left
    open only while it has only read: the activity stamp (once a minute per session) locks
    the user's row, and a lock held into the route would come before the locks the route
    takes first (``docs/architecture.md``, "Lock order"), so that write commits at once.
    """
    now = datetime.now(UTC)
    user_id = str(claims.get("sub", ""))
    family_id = str(claims.get("sid", ""))
    database = get_database()
    with database.transaction(leave_open=True) as conn:
        row = repo.live_session_with_user(conn, family_id, user_id, now)
        if row is None:
            raise Unauthorized("The session has ended or was revoked.", slug="session-ended")
        if row["account_status"] not in ACTIVE_STATUSES:
            raise Unauthorized("The account is not active.", slug="account-inactive")
    last = row["session_activity_at"]
    if last is None or now - last > ACTIVITY_TOUCH_INTERVAL:
        with database.transaction() as conn:  # continues the check's unit, and commits it
            repo.touch_activity(conn, user_id, row["session_row_id"], now)
    return Principal(
        user_id=row["id"],
        username=row["username"],
        role=row["role"],
        session_id=family_id,
        mfa_enabled=bool(row["mfa_enabled"]),
    )


def require_admin_mfa(principal: Principal) -> None:
    """With ``mfa_required_for_admins`` on, admin routes need an MFA-enrolled caller."""
    if principal.mfa_enabled:
        return
    with get_database().transaction() as conn:
        required = system_flag(conn, "mfa_required_for_admins")
    if required:
        raise Forbidden(
            "Enrol in MFA (POST /api/v1/auth/mfa/enroll) before using admin routes.",
            slug="mfa-required",
        )
