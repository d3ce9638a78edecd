"""Request bodies and queries of the feature-flag routes.

Shapes are checked here; whether a value suits its flag's type and allowed values depends
on the stored flag, so the service checks that (and names the offending field).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from pathfinder.admin.paging import PageQuery
from pathfinder.api.validation import RequestModel

FLAG_KEY_PATTERN = r"^[a-z][a-z0-9_]{1,99}$"
# The same four names as pathfinder.schema.shared.flags.FLAG_TYPES (the table CHECK).
FlagType = Literal["boolean", "string", "number", "json"]


class FlagCreate(RequestModel):
    flag_key: str = Field(pattern=FLAG_KEY_PATTERN, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    flag_type: FlagType
    default_value: Any
    allowed_values: list[Any] | None = Field(default=None, min_length=1, max_length=100)
    rollout_percentage: int = Field(default=0, ge=0, le=100)
    enabled: bool = True
    category: str | None = Field(default=None, max_length=50)
    active_from: AwareDatetime | None = None
    active_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _window(self) -> FlagCreate:
        _check_window(self.active_from, self.active_until)
        return self


class FlagUpdate(RequestModel):
    """Fields to change; absent fields stay. ``flag_key`` and ``flag_type`` never change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    default_value: Any = None
    allowed_values: list[Any] | None = Field(default=None, min_length=1, max_length=100)
    rollout_percentage: int | None = Field(default=None, ge=0, le=100)
    enabled: bool | None = None
    category: str | None = Field(default=None, max_length=50)
    active_from: AwareDatetime | None = None
    active_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _not_null(self) -> FlagUpdate:
        for name in ("name", "rollout_percentage", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class OverrideCreate(RequestModel):
    """An override for exactly one user or one group."""

    user_id: str | None = Field(default=None, min_length=26, max_length=26)
    group_id: str | None = Field(default=None, min_length=26, max_length=26)
    value: Any
    reason: str = Field(min_length=1, max_length=500)
    expires_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_target(self) -> OverrideCreate:
        if (self.user_id is None) == (self.group_id is None):
            raise ValueError("give exactly one of user_id and group_id")
        return self


class OverrideUpdate(RequestModel):
    value: Any = None
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    expires_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _reason(self) -> OverrideUpdate:
        if "reason" in self.model_fields_set and self.reason is None:
            raise ValueError("reason cannot be null")
        return self


class FlagListQuery(PageQuery):
    category: str | None = Field(default=None, max_length=50)


class OverrideListQuery(PageQuery):
    target: Literal["user", "group"] | None = None


def _check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ValueError("active_until must be after active_from")
