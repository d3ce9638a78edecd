"""The plain data the progress engine works on: a framework's rules and the candidate's facts.

:class:`Rules` is read from ``pf_cpa_frameworks.rules`` (JSON), so a later rule set changes
numbers, not code; keys a document lacks keep the PER-2021 values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Rules:
    """The thresholds of one framework (``pf_cpa_frameworks.rules``)."""

    months_required: float = 30
    time_away_allowance_days: int = 140
    report_interval_months: int = 6
    # PER: meet the CPA mentor at least semi-annually (research/cpa-pert-domain.md, §2).
    mentor_meeting_interval_months: int = 6
    period_months_min: float = 6
    period_months_max: float = 12
    evr_review_after_months: float = 12
    evr_minimum_competencies: int = 2
    evr_minimum_level: int = 1
    core_areas: tuple[str, ...] = ("FR", "MA")
    core_minimum: int = 3
    core_level: int = 1
    depth_level: int = 1
    depth_minimum_at_top: int = 2
    breadth_minimum: int = 8
    breadth_level: int = 1
    breadth_minimum_at_top: int = 4
    top_level: int = 2
    enabling_level: int = 2

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Rules:
        """Read the rules document; keys it lacks keep the PER-2021 values."""
        core = doc.get("core", {})
        depth = doc.get("depth", {})
        breadth = doc.get("breadth", {})
        base = cls()
        return cls(
            months_required=doc.get("months_required", base.months_required),
            time_away_allowance_days=doc.get(
                "time_away_allowance_days", base.time_away_allowance_days
            ),
            report_interval_months=doc.get("report_interval_months", base.report_interval_months),
            mentor_meeting_interval_months=doc.get(
                "mentor_meeting_interval_months", base.mentor_meeting_interval_months
            ),
            period_months_min=doc.get("period_months_min", base.period_months_min),
            period_months_max=doc.get("period_months_max", base.period_months_max),
            evr_review_after_months=doc.get(
                "evr_review_after_months", base.evr_review_after_months
            ),
            evr_minimum_competencies=doc.get(
                "evr_minimum_competencies", base.evr_minimum_competencies
            ),
            evr_minimum_level=doc.get("evr_minimum_level", base.evr_minimum_level),
            core_areas=tuple(core.get("areas", base.core_areas)),
            core_minimum=core.get("minimum", base.core_minimum),
            core_level=core.get("level", base.core_level),
            depth_level=depth.get("level", base.depth_level),
            depth_minimum_at_top=depth.get("minimum_at_top", base.depth_minimum_at_top),
            breadth_minimum=breadth.get("minimum", base.breadth_minimum),
            breadth_level=breadth.get("level", base.breadth_level),
            breadth_minimum_at_top=breadth.get("minimum_at_top", base.breadth_minimum_at_top),
            top_level=breadth.get("top_level", depth.get("top_level", base.top_level)),
            enabling_level=doc.get("enabling", {}).get("level", base.enabling_level),
        )


@dataclass(frozen=True)
class CompetencyRef:
    """A competency of the framework: code, kind (technical/enabling), area, name."""

    code: str
    kind: str
    area_code: str
    name: str = ""


@dataclass(frozen=True)
class Period:
    """A reported period, both ends inclusive."""

    start: date
    end: date
    route: str = "EVR"
    leave_days: int = 0
    ref: str | None = None


@dataclass(frozen=True)
class Evidence:
    """A competency shown at ``level``, dated ``on`` (an experience's end or start date)."""

    code: str
    level: int
    on: date


@dataclass(frozen=True)
class Notice:
    """A warning for the candidate: never blocks anything, always says what to do."""

    code: str
    message: str
    on: date | None = None
    ref: str | None = None
