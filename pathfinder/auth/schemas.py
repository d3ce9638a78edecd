"""Request bodies of the identity routes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from pathfinder.api.fields import omittable
from pathfinder.api.validation import RequestModel, Rule
from pathfinder.schema.naming import (
    RESERVED_USERNAMES,
    USERNAME_MAX_LENGTH,
    InvalidUsername,
    normalize_username,
)
from pathfinder.security.passwords import MAX_LENGTH as PASSWORD_MAX
from pathfinder.security.passwords import MIN_LENGTH as PASSWORD_MIN
from pathfinder.security.passwords import contains_email, contains_username, weak_on_its_own

# Deliberately simple: one @, at most 64 characters before it, a dot in the domain, and no
# spaces or control characters. The excluded class is spelled out (no \s) so that Python
# and JavaScript regular expressions, the server's and a client's, read it the same way.
_EMAIL_EXCLUDED = r"@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL_RULE_TEXT = "one @, at most 64 characters before it, a dot after it, no spaces or controls"
EMAIL_REGEX = f"^[^{_EMAIL_EXCLUDED}]{{1,64}}@[^{_EMAIL_EXCLUDED}]+\\.[^{_EMAIL_EXCLUDED}]+$"
EMAIL_PATTERN = re.compile(EMAIL_REGEX)
EMAIL_MAX_LENGTH = 254


def check_email(value: str) -> str:
    if len(value) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.fullmatch(value):
        raise ValueError(f"not an e-mail address: {EMAIL_RULE_TEXT}")
    return value


# Not stripped: the pattern is the whole rule, and " a@b.c" is not an address.
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=False),
    AfterValidator(check_email),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": EMAIL_MAX_LENGTH,
            "pattern": EMAIL_REGEX,
            "examples": ["alice@example.com"],
        },
    ),
]


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


def _username(value: str) -> str:
    try:
        return normalize_username(value)
    except InvalidUsername as exc:
        raise ValueError(str(exc)) from exc


# pathfinder.schema.naming's rules, as a schema: 3-30 ASCII letters, digits and single
# underscores, a letter first, not ending with "_", case-insensitive, not a reserved name.
USERNAME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 3,
    "maxLength": USERNAME_MAX_LENGTH,
    "pattern": "^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$",
    "not": {"pattern": "^(" + "|".join(map(_any_case, sorted(RESERVED_USERNAMES))) + ")$"},
    "description": "3 to 30 letters, digits and single underscores, starting with a letter "
    "and not ending with `_`; case-insensitive (`Alice` is `alice`); a few names are reserved.",
    "examples": ["alice_smith"],
}
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=False),
    AfterValidator(_username),
    WithJsonSchema(USERNAME_SCHEMA),
]
# Passwords are never stripped: every character counts.
EXAMPLE_PASSWORD = "correct horse battery staple"  # noqa: S105 - the document's example
NewPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=PASSWORD_MIN, max_length=PASSWORD_MAX),
    Field(examples=[EXAMPLE_PASSWORD]),
]
Password = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=PASSWORD_MAX),
    Field(examples=[EXAMPLE_PASSWORD]),
]


COMMON_PASSWORD = "not a common or repetitive password"  # noqa: S105 - a rule's text


def password_rules(field: str) -> tuple[Rule, ...]:
    """The policy rules of a new password sent with the username and e-mail it is checked
    against (registration)."""
    # Each rule checks its own part of the policy, so a password breaking one part is
    # reported once, and one breaking several is reported for each.
    return (
        Rule(field, COMMON_PASSWORD, (field,), lambda v: weak_on_its_own(v[field])),
        Rule(
            field,
            "does not contain the username",
            (field, "username"),
            lambda v: contains_username(v[field], str(v["username"])),
        ),
        Rule(
            field,
            "does not contain the e-mail address's local part (4 characters or more)",
            (field, "email"),
            lambda v: contains_email(v[field], str(v["email"])),
        ),
    )


def stored_password_rules(field: str) -> tuple[Rule, ...]:
    """The same policy, for a new password checked against the account's stored names."""
    return (
        Rule(field, COMMON_PASSWORD),
        Rule(field, "does not contain the account's username or e-mail address"),
    )


class RegisterRequest(RequestModel):
    rules = (
        *password_rules("password"),
        # Checked by the service against the stored invitation.
        Rule("email", "with an `invitation_token`: the address the invitation was sent to"),
    )

    username: Username
    email: Email
    password: NewPassword
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    invitation_token: str | None = Field(default=None, max_length=200)


class LoginRequest(RequestModel):
    login: str = Field(min_length=1, max_length=254, description="Username or e-mail address")
    password: Password


def _one_factor(values: Mapping[str, Any]) -> str | None:
    if (values["code"] is None) == (values["recovery_code"] is None):
        return "give exactly one of code and recovery_code"
    return None


class MfaLoginRequest(RequestModel):
    """The second step of a sign-in: exactly one of ``code`` and ``recovery_code``."""

    # "Exactly one" is a rule, not a top-level `oneOf`: openapi-python-client drops a model
    # whose schema is a `oneOf` beside its properties, silently, with its operation's body.
    rules = (
        Rule(
            "code",
            "exactly one of `code` and `recovery_code`",
            ("code", "recovery_code"),
            _one_factor,
        ),
    )

    mfa_token: str = Field(min_length=1, max_length=4000)
    code: str = omittable(min_length=1, max_length=12)
    recovery_code: str = omittable(min_length=1, max_length=20)


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class CodeRequest(RequestModel):
    code: str = Field(min_length=1, max_length=20)


class MfaEnrolRequest(RequestModel):
    # Re-authentication: a stolen access token alone must not be able to enrol a factor
    # the owner does not have (which would lock them out of their own account).
    password: Password


class MfaDisableRequest(RequestModel):
    password: Password
    code: str = Field(min_length=1, max_length=20)


class ChangePasswordRequest(RequestModel):
    rules = stored_password_rules("new_password")

    current_password: Password
    new_password: NewPassword


class ForgotPasswordRequest(RequestModel):
    email: Email


class ResetPasswordRequest(RequestModel):
    rules = stored_password_rules("new_password")

    token: str = Field(min_length=1, max_length=200)
    new_password: NewPassword


class TokenRequest(RequestModel):
    token: str = Field(min_length=1, max_length=200)


class RoleChangeRequest(RequestModel):
    role: Literal["user", "admin", "site_admin"]


class EmailChangeRequest(RequestModel):
    """A new address for my account, with my current password."""

    new_email: Email
    password: Password
