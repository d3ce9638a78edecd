"""Response bodies of the identity routes (``/api/v1/auth/...``).

Declared once here so the OpenAPI document shows what each answer carries and the test
suite (``CHECK_CONTRACTS``) fails when a serialiser adds, drops or retypes a field. The
shapes follow :meth:`pathfinder.auth.service.TokenPair.as_json`,
:meth:`~pathfinder.auth.service.MfaChallenge.as_json`,
:func:`pathfinder.auth.service.list_sessions` and the literal dicts of the routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, RootModel

from pathfinder.api.contract import ResponseModel


class AuthTokens(ResponseModel):
    """A signed-in session: a short-lived access token and the refresh token that renews it."""

    access_token: str = Field(description="JWT; send as `Authorization: Bearer <token>`.")
    refresh_token: str = Field(
        description="Single use: `POST /api/v1/auth/refresh` answers a new pair."
    )
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Lifetime of the access token, in seconds.")
    session_id: str = Field(
        description="The session (refresh-token family) these tokens belong to."
    )


class AuthMfaChallenge(ResponseModel):
    """The password was right and MFA is on: finish with ``POST /api/v1/auth/login/mfa``."""

    mfa_required: Literal[True]
    mfa_token: str = Field(description="Short-lived token to send with the code to `/login/mfa`.")
    expires_in: int = Field(description="Lifetime of `mfa_token`, in seconds.")


class AuthLoginResult(RootModel[AuthTokens | AuthMfaChallenge]):
    """Tokens, or an MFA challenge when the account has MFA enabled.

    A root model because the one 200 answer has two shapes; each member still forbids
    undeclared fields.
    """


class AuthSession(ResponseModel):
    id: str = Field(description="Session id; `DELETE /api/v1/auth/sessions/{id}` ends it.")
    ip_address: str | None
    user_agent: str | None
    created_at: datetime
    last_activity_at: datetime | None
    expires_at: datetime
    current: bool = Field(description="True for the session of the token making this call.")


class AuthSessionList(ResponseModel):
    items: list[AuthSession]


class AuthMfaEnrolment(ResponseModel):
    """The TOTP seed, shown this once; MFA is on only after ``/mfa/confirm``."""

    secret: str = Field(description="Base32 TOTP seed, for manual entry in an authenticator.")
    otpauth_uri: str = Field(description="`otpauth://totp/...` URI, for a QR code.")


class AuthMfaEnabled(ResponseModel):
    mfa_enabled: Literal[True]
    recovery_codes: list[str] = Field(description="Single-use recovery codes, shown this once.")


class AuthMfaDisabled(ResponseModel):
    mfa_enabled: Literal[False]


class AuthRecoveryCodes(ResponseModel):
    recovery_codes: list[str] = Field(
        description="The new single-use recovery codes, shown this once; the old ones stop working."
    )


class AuthPasswordChanged(ResponseModel):
    other_sessions_ended: int = Field(description="How many of my other sessions were ended.")


class AuthResetRequested(ResponseModel):
    status: str = Field(description="The same message whether or not the address is known.")


class AuthVerificationSent(ResponseModel):
    sent: bool = Field(
        description="True (202) when a link was e-mailed; false (200) when already verified."
    )


class AuthEmailVerified(ResponseModel):
    email_verified: Literal[True]


class AuthEmailChangePending(ResponseModel):
    """A confirmation link went to the new address; nothing changes until it is used."""

    pending_email: str
    expires_at: datetime


class AuthEmailChanged(ResponseModel):
    email: str
    email_verified: bool
