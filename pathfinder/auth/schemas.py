"""Request bodies of the identity routes."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from pathfinder.api.validation import RequestModel
from pathfinder.schema.naming import InvalidUsername, normalize_username

# Deliberately simple: one @, something on both sides, a dot in the domain, no spaces and no
# control characters.
EMAIL_PATTERN = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
)


def check_email(value: str) -> str:
    if len(value) > 254 or not EMAIL_PATTERN.fullmatch(value):
        raise ValueError("not a valid e-mail address")
    return value


class RegisterRequest(RequestModel):
    username: str = Field(min_length=1, max_length=64)
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    invitation_token: str | None = Field(default=None, max_length=200)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        try:
            return normalize_username(value)
        except InvalidUsername as exc:
            raise ValueError(str(exc)) from exc

    _email = field_validator("email")(check_email)


class LoginRequest(RequestModel):
    login: str = Field(min_length=1, max_length=254, description="Username or e-mail address")
    password: str = Field(min_length=1, max_length=256)


class MfaLoginRequest(RequestModel):
    mfa_token: str = Field(min_length=1, max_length=4000)
    code: str | None = Field(default=None, max_length=12)
    recovery_code: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _one_factor(self) -> MfaLoginRequest:
        if bool(self.code) == bool(self.recovery_code):
            raise ValueError("give exactly one of code and recovery_code")
        return self


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class CodeRequest(RequestModel):
    code: str = Field(min_length=1, max_length=20)


class MfaEnrolRequest(RequestModel):
    # Re-authentication: a stolen access token alone must not be able to enrol a factor
    # the owner does not have (which would lock them out of their own account).
    password: str = Field(min_length=1, max_length=256)


class MfaDisableRequest(RequestModel):
    password: str = Field(min_length=1, max_length=256)
    code: str = Field(min_length=1, max_length=20)


class ChangePasswordRequest(RequestModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class ForgotPasswordRequest(RequestModel):
    email: str = Field(max_length=254)

    _email = field_validator("email")(check_email)


class ResetPasswordRequest(RequestModel):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=256)


class TokenRequest(RequestModel):
    token: str = Field(min_length=1, max_length=200)


class RoleChangeRequest(RequestModel):
    role: str = Field(pattern="^(user|admin|site_admin)$")


class EmailChangeRequest(RequestModel):
    """A new address for my account, with my current password."""

    new_email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)

    _email = field_validator("new_email")(check_email)
