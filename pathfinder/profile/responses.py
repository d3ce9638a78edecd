"""Response bodies of ``/api/v1/me`` and ``/api/v1/me/preferences``.

Declared here so the OpenAPI document shows the profile fields a user gets back, and the
suite (``CHECK_CONTRACTS``) fails when :func:`pathfinder.profile.service._serialise` starts
leaking a column (a password hash, an MFA secret) or drops one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args

from pydantic import Field

from pathfinder.api.contract import ResponseModel, SealedItem
from pathfinder.schema.shared.identity import ACCOUNT_STATUSES, ROLES

UserRole = Literal["user", "admin", "site_admin"]
AccountStatus = Literal[
    "pending_verification", "active", "suspended", "locked", "pending_deletion", "deleted"
]

# The literals are spelled out for type checkers; they must not drift from the table's CHECKs.
if get_args(UserRole) != ROLES or get_args(AccountStatus) != ACCOUNT_STATUSES:
    raise RuntimeError("pathfinder.profile.responses is out of step with the pf_users CHECKs")


class Profile(SealedItem):
    """My account and profile; ``phone_number`` and ``date_of_birth`` are decrypted."""

    id: str
    username: str
    email: str
    email_verified: bool
    role: UserRole
    account_status: AccountStatus
    first_name: str | None
    last_name: str | None
    phone_number: str | None
    phone_verified: bool = Field(
        description="Someone confirmed `phone_number` is mine; false again when it changes."
    )
    avatar_url: str | None = Field(description="An https link to my picture.")
    date_of_birth: date | None
    timezone: str | None = Field(description="IANA time zone name, e.g. `America/Toronto`.")
    language: str | None = Field(description="BCP 47 language tag, e.g. `en-CA`.")
    bio: str | None
    title: str | None
    company: str | None
    years_of_experience: int | None
    mfa_enabled: bool
    last_login: datetime | None
    total_logins: int
    created_at: datetime


class ProfilePreferences(ResponseModel):
    """My three preference documents (free JSON objects, each at most 16 KiB)."""

    preferences: dict[str, Any]
    notification_settings: dict[str, Any]
    privacy_settings: dict[str, Any]
    updated_at: datetime | None = Field(
        default=None, description="Absent until the documents are first saved."
    )
