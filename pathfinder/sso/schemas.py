"""Request bodies and query strings of the single sign-on routes."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from pathfinder.api.validation import RequestModel
from pathfinder.auth.schemas import Password, Username


class SsoCallbackQuery(RequestModel):
    """What the provider sends back through the browser (RFC 6749 4.1.2, RFC 9207).

    Providers add parameters of their own (Google ``authuser``, ``hd``; Entra ID
    ``session_state``); they are ignored rather than refused.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    state: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=4096)
    iss: str | None = Field(default=None, max_length=500)
    error: str | None = Field(default=None, max_length=100)
    error_description: str | None = Field(default=None, max_length=1000)


class SsoLinkRequest(RequestModel):
    password: Password | None = Field(
        default=None,
        description="The current password; required unless the account has none (then a "
        "sign-in within the last few minutes is).",
    )


class SsoRegisterRequest(RequestModel):
    registration_token: str = Field(min_length=1, max_length=8000)
    username: Username
    invitation_token: str | None = Field(default=None, max_length=200)
