"""The console blueprint: who may open which page, errors as pages, security headers.

To the API's auth guard every console view is ``@public`` (it carries no bearer token);
the console checks its own cookie session here instead, then holds the caller to the same
rules as the API: the session row must be live and the account active
(:func:`pathfinder.auth.guard.load_principal`), the page's role is checked with the same
role ranks, and admins need MFA when ``mfa_required_for_admins`` is on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import HTTPException

from pathfinder.api.errors import Forbidden, Problem, Unauthorized
from pathfinder.auth import guard
from pathfinder.auth.policy import public
from pathfinder.auth.principal import Principal
from pathfinder.console import session as console_session

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
)
STATIC_FOLDER = Path(__file__).parent / "static"

ROLE_ATTRIBUTE = "_console_role"
# Scripts and styles only from the app; forms post only to the app; no frames.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def page(role: str | None) -> Callable[[F], F]:
    """A console page for callers with at least ``role`` (None: anyone, e.g. sign-in)."""

    def decorate(view: F) -> F:
        setattr(view, ROLE_ATTRIBUTE, role)
        return public(view)  # the API's bearer guard steps aside; checked below

    return decorate


def principal() -> Principal:
    found = g.get("principal")
    if found is None:
        raise RuntimeError("no principal on a signed-in console page")
    return found


def _role_of(endpoint: str | None) -> str | None:
    if endpoint is None or endpoint == "console.static":
        return None
    view = current_app.view_functions.get(endpoint)
    return getattr(view, ROLE_ATTRIBUTE, None) if view is not None else None


def _to_sign_in(message: str | None = None) -> Response:
    args = {"next": request.full_path.rstrip("?")} if request.method == "GET" else {}
    if message:
        args["message"] = message
    return redirect(url_for("console.sign_in") + ("?" + urlencode(args) if args else ""))


@bp.get("/static/<path:filename>", endpoint="static")
@page(None)
def static_file(filename: str) -> Response:
    """The console's stylesheet (served by the app: no CDN, no build step)."""
    return send_from_directory(STATIC_FOLDER, filename, max_age=3600)


@bp.before_request
def _check_session() -> Response | None:
    if request.method == "OPTIONS":
        return None  # Flask answers with the Allow header; no view runs
    console_session.check_csrf()
    role = _role_of(request.endpoint)
    if role is None:
        return None
    if "uid" not in console_session.session:
        return _to_sign_in()
    reason = console_session.expired_reason()
    try:
        caller = guard.load_principal(
            {"sub": console_session.session["uid"], "sid": console_session.session["sid"]}
        )
    except Unauthorized:
        console_session.clear()
        return _to_sign_in("Your session has ended; sign in again.")
    if reason is not None:
        from pathfinder.auth import service

        service.revoke_session(caller, caller.session_id, request_meta())
        console_session.clear()
        return _to_sign_in(reason)
    g.principal = caller
    console_session.touch()
    if not caller.has_role(role):
        raise Forbidden("Your role does not allow this page.")
    guard.require_admin_mfa(caller)
    return None


def request_meta() -> Any:
    from pathfinder.auth.service import RequestMeta

    return RequestMeta(ip_address=request.remote_addr, user_agent=request.headers.get("User-Agent"))


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONSOLE_CSP
    # Same-origin form posts then carry our Origin (checked with the token); other sites
    # still learn nothing from the Referer.
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    def can(role: str) -> bool:
        found = g.get("principal")
        return bool(found is not None and found.has_role(role))

    return {
        "csrf_token": console_session.csrf_token,
        "can": can,
        "me": g.get("principal"),
        "notice": request.args.get("notice"),
    }


@bp.errorhandler(console_session.CsrfRefused)
def _csrf_refused(error: console_session.CsrfRefused) -> tuple[str, int]:
    # 400 like other CSRF protections (Flask-WTF): the request is malformed for this session.
    return render_template(
        "console/error.html", status=400, title="Form refused", detail=f"Refused: {error}."
    ), 400


@bp.errorhandler(Problem)
def _problem(error: Problem) -> tuple[str, int]:
    return render_template(
        "console/error.html", status=error.status, title=error.title, detail=error.detail
    ), error.status


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return render_template(
        "console/error.html", status=status, title=error.name, detail=error.description
    ), status
