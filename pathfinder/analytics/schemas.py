"""Request bodies and query strings of the analytics routes."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pathfinder.api.validation import RequestModel

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
_METRIC_TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")
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


def _not_in_future(value: date | None) -> date | None:
    if value is not None and not EARLIEST_DATE <= value <= date.today() + timedelta(days=1):
        raise ValueError("must be between 1900-01-01 and today")
    return value


class PageQuery(RequestModel):
    """Keyset paging: ``limit`` rows after ``cursor`` (from the previous page's next_cursor)."""

    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=512)


class DateRange(RequestModel):
    date_from: date | None = None
    date_to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from must not be after date_to")
        return self


class MetricUpsert(RequestModel):
    """One metric value for a day; recording the same (date, type) again replaces it."""

    metric_date: date
    metric_type: str = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")
    metric_value: float = Field(ge=-1e9, le=1e9, allow_inf_nan=False)
    details: dict[str, Any] | None = None

    _date = field_validator("metric_date")(_not_in_future)

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
    metric_type: str | None = Field(default=None, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")


class ProgressionCreate(RequestModel):
    """One assessment of a skill's level on a day."""

    skill_name: str = Field(min_length=1, max_length=100)
    assessed_on: date
    proficiency_level: int = Field(ge=1, le=5)
    assessment_source: Literal["self", "manager", "peer", "certification", "assessment", "course"]
    notes: str | None = Field(default=None, max_length=2000)

    _date = field_validator("assessed_on")(_not_in_future)


class ProgressionQuery(PageQuery, DateRange):
    skill: str | None = Field(default=None, min_length=1, max_length=100)


class TrajectoryQuery(DateRange):
    """Which slice of the career to chart; by default all of it up to today."""

    metric_type: list[str] | str | None = None

    @field_validator("metric_type")
    @classmethod
    def _types(cls, value: list[str] | str | None) -> list[str] | None:
        if value is None:
            return None
        values = [value] if isinstance(value, str) else value
        if len(values) > 20:
            raise ValueError("at most 20 metric types")
        for item in values:
            if not _METRIC_TYPE_RE.fullmatch(item):
                raise ValueError("metric types are 1-50 lower-case letters, digits and _")
        return values

    @model_validator(mode="after")
    def _span(self) -> TrajectoryQuery:
        if self.date_from is None:
            return self
        end = self.date_to or date.today()
        if (end - self.date_from).days > MAX_TRAJECTORY_YEARS * 366:
            raise ValueError(f"a trajectory spans at most {MAX_TRAJECTORY_YEARS} years")
        return self


class EventCreate(RequestModel):
    """A client analytics event; personal data in ``event_data`` is stripped before storage."""

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
