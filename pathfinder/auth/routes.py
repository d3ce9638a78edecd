"""``/api/v1/auth/...``: parse, authorise, call the service, serialise. Nothing else."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import contract
from pathfinder.api.errors import NotFound
from pathfinder.api.ratelimit import rate_limited
from pathfinder.api.validation import parse_body
from pathfinder.auth import email_change, mfa, password, service
from pathfinder.auth.policy import public, requires
from pathfinder.auth.principal import Principal, current_principal
from pathfinder.auth.responses import (
    AuthEmailChanged,
    AuthEmailVerified,
    AuthLoginResult,
    AuthMfaDisabled,
    AuthMfaEnabled,
    AuthMfaEnrolment,
    AuthPasswordChanged,
    AuthRecoveryCodes,
    AuthResetRequested,
    AuthSessionList,
    AuthTokens,
    AuthVerificationSent,
)
from pathfinder.auth.schemas import (
    ChangePasswordRequest,
    CodeRequest,
    ForgotPasswordRequest,
    LoginRequest,
    MfaDisableRequest,
    MfaEnrolRequest,
    MfaLoginRequest,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    TokenRequest,
)

bp = Blueprint("auth", __name__)


def request_meta() -> service.RequestMeta:
    return service.RequestMeta(
        ip_address=request.remote_addr, user_agent=request.headers.get("User-Agent")
    )


def caller() -> Principal:
    principal = current_principal()
    if principal is None:  # the guard guarantees one on non-public routes
        raise RuntimeError("no principal on an authenticated route")
    return principal


@bp.post("/register")
@public
@contract(body=RegisterRequest, responses={201: AuthTokens}, tags=("auth",))
@rate_limited("RATELIMIT_REGISTER")
def register() -> ResponseReturnValue:
    """Create an account (self-registration flag, or an invitation token) and sign in."""
    body = parse_body(RegisterRequest)
    if body.invitation_token:
        from pathfinder.auth.invitations import register_with_invitation

        user_id = register_with_invitation(body, request_meta())
    else:
        user_id = service.register(
            username=body.username,
            email=body.email,
            password=body.password,
            first_name=body.first_name,
            last_name=body.last_name,
            meta=request_meta(),
        )
    tokens = service.complete_login(user_id, request_meta(), method="registration")
    return jsonify(tokens.as_json()), 201


@bp.post("/login")
@public
@contract(body=LoginRequest, responses={200: AuthLoginResult}, tags=("auth",))
@rate_limited("RATELIMIT_LOGIN", account_field="login")
def login() -> ResponseReturnValue:
    """Password login; answers tokens, or `mfa_required` with a short-lived MFA token."""
    body = parse_body(LoginRequest)
    result = service.login(body.login, body.password, request_meta())
    return jsonify(result.as_json()), 200


@bp.post("/login/mfa")
@public
@contract(body=MfaLoginRequest, responses={200: AuthTokens}, tags=("auth",))
@rate_limited("RATELIMIT_LOGIN")
def login_mfa() -> ResponseReturnValue:
    """Second login step: a TOTP code or a recovery code with the MFA token."""
    body = parse_body(MfaLoginRequest)
    tokens = mfa.verify_login(body.mfa_token, body.code, body.recovery_code, request_meta())
    return jsonify(tokens.as_json()), 200


@bp.post("/refresh")
@public
@contract(body=RefreshRequest, responses={200: AuthTokens}, tags=("auth",))
@rate_limited("RATELIMIT_REFRESH")
def refresh() -> ResponseReturnValue:
    """Swap a refresh token for a new pair; the old one stops working."""
    body = parse_body(RefreshRequest)
    return jsonify(service.refresh(body.refresh_token, request_meta()).as_json()), 200


@bp.post("/logout")
@requires("user")
@contract(responses={204: None}, tags=("auth",))
def logout() -> ResponseReturnValue:
    """End the current session."""
    principal = caller()
    service.revoke_session(principal, principal.session_id, request_meta())
    return "", 204


@bp.get("/sessions")
@requires("user")
@contract(responses={200: AuthSessionList}, tags=("auth",))
def sessions() -> ResponseReturnValue:
    """My live sessions (one per signed-in device)."""
    return jsonify({"items": service.list_sessions(caller())}), 200


@bp.delete("/sessions/<id:session_id>")
@requires("user")
@contract(responses={204: None}, tags=("auth",))
def revoke_session(session_id: str) -> ResponseReturnValue:
    """End one of my sessions (someone else's is 404, as if it did not exist)."""
    if not service.revoke_session(caller(), session_id, request_meta()):
        raise NotFound("No such session.")
    return "", 204


@bp.post("/mfa/enroll")
@requires("user")
@contract(body=MfaEnrolRequest, responses={201: AuthMfaEnrolment}, tags=("auth",))
def mfa_enroll() -> ResponseReturnValue:
    """Start TOTP enrolment (needs the current password): the secret and otpauth URI are
    shown this once."""
    body = parse_body(MfaEnrolRequest)
    enrolment = mfa.start_enrolment(caller(), body.password, request_meta())
    return jsonify({"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}), 201


@bp.post("/mfa/confirm")
@requires("user")
@contract(body=CodeRequest, responses={200: AuthMfaEnabled}, tags=("auth",))
def mfa_confirm() -> ResponseReturnValue:
    """Confirm enrolment with a code; returns the recovery codes (shown once)."""
    body = parse_body(CodeRequest)
    codes = mfa.confirm_enrolment(caller(), body.code, request_meta())
    return jsonify({"mfa_enabled": True, "recovery_codes": codes}), 200


@bp.post("/mfa/disable")
@requires("user")
@contract(body=MfaDisableRequest, responses={200: AuthMfaDisabled}, tags=("auth",))
def mfa_disable() -> ResponseReturnValue:
    """Turn MFA off (password and a current code required)."""
    body = parse_body(MfaDisableRequest)
    mfa.disable(caller(), body.password, body.code, request_meta())
    return jsonify({"mfa_enabled": False}), 200


@bp.post("/mfa/recovery-codes")
@requires("user")
@contract(body=CodeRequest, responses={200: AuthRecoveryCodes}, tags=("auth",))
def mfa_recovery_codes() -> ResponseReturnValue:
    """Replace my recovery codes (a current TOTP code required)."""
    body = parse_body(CodeRequest)
    return jsonify(
        {"recovery_codes": mfa.regenerate_recovery_codes(caller(), body.code, request_meta())}
    ), 200


@bp.post("/password/change")
@requires("user")
@contract(body=ChangePasswordRequest, responses={200: AuthPasswordChanged}, tags=("auth",))
def change_password() -> ResponseReturnValue:
    """Change my password; my other sessions end."""
    body = parse_body(ChangePasswordRequest)
    ended = password.change_password(
        caller(), body.current_password, body.new_password, request_meta()
    )
    return jsonify({"other_sessions_ended": ended}), 200


@bp.post("/password/forgot")
@public
@contract(body=ForgotPasswordRequest, responses={202: AuthResetRequested}, tags=("auth",))
@rate_limited("RATELIMIT_PASSWORD_RESET", account_field="email")
def forgot_password() -> ResponseReturnValue:
    """E-mail a reset link when the address is known; the answer is the same either way."""
    body = parse_body(ForgotPasswordRequest)
    password.request_password_reset(body.email, request_meta())
    return jsonify({"status": "If the address is registered, a reset link is on its way."}), 202


@bp.post("/password/reset")
@public
@contract(body=ResetPasswordRequest, responses={204: None}, tags=("auth",))
@rate_limited("RATELIMIT_PASSWORD_RESET")
def reset_password() -> ResponseReturnValue:
    """Set a new password with a reset token; every session ends."""
    body = parse_body(ResetPasswordRequest)
    password.reset_password(body.token, body.new_password, request_meta())
    return "", 204


@bp.post("/email/verification")
@requires("user")
@contract(responses={200: AuthVerificationSent, 202: AuthVerificationSent}, tags=("auth",))
def request_email_verification() -> ResponseReturnValue:
    """E-mail me a verification link."""
    sent = password.request_email_verification(caller(), request_meta())
    return jsonify({"sent": sent}), 202 if sent else 200


@bp.post("/email/confirm")
@public
@contract(body=TokenRequest, responses={200: AuthEmailChanged}, tags=("auth",))
@rate_limited("RATELIMIT_PASSWORD_RESET")
def confirm_email_change() -> ResponseReturnValue:
    """Use the link sent to a new address: it becomes the account's, verified."""
    body = parse_body(TokenRequest)
    return jsonify(email_change.confirm_change(body.token, request_meta())), 200


@bp.post("/email/verify")
@public
@contract(body=TokenRequest, responses={200: AuthEmailVerified}, tags=("auth",))
@rate_limited("RATELIMIT_PASSWORD_RESET")
def verify_email() -> ResponseReturnValue:
    """Confirm an e-mail address with its token."""
    body = parse_body(TokenRequest)
    password.verify_email(body.token, request_meta())
    return jsonify({"email_verified": True}), 200
