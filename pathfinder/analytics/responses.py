"""Response bodies of the analytics routes, as the contract declares them.

They mirror the serialisers in :mod:`pathfinder.analytics.service`, the trajectory of
:func:`pathfinder.analytics.metrics.trajectory`, the stored event of
:func:`pathfinder.analytics.events.record_client_event` and the admin overview of
:func:`pathfinder.analytics.overview.overview`. With ``CHECK_CONTRACTS`` on, the analytics
tests fail when code and models drift apart; the OpenAPI document is generated from them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from pathfinder.analytics.schemas import ClientEventType
from pathfinder.api.contract import Page, ResponseModel

AssessmentSource = Literal["self", "manager", "peer", "certification", "assessment", "course"]
RoleLevel = Literal["entry", "intermediate", "senior", "lead", "manager", "director", "executive"]


# -- metrics -------------------------------------------------------------------------------------


class AnalyticsMetric(ResponseModel):
    """One metric value for one day (a user's own, or one Pathfinder computed)."""

    id: str
    metric_date: dt.date
    metric_type: str
    metric_value: float = Field(description="Stored with four decimals.")
    details: dict[str, Any] | None = Field(description="Free JSON object given with the value.")
    created_at: dt.datetime


class AnalyticsMetricPage(Page[AnalyticsMetric]):
    limit: int


class AnalyticsExperienceYearsDetails(ResponseModel):
    roles: int = Field(description="Roles started by the day.")
    companies: int = Field(description="Distinct companies (case-insensitive) of those roles.")
    current_roles: int = Field(description="Roles still running on the day.")


class AnalyticsExperienceYears(ResponseModel):
    value: float = Field(description="Years of experience, overlaps counted once, one decimal.")
    details: AnalyticsExperienceYearsDetails


class AnalyticsGrowthDetails(ResponseModel):
    window_months: int


class AnalyticsExperienceGrowth(ResponseModel):
    value: float = Field(description="Years of experience gained in the window, one decimal.")
    details: AnalyticsGrowthDetails


class AnalyticsRolesDetails(ResponseModel):
    by_level: dict[str, int] = Field(
        description="Roles per role level; `unspecified` for roles without one."
    )


class AnalyticsRolesTotal(ResponseModel):
    value: float = Field(description="Roles started by the day.")
    details: AnalyticsRolesDetails


class AnalyticsSkillsDetails(ResponseModel):
    by_category: dict[str, int] = Field(
        description="Distinct skills per category (lower case); `uncategorized` for none."
    )


class AnalyticsSkillsTotal(ResponseModel):
    value: float = Field(description="Distinct skills (by name, case-insensitive) by the day.")
    details: AnalyticsSkillsDetails


class AnalyticsComputedMetrics(ResponseModel):
    experience_years: AnalyticsExperienceYears
    experience_growth_12m: AnalyticsExperienceGrowth
    roles_total: AnalyticsRolesTotal
    skills_total: AnalyticsSkillsTotal


class AnalyticsComputeResult(ResponseModel):
    """The computed metrics just stored for ``metric_date`` (today, UTC)."""

    metric_date: dt.date
    metrics: AnalyticsComputedMetrics


# -- skills progression --------------------------------------------------------------------------


class AnalyticsProgression(ResponseModel):
    """One assessment of one of the caller's skills."""

    id: str
    skill_name: str
    assessed_on: dt.date
    proficiency_level: int = Field(ge=1, le=5)
    assessment_source: AssessmentSource
    notes: str | None
    created_at: dt.datetime


class AnalyticsProgressionPage(Page[AnalyticsProgression]):
    limit: int


# -- trajectory ----------------------------------------------------------------------------------


class AnalyticsValuePoint(ResponseModel):
    date: dt.date
    value: float


class AnalyticsMetricSeries(ResponseModel):
    metric_type: str
    points: list[AnalyticsValuePoint] = Field(description="Oldest first.")


class AnalyticsCategorySeries(ResponseModel):
    """Distinct skills of one category over time (from ``skills_total``'s details)."""

    category: str
    points: list[AnalyticsValuePoint] = Field(description="Oldest first.")


class AnalyticsLevelPoint(ResponseModel):
    date: dt.date
    level: int = Field(ge=1, le=5)
    source: AssessmentSource


class AnalyticsSkillSeries(ResponseModel):
    skill_name: str
    points: list[AnalyticsLevelPoint] = Field(description="Oldest first.")


class AnalyticsRole(ResponseModel):
    """An experience overlapping the charted range."""

    id: str
    title: str
    company: str | None
    role_level: RoleLevel | None
    level_rank: int | None = Field(
        description="1 (entry) to 7 (executive), for a chart axis; `null` without a level."
    )
    start_date: dt.date
    end_date: dt.date | None = Field(description="`null` while the role is current.")
    is_current: bool


class AnalyticsTrajectory(ResponseModel):
    """The caller's career as chart-ready series between ``date_from`` and ``date_to``."""

    date_from: dt.date | None
    date_to: dt.date
    metrics: list[AnalyticsMetricSeries]
    skills_by_category: list[AnalyticsCategorySeries]
    skills: list[AnalyticsSkillSeries]
    roles: list[AnalyticsRole] = Field(description="Oldest first.")
    truncated: bool = Field(
        description="True when the 5,000-row cap on metrics or assessments cut the range."
    )


# -- usage events --------------------------------------------------------------------------------


class AnalyticsEventDropped(ResponseModel):
    """The event was not stored: the caller opted out of analytics."""

    recorded: Literal[False]
    reason: Literal["analytics_opt_out"]


class AnalyticsEvent(ResponseModel):
    """A usage event as stored, personal data already stripped."""

    id: str
    event_type: ClientEventType
    event_data: dict[str, Any] | None
    page_url: str | None = Field(description="Scheme, host and path only; `null` if dropped.")
    referrer: str | None = Field(description="Scheme, host and path only; `null` if dropped.")
    created_at: dt.datetime


# -- admin overview ------------------------------------------------------------------------------


class AnalyticsActiveUsers(ResponseModel):
    """Counts from the ``pf_mv_user_stats`` snapshot, relative to its ``as_of``."""

    as_of: dt.datetime | None = Field(description="`null` when the snapshot was never built.")
    users: int
    dau: int = Field(description="Users whose last event is within 24 hours before `as_of`.")
    wau: int = Field(description="Users with an event in the 7 days before `as_of`.")
    mau: int = Field(description="Users with an event in the 30 days before `as_of`.")


class AnalyticsWindow(ResponseModel):
    """The UTC days counted, both ends included."""

    from_: dt.date = Field(alias="from")
    to: dt.date
    days: int


class AnalyticsDayEvents(ResponseModel):
    day: dt.date
    total: int
    active_users: int = Field(description="Distinct users with an event that day.")
    by_type: dict[str, int]


class AnalyticsOverview(ResponseModel):
    """Counts only: no event data, URL or user leaves."""

    active_users: AnalyticsActiveUsers
    window: AnalyticsWindow
    events_by_day: list[AnalyticsDayEvents] = Field(
        description="Every day of the window, oldest first, days without events included."
    )
    events_by_type: dict[str, int]
