"""Request bodies and query strings of the analytics routes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from pathfinder.api.fields import IsoDate
from pathfinder.api.pagination import CURSOR_RULE, Cursor
from pathfinder.api.validation import RequestModel, Rule

MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_DETAILS_BYTES = 8_192
MAX_EVENT_DATA_BYTES = 8_192
MAX_JSON_DEPTH = 10
EARLIEST_DATE = date(1900, 1, 1)
# Trajectories span at most this many years (a career, not a millennium of empty points).
MAX_TRAJECTORY_YEARS = 60

# Metric types the metrics job computes; users cannot overwrite them.
COMPUTED_METRIC_TYPES = (
    "experience_years",
    "experience_growth_12m",
    "roles_total",
    "skills_total",
)
MetricType = Annotated[
    str,
    StringConstraints(
        strip_whitespace=False, min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$"
    ),
]
MAX_TRAJECTORY_TYPES = 20
ASSESSMENT_SOURCES = ("self", "manager", "peer", "certification", "assessment", "course")

# Event types clients may send to POST /events.
CLIENT_EVENT_TYPES = (
    "page_view",
    "feature_used",
    "search_performed",
    "button_clicked",
    "form_submitted",
    "experience_viewed",
    "skill_viewed",
    "summary_viewed",
    "chat_opened",
    "export_requested",
    "onboarding_step",
    "error_displayed",
    "session_started",
    "session_ended",
)
ClientEventType = Literal[
    "page_view",
    "feature_used",
    "search_performed",
    "button_clicked",
    "form_submitted",
    "experience_viewed",
    "skill_viewed",
    "summary_viewed",
    "chat_opened",
    "export_requested",
    "onboarding_step",
    "error_displayed",
    "session_started",
    "session_ended",
]


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


def bounded_json(value: dict[str, Any] | None, limit: int) -> dict[str, Any] | None:
    """``value`` if it serialises within ``limit`` bytes and :data:`MAX_JSON_DEPTH` levels."""
    if value is None:
        return None
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > limit:
        raise ValueError(f"document larger than {limit} bytes")
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"document nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _within_dates(name: str) -> Rule:
    """The rule: ``name`` (a date) is between 1900-01-01 and today (a day's grace for zones)."""

    def check(values: Mapping[str, Any]) -> str | None:
        value = values[name]
        latest = datetime.now(UTC).date() + timedelta(days=1)
        if value is not None and not EARLIEST_DATE <= value <= latest:
            return "must be between 1900-01-01 and today"
        return None

    return Rule(name, "between 1900-01-01 and today (UTC, a day's grace)", (name,), check)


def _ordered(values: Mapping[str, Any]) -> str | None:
    start, end = values["date_from"], values["date_to"]
    if start is not None and end is not None and start > end:
        return "must not be before date_from"
    return None


DATE_ORDER = Rule("date_to", "not before `date_from`", ("date_from", "date_to"), _ordered)
DETAILS_RULE = Rule(
    "details", f"at most {MAX_DETAILS_BYTES} bytes as JSON, nested at most {MAX_JSON_DEPTH} deep"
)


class PageQuery(RequestModel):
    """Keyset paging: ``limit`` rows after ``cursor`` (from the previous page's next_cursor)."""

    rules = (CURSOR_RULE,)

    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: Cursor | None = None


class DateRange(RequestModel):
    rules = (DATE_ORDER,)

    date_from: IsoDate | None = None
    date_to: IsoDate | None = None


class MetricUpsert(RequestModel):
    """One metric value for a day; recording the same (date, type) again replaces it."""

    rules = (_within_dates("metric_date"), DETAILS_RULE)

    metric_date: IsoDate
    metric_type: MetricType = Field(
        description="Not one of the types Pathfinder computes itself.",
        json_schema_extra={"not": {"enum": list(COMPUTED_METRIC_TYPES)}},
    )
    metric_value: float = Field(ge=-1e9, le=1e9, allow_inf_nan=False)
    details: dict[str, Any] | None = None

    @field_validator("metric_type")
    @classmethod
    def _not_computed(cls, value: str) -> str:
        if value in COMPUTED_METRIC_TYPES:
            raise ValueError("this metric type is computed by Pathfinder and cannot be set")
        return value

    @field_validator("details")
    @classmethod
    def _details(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return bounded_json(value, MAX_DETAILS_BYTES)


class MetricsQuery(PageQuery, DateRange):
    rules = (CURSOR_RULE, DATE_ORDER)

    metric_type: MetricType | None = None


class ProgressionCreate(RequestModel):
    """One assessment of a skill's level on a day."""

    rules = (_within_dates("assessed_on"),)

    skill_name: str = Field(min_length=1, max_length=100)
    assessed_on: IsoDate
    proficiency_level: int = Field(ge=1, le=5)
    assessment_source: Literal["self", "manager", "peer", "certification", "assessment", "course"]
    notes: str | None = Field(default=None, max_length=2000)


class ProgressionQuery(PageQuery, DateRange):
    rules = (CURSOR_RULE, DATE_ORDER)

    skill: str | None = Field(default=None, min_length=1, max_length=100)


def _span(values: Mapping[str, Any]) -> str | None:
    start, end = values["date_from"], values["date_to"] or date.today()
    if start is not None and (end - start).days > MAX_TRAJECTORY_YEARS * 366:
        return f"a trajectory spans at most {MAX_TRAJECTORY_YEARS} years"
    return None


class TrajectoryQuery(DateRange):
    """Which slice of the career to chart; by default all of it up to today."""

    rules = (
        DATE_ORDER,
        Rule(
            "date_from",
            f"at most {MAX_TRAJECTORY_YEARS} years before `date_to` (or today)",
            ("date_from", "date_to"),
            _span,
        ),
    )

    metric_type: list[MetricType] | None = Field(
        default=None,
        max_length=MAX_TRAJECTORY_TYPES,
        description="Repeat the parameter for several types.",
    )


class EventCreate(RequestModel):
    """A client analytics event; personal data in ``event_data`` is stripped before storage."""

    rules = (
        Rule(
            "event_data",
            f"at most {MAX_EVENT_DATA_BYTES} bytes as JSON, nested at most {MAX_JSON_DEPTH} deep",
        ),
    )

    event_type: ClientEventType
    event_data: dict[str, Any] | None = None
    page_url: str | None = Field(default=None, max_length=1000)
    referrer: str | None = Field(default=None, max_length=1000)

    @field_validator("event_data")
    @classmethod
    def _data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return bounded_json(value, MAX_EVENT_DATA_BYTES)


class OverviewQuery(RequestModel):
    days: int = Field(default=30, ge=1, le=90)
