"""Signing in and out of the console, and accepting an invitation in a browser.

Sign-in is the API's: :func:`pathfinder.auth.service.login` (lockout, the same answer for
an unknown user and a wrong password), :func:`pathfinder.auth.mfa.verify_login` for the
second step, and the API's rate limits, counted on the API endpoints' own counters, so a
form and the JSON route together get no more attempts than either alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pathfinder.admin import invitations
from pathfinder.admin.schemas import AcceptInvitation
from pathfinder.api.errors import Problem, TooManyRequests
from pathfinder.api.ratelimit import enforce_limit
from pathfinder.auth import guard, mfa, service
from pathfinder.auth import repo as auth_repo
from pathfinder.auth.errors import InvalidToken
from pathfinder.console import session as console_session
from pathfinder.console.blueprint import bp, page, principal, request_meta
from pathfinder.console.forms import FormErrors, parse, problem_errors, text
from pathfinder.db import get_database


def _next_page() -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    target = request.values.get("next") or ""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.dashboard")


def _finish(tokens: service.TokenPair) -> ResponseReturnValue:
    """Keep the new session if its account may use the console; end it otherwise."""
    caller = guard.load_principal({"sub": tokens.user_id, "sid": tokens.session_id})
    if not caller.has_role("admin"):
        service.revoke_session(caller, tokens.session_id, request_meta())
        console_session.clear()
        return render_template(
            "console/sign_in.html",
            errors={"": "This account cannot use the console; it is for administrators."},
            login="",
        ), 403
    console_session.start(tokens.user_id, tokens.session_id)
    return redirect(_next_page())


@bp.route("/sign-in", methods=["GET", "POST"])
@page(None)
def sign_in() -> ResponseReturnValue:
    """The sign-in form: login (username or e-mail) and password."""
    if request.method == "GET":
        return render_template(
            "console/sign_in.html", errors={}, login="", message=request.args.get("message")
        )
    login = text(request.form, "login") or ""
    password = request.form.get("password") or ""
    errors: dict[str, str] = {}
    if not login:
        errors["login"] = "Enter your username or e-mail address."
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105 - a message, not a secret
    if errors:
        return render_template("console/sign_in.html", errors=errors, login=login), 422
    try:
        enforce_limit("RATELIMIT_LOGIN", scope="auth.login", account=login)
        result = service.login(login, password, request_meta())
    except TooManyRequests as exc:
        return render_template("console/sign_in.html", errors={"": exc.detail}, login=login), 429
    except Problem as exc:
        return render_template(
            "console/sign_in.html", errors={"": exc.detail or exc.title}, login=login
        ), exc.status
    if isinstance(result, service.MfaChallenge):
        console_session.remember_mfa(result.mfa_token)
        return redirect(url_for("console.sign_in_mfa", next=request.values.get("next") or None))
    return _finish(result)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@page(None)
def sign_in_mfa() -> ResponseReturnValue:
    """The second step for an account with MFA: an authenticator code or a recovery code."""
    token = console_session.session.get("mfa")
    if not token:
        return redirect(url_for("console.sign_in"))
    if request.method == "GET":
        return render_template("console/sign_in_mfa.html", errors={})
    code = text(request.form, "code")
    recovery = text(request.form, "recovery_code")
    if not code and not recovery:
        errors = {"code": "Enter the 6-digit code from your authenticator app."}
        return render_template("console/sign_in_mfa.html", errors=errors), 422
    try:
        enforce_limit("RATELIMIT_LOGIN", scope="auth.login_mfa")
        tokens = mfa.verify_login(str(token), code, recovery, request_meta())
    except InvalidToken:
        console_session.clear()
        message = "The sign-in took too long; start again."
        return redirect(url_for("console.sign_in", message=message))
    except Problem as exc:
        field = "recovery_code" if recovery and not code else "code"
        errors = {field: exc.detail or exc.title}
        return render_template("console/sign_in_mfa.html", errors=errors), exc.status
    return _finish(tokens)


@bp.post("/sign-out")
@page("admin")
def sign_out() -> ResponseReturnValue:
    """End this console session (its session row is revoked, as an API logout does)."""
    caller = principal()
    service.revoke_session(caller, caller.session_id, request_meta())
    console_session.clear()
    return redirect(url_for("console.sign_in", message="You are signed out."))


@bp.route("/join/<token>", methods=["GET", "POST"])
@page(None)
def accept_invitation(token: str) -> ResponseReturnValue:
    """An invitation's page: choose a username and password to create the account."""
    invitation = invitations.lookup(token)
    if request.method == "GET":
        return render_template(
            "console/join.html", invitation=invitation, errors={}, form={}, done=False
        )
    form = {k: request.form.get(k, "") for k in ("username", "first_name", "last_name")}
    try:
        enforce_limit("RATELIMIT_REGISTER", scope="account.accept_invitation")
        body = parse(
            AcceptInvitation,
            {
                "username": form["username"],
                "password": request.form.get("password", ""),
                "first_name": form["first_name"] or None,
                "last_name": form["last_name"] or None,
            },
        )
        tokens = invitations.accept(token, body, request_meta())
    except FormErrors as exc:
        return render_template(
            "console/join.html", invitation=invitation, errors=exc.errors, form=form, done=False
        ), 422
    except Problem as exc:
        return render_template(
            "console/join.html",
            invitation=invitation,
            errors=problem_errors(exc),
            form=form,
            done=False,
        ), exc.status
    # The account is made; its owner signs in with the app, not here.
    with get_database().transaction() as conn:
        auth_repo.revoke_family(conn, tokens.session_id, "logout", datetime.now(UTC))
    return render_template(
        "console/join.html", invitation=invitation, errors={}, form=form, done=True
    )
