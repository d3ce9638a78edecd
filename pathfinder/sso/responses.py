"""Response bodies of the single sign-on routes (``/api/v1/auth/sso/...``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, RootModel

from pathfinder.api.contract import ResponseModel
from pathfinder.auth.responses import AuthMfaChallenge, AuthTokens


class SsoProvider(ResponseModel):
    name: str = Field(description="The name in the routes, e.g. `google`.")
    display_name: str
    start_url: str = Field(description="Open this in the browser to sign in.")


class SsoProviderList(ResponseModel):
    items: list[SsoProvider]


class SsoRegistrationRequired(ResponseModel):
    """The identity is verified but linked to no account: register it with
    ``POST /api/v1/auth/sso/register``, or sign in another way and link it."""

    registration_required: Literal[True]
    registration_token: str = Field(description="Single use; send it to `/auth/sso/register`.")
    expires_in: int = Field(description="Lifetime of `registration_token`, in seconds.")
    provider: str
    email: str | None
    email_verified: bool = Field(description="Whether the provider vouches for `email`.")
    name: str | None


class SsoCallbackResult(RootModel[AuthTokens | AuthMfaChallenge | SsoRegistrationRequired]):
    """A sign-in: tokens, an MFA challenge (the account has MFA), or a registration offer."""


class SsoLinkedAccount(ResponseModel):
    id: str = Field(description="`DELETE /api/v1/auth/sso/accounts/{id}` unlinks it.")
    provider: str
    email: str | None = Field(description="Only an address the provider vouches for.")
    display_name: str | None
    avatar_url: str | None
    is_primary: bool
    created_at: datetime
    last_used_at: datetime | None


class SsoLinkedAccountList(ResponseModel):
    items: list[SsoLinkedAccount]


class SsoAuthorization(ResponseModel):
    """Send the browser to ``authorization_url``; the provider returns it to the callback."""

    authorization_url: str
    expires_in: int = Field(description="Seconds left to finish at the provider.")
