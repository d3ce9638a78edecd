"""Response bodies of the feature-flag routes, as the contract declares them.

They mirror :func:`pathfinder.flags.service.flag_json`,
:func:`~pathfinder.flags.service.override_json` and the evaluations of ``/me/flags``; with
``CHECK_CONTRACTS`` on, the flag tests fail when code and models drift apart, and the
OpenAPI document is generated from these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from pathfinder.api.contract import Page, ResponseModel
from pathfinder.flags.schemas import FlagType

# pathfinder.flags.evaluator.REASONS, in precedence order.
FlagReason = Literal[
    "disabled", "inactive", "user_override", "group_override", "rollout", "default"
]


class FlagEvaluation(ResponseModel):
    """One flag's value for the caller, and which rule gave it."""

    value: Any = Field(description="A JSON value of the flag's type.")
    reason: FlagReason


class FlagEvaluations(ResponseModel):
    flags: dict[str, FlagEvaluation] = Field(description="Every flag, by its key.")


class Flag(ResponseModel):
    """A flag's definition."""

    id: str
    flag_key: str = Field(description="Stable lower-case key used in code; never renamed.")
    name: str
    description: str | None
    flag_type: FlagType
    default_value: Any = Field(description="A JSON value of the flag's type.")
    allowed_values: list[Any] | None = Field(
        description="String and number flags: the values the flag may take; `null` for any."
    )
    rollout_percentage: int = Field(
        ge=0, le=100, description="Boolean flags: share of users (0-100) for whom it is true."
    )
    enabled: bool
    is_system: bool = Field(
        description="A platform switch: cannot be deleted, switched off, rolled out or "
        "overridden; only its value, name and description change."
    )
    category: str | None
    active_from: datetime | None = Field(description="Before it, the flag gives its default.")
    active_until: datetime | None = Field(description="From it on, the flag gives its default.")
    created_by: str | None = Field(description="User id; `null` when seeded or user deleted.")
    updated_by: str | None = Field(description="User id; `null` when seeded or user deleted.")
    created_at: datetime
    updated_at: datetime


class FlagPage(Page[Flag]):
    """Flag definitions by key."""


class FlagOverride(ResponseModel):
    """A flag's value for exactly one user or one group."""

    id: str
    flag_key: str
    user_id: str | None = Field(description="Set for a user override (then `group_id` is null).")
    group_id: str | None = Field(description="Set for a group override (then `user_id` is null).")
    value: Any = Field(description="A JSON value of the flag's type.")
    reason: str | None = Field(description="Why the override exists.")
    expires_at: datetime | None = Field(description="The override stops applying then.")
    created_by: str | None = Field(description="User id; `null` when that user was deleted.")
    created_at: datetime
    updated_at: datetime


class FlagOverridePage(Page[FlagOverride]):
    """A flag's overrides, by id."""
