"""Request bodies and queries of the feature-flag routes.

Shapes are checked here; whether a value suits its flag's type and allowed values depends
on the stored flag, so the service checks that (and names the offending field).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from pathfinder.admin.paging import PageQuery
from pathfinder.api.fields import Id, IsoDateTime, omittable
from pathfinder.api.validation import RequestModel, Rule

FLAG_KEY_MAX_LENGTH = 100
FLAG_KEY_PATTERN = f"^[a-z][a-z0-9_]{{1,{FLAG_KEY_MAX_LENGTH - 1}}}$"
FlagKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=False, max_length=FLAG_KEY_MAX_LENGTH, pattern=FLAG_KEY_PATTERN
    ),
]
# The same four names as pathfinder.schema.shared.flags.FLAG_TYPES (the table CHECK).
FlagType = Literal["boolean", "string", "number", "json"]


def _window(values: Mapping[str, Any]) -> str | None:
    start, end = values["active_from"], values["active_until"]
    if start is not None and end is not None and end <= start:
        return "must be after active_from"
    return None


WINDOW_RULE = Rule("active_until", "after `active_from`", ("active_from", "active_until"), _window)
VALUE_RULES = (
    Rule(
        "default_value",
        "a value of the flag's type (a boolean; a string of at most 1,000 characters; a "
        "finite number; any JSON), one of `allowed_values` when the flag has them, at most "
        "8 KiB as JSON",
    ),
    Rule(
        "allowed_values.*",
        "only for string and number flags: each a value of the flag's type, none repeated",
    ),
    Rule("allowed_values", "only for string and number flags"),
    Rule("rollout_percentage", "0 unless the flag is boolean"),
)


class FlagCreate(RequestModel):
    rules = (WINDOW_RULE, *VALUE_RULES)

    flag_key: FlagKey
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    flag_type: FlagType
    default_value: Any
    allowed_values: list[Any] | None = Field(default=None, min_length=1, max_length=100)
    rollout_percentage: int = Field(default=0, ge=0, le=100)
    enabled: bool = True
    category: str | None = Field(default=None, max_length=50)
    active_from: IsoDateTime | None = None
    active_until: IsoDateTime | None = None


class FlagUpdate(RequestModel):
    """Fields to change; absent fields stay. ``flag_key`` and ``flag_type`` never change.

    ``name``, ``rollout_percentage`` and ``enabled`` may be changed but not cleared.
    """

    rules = (
        Rule("active_until", "after `active_from` (as sent or as stored)"),
        *VALUE_RULES,
        Rule("*", "a system flag takes only a new `default_value`, `name` or `description`"),
        Rule(
            "allowed_values",
            "keeps every existing override's value (remove those overrides first)",
        ),
    )

    name: str = omittable(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    default_value: Any = None
    allowed_values: list[Any] | None = Field(default=None, min_length=1, max_length=100)
    rollout_percentage: int = omittable(ge=0, le=100)
    enabled: bool = omittable()
    category: str | None = Field(default=None, max_length=50)
    active_from: IsoDateTime | None = None
    active_until: IsoDateTime | None = None


def _in_the_future(values: Mapping[str, Any]) -> str | None:
    expires = values["expires_at"]
    if expires is not None and expires <= datetime.now(UTC):
        return "must be in the future"
    return None


FUTURE_EXPIRY = Rule("expires_at", "in the future", ("expires_at",), _in_the_future)


def _one_target(values: Mapping[str, Any]) -> str | None:
    if (values["user_id"] is None) == (values["group_id"] is None):
        return "give exactly one of user_id and group_id"
    return None


class OverrideCreate(RequestModel):
    """An override for exactly one user or one group."""

    # "Exactly one" is a rule, not a top-level `oneOf`: openapi-python-client drops a model
    # whose schema is a `oneOf` beside its properties, silently, with its operation's body.
    rules = (
        Rule(
            "user_id",
            "exactly one of `user_id` and `group_id`",
            ("user_id", "group_id"),
            _one_target,
        ),
        Rule("value", "a value of the flag's type, one of its `allowed_values` if it has them"),
        Rule("user_id", "an existing user"),
        Rule("group_id", "an existing group"),
        FUTURE_EXPIRY,
    )

    user_id: Id = omittable()
    group_id: Id = omittable()
    value: Any
    reason: str = Field(min_length=1, max_length=500)
    expires_at: IsoDateTime | None = None


class OverrideUpdate(RequestModel):
    """Fields to change; ``reason`` may be changed but not cleared."""

    rules = (
        Rule("value", "a value of the flag's type, one of its `allowed_values` if it has them"),
        FUTURE_EXPIRY,
    )

    value: Any = None
    reason: str = omittable(min_length=1, max_length=500)
    expires_at: IsoDateTime | None = None


class FlagListQuery(PageQuery):
    category: str | None = Field(default=None, max_length=50)


class OverrideListQuery(PageQuery):
    target: Literal["user", "group"] | None = None
