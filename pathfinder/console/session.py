"""The console's sign-in state: a signed cookie session, CSRF tokens and timeouts.

The cookie holds only the session family id of an ordinary sign-in (the same
``pf_user_sessions`` row an API login makes, so "sign out everywhere", suspension and
lockout end a console session exactly as they end an API one), the user id, when the
sign-in started and when the last request came. It is ``HttpOnly``, ``SameSite=Lax``,
``Secure`` in production, scoped to ``/console`` and signed with a key derived from the JWT
secret (no second secret to configure).

Every POST carries the session's CSRF token in a hidden field; a missing or wrong token,
or an ``Origin`` header naming another site, is refused before the view runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from flask import Flask, Request, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from pathfinder.security.secrets import resolve_secret

CONSOLE_PATH = "/console"
COOKIE_NAME = "pathfinder_console"
_KEY_EXTENSION = "pathfinder.console_key"


class CsrfRefused(Exception):
    """A form post without this session's token, or from another site's page."""


def _console_key(app: Flask) -> bytes:
    key = app.extensions.get(_KEY_EXTENSION)
    if key is None:
        jwt_key = resolve_secret(app.config, "JWT_SECRET_KEY")
        key = hmac.new(jwt_key.encode(), b"pathfinder console session v1", hashlib.sha256).digest()
        app.extensions[_KEY_EXTENSION] = key
    return key


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, only on console paths, keyed from the JWT secret."""

    salt = "pathfinder-console"

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:  # type: ignore[override]
        return URLSafeTimedSerializer(
            _console_key(app),
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )

    def open_session(self, app: Flask, request: Request) -> Any:
        if not _on_console(request.path):
            return self.null_session_class()
        return super().open_session(app, request)

    def get_cookie_name(self, app: Flask) -> str:
        return COOKIE_NAME

    def get_cookie_path(self, app: Flask) -> str:
        return CONSOLE_PATH

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("PRODUCTION"))

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Lax"


def _on_console(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


# -- CSRF ------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's form token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def check_csrf() -> None:
    """Refuse a state-changing request whose token or origin is not this session's."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("Origin")
    # "null" is what a browser sends when a referrer policy hides the origin: the token
    # below still decides. A named origin other than ours is another site's page.
    if origin and origin != "null" and origin != request.host_url.rstrip("/"):
        raise CsrfRefused("the form was sent from another site")
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(str(expected), sent):
        raise CsrfRefused("the form's security token is missing or out of date")


# -- the signed-in state -------------------------------------------------------------------


def start(user_id: str, family_id: str) -> None:
    """Begin a console session for a completed sign-in (a fresh cookie: no fixation)."""
    session.clear()
    now = int(time.time())
    session.update({"uid": user_id, "sid": family_id, "started": now, "seen": now})
    session.permanent = False
    csrf_token()


def remember_mfa(mfa_token: str) -> None:
    """Keep the first step's MFA token until the code is entered."""
    session.clear()
    session["mfa"] = mfa_token
    csrf_token()


def clear() -> None:
    session.clear()


def expired_reason() -> str | None:
    """Why the current sign-in is over by the console's clocks, or None."""
    now = time.time()
    idle = int(current_app.config["CONSOLE_IDLE_MINUTES"]) * 60
    absolute = int(current_app.config["CONSOLE_ABSOLUTE_HOURS"]) * 3600
    if now - float(session.get("seen", 0)) > idle:
        return f"You were signed out after {idle // 60} minutes without activity."
    if now - float(session.get("started", 0)) > absolute:
        return f"You were signed out {absolute // 3600} hours after signing in; sign in again."
    return None


def touch() -> None:
    session["seen"] = int(time.time())
