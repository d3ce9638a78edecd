"""Request bodies of the profile routes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import Field, StringConstraints, field_validator

from pathfinder.api.fields import IsoDate
from pathfinder.api.validation import RequestModel, Rule

MAX_DOCUMENT_BYTES = 16_384
EARLIEST_BIRTH = date(1900, 1, 1)
# The IANA names this server's time-zone database knows: the schema lists them (an enum), so
# a client offers exactly the zones the server accepts.
TIMEZONES = tuple(sorted(available_timezones()))


def _zone_variable(name: str) -> str:
    """A Python-friendly constant name for a zone (``Etc/GMT+5`` -> ``ETC_GMT_PLUS_5``).

    Generated clients name enum members after the value; without these, ``Etc/GMT+5`` and
    ``Etc/GMT-5`` would both become ``ETC_GMT5``.
    """
    spelled = name.replace("+", "_plus_").replace("-", "_minus_") if "GMT" in name else name
    return re.sub(r"[^A-Za-z0-9]+", "_", spelled).strip("_").upper()


Timezone = Annotated[
    str,
    StringConstraints(strip_whitespace=False),
    Field(
        description="An IANA time-zone name, e.g. America/Toronto.",
        json_schema_extra={
            "enum": list(TIMEZONES),
            "x-enum-varnames": [_zone_variable(zone) for zone in TIMEZONES],
            "examples": ["America/Toronto"],
        },
    ),
]


# Digits and the usual separators, at least five and at most 32 characters, beginning and
# ending with one that is not a space. Not stripped: the pattern is the whole rule.
Phone = Annotated[
    str,
    StringConstraints(
        strip_whitespace=False,
        max_length=32,
        pattern=r"^\+?[0-9()\-.][0-9 ()\-.]{3,30}[0-9()\-.]$",
    ),
]
# A BCP 47 language tag, as a browser sends it (en, fr-CA, zh-Hant-TW).
Language = Annotated[
    str,
    StringConstraints(
        strip_whitespace=False, max_length=16, pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"
    ),
]


def _birth_bounds(values: Mapping[str, Any]) -> str | None:
    value = values["date_of_birth"]
    if value is not None and not EARLIEST_BIRTH <= value <= date.today():
        return "must be between 1900-01-01 and today"
    return None


class ProfileUpdate(RequestModel):
    """Fields a user may change on their own profile; absent fields stay as they are."""

    rules = (
        Rule("date_of_birth", "between 1900-01-01 and today", ("date_of_birth",), _birth_bounds),
    )

    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone_number: Phone | None = None
    date_of_birth: IsoDate | None = None
    timezone: Timezone | None = None
    language: Language | None = None
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
        if value is not None and value not in _ZONE_SET:
            raise ValueError("not an IANA time zone name (e.g. America/Toronto)")
        return value


_ZONE_SET = frozenset(TIMEZONES)


def _bounded_document(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    return value


class PreferencesUpdate(RequestModel):
    """The three preference documents, each a JSON object of bounded size."""

    rules = tuple(
        Rule(name, f"at most {MAX_DOCUMENT_BYTES} bytes as JSON")
        for name in ("preferences", "notification_settings", "privacy_settings")
    )

    preferences: dict[str, Any] = Field(default_factory=dict)
    notification_settings: dict[str, Any] = Field(default_factory=dict)
    privacy_settings: dict[str, Any] = Field(default_factory=dict)

    _bounded = field_validator("preferences", "notification_settings", "privacy_settings")(
        _bounded_document
    )
