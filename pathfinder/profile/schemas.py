"""Request bodies of the profile routes."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from zoneinfo import available_timezones

from pydantic import Field, field_validator

from pathfinder.api.validation import RequestModel

MAX_DOCUMENT_BYTES = 16_384
_TIMEZONES = frozenset(available_timezones())


class ProfileUpdate(RequestModel):
    """Fields a user may change on their own profile; absent fields stay as they are."""

    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone_number: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()\-.]{5,32}$")
    date_of_birth: date | None = None
    timezone: str | None = Field(default=None, max_length=64)
    language: str | None = Field(
        default=None, max_length=16, pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"
    )
    avatar_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https://[^\s<>\"]+$",
        description="An https link to my picture (stored encrypted).",
    )
    bio: str | None = Field(default=None, max_length=5000)
    title: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    years_of_experience: int | None = Field(default=None, ge=0, le=80)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and value not in _TIMEZONES:
            raise ValueError("not an IANA time zone name (e.g. America/Toronto)")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _birth(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("must be between 1900-01-01 and today")
        return value


def _bounded_document(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    return value


class PreferencesUpdate(RequestModel):
    """The three preference documents, each a JSON object of bounded size."""

    preferences: dict[str, Any] = Field(default_factory=dict)
    notification_settings: dict[str, Any] = Field(default_factory=dict)
    privacy_settings: dict[str, Any] = Field(default_factory=dict)

    _bounded = field_validator("preferences", "notification_settings", "privacy_settings")(
        _bounded_document
    )
