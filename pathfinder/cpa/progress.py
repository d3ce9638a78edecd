"""The PER progress engine: pure functions over plain data, no database, no clock.

Every rule is from ``research/cpa-pert-domain.md`` section 2 and is read from the
framework's :class:`Rules` rather than written into the code, so a later rule set changes
numbers, not functions:

- **Duration** is measured in calendar months from the PER start date over the reported
  periods (merged, so overlaps never count twice), up to ``as_of``. Leave taken inside the
  periods counts as experience up to the time-away allowance (20 weeks); leave beyond it
  is added to the months required. Hours never count toward duration.
- **EVR 12-month rule**: when 12 months have been counted and fewer than 2 technical
  sub-competencies have reached level 1, counting stops on that date and resumes on the
  day the second one is reached.
- **Technical**: core (at least 3 FR/MA sub-competencies at level 1+), depth (one area
  with every sub-competency at level 1+ and at least 2 at level 2), breadth (at least 8
  sub-competencies at level 1+, at least 4 of them at level 2), over all of the
  framework's technical sub-competencies.
- **Enabling**: every enabling competency at level 2.

Self-assessed and reviewer-confirmed levels are evaluated separately by the caller passing
two evidence lists; nothing here mixes them.

Months are calendar months (:mod:`pathfinder.cpa.months`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date
from typing import Any

from pathfinder.cpa.months import (
    DAYS_PER_MONTH,
    ONE_DAY,
    Interval,
    add_months,
    date_after_months,
    measure,
    merge_intervals,
    months_between,
    point_after,
    remove_window,
)
from pathfinder.cpa.months import EPS as _EPS
from pathfinder.cpa.rules import CompetencyRef, Evidence, Notice, Period, Rules

# -- intervals of reported time --------------------------------------------------------------


def period_months(period: Period) -> float:
    """Length of a period in calendar months (both ends inclusive)."""
    return months_between(period.start, period.end + ONE_DAY)


def counted_intervals(
    periods: Sequence[Period], per_start: date | None, as_of: date
) -> list[Interval]:
    """The periods as intervals, clipped to [PER start, end of ``as_of``] and merged."""
    stop = as_of + ONE_DAY
    clipped = []
    for p in periods:
        start = max(p.start, per_start) if per_start else p.start
        clipped.append((start, min(p.end + ONE_DAY, stop)))
    return merge_intervals(clipped)


# -- periods -----------------------------------------------------------------------------------


def period_warnings(periods: Sequence[Period], rules: Rules) -> list[Notice]:
    """Periods outside the usual length, gaps between periods, and overlaps."""
    warnings: list[Notice] = []
    ordered = sorted(periods, key=lambda p: (p.start, p.end))
    for p in ordered:
        months = period_months(p)
        if months < rules.period_months_min - _EPS or months > rules.period_months_max + _EPS:
            warnings.append(
                Notice(
                    "period_length",
                    f"The period {p.start.isoformat()} to {p.end.isoformat()} covers "
                    f"{months:.1f} months; report periods are expected to cover "
                    f"{rules.period_months_min:g} to {rules.period_months_max:g} months.",
                    p.start,
                    p.ref,
                )
            )
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.start <= before.end:
            warnings.append(
                Notice(
                    "period_overlap",
                    f"The periods starting {before.start.isoformat()} and "
                    f"{after.start.isoformat()} overlap; overlapping time counts once.",
                    after.start,
                    after.ref,
                )
            )
        elif after.start > before.end + ONE_DAY:
            gap_from = before.end + ONE_DAY
            gap_to = after.start - ONE_DAY
            days = (gap_to - gap_from).days + 1
            warnings.append(
                Notice(
                    "period_gap",
                    f"No experience is reported from {gap_from.isoformat()} to "
                    f"{gap_to.isoformat()} ({days} days); periods are expected to follow "
                    "each other, so explain the gap to your provincial body.",
                    gap_from,
                    after.ref,
                )
            )
    return warnings


# -- competencies ------------------------------------------------------------------------------


def levels_from(evidence: Iterable[Evidence]) -> dict[str, int]:
    """The highest level shown for each competency code."""
    levels: dict[str, int] = {}
    for item in evidence:
        if item.level > levels.get(item.code, -1):
            levels[item.code] = item.level
    return levels


def _technical(competencies: Iterable[CompetencyRef]) -> list[CompetencyRef]:
    return [c for c in competencies if c.kind == "technical"]


def _at_least(levels: Mapping[str, int], codes: Iterable[str], level: int) -> list[str]:
    return [code for code in codes if levels.get(code, -1) >= level]


def core_status(
    levels: Mapping[str, int], competencies: Sequence[CompetencyRef], rules: Rules
) -> dict[str, Any]:
    """Core: at least ``core_minimum`` sub-competencies of the core areas at ``core_level``+."""
    codes = [c.code for c in _technical(competencies) if c.area_code in rules.core_areas]
    reached = _at_least(levels, codes, rules.core_level)
    return {
        "met": len(reached) >= rules.core_minimum,
        "areas": list(rules.core_areas),
        "required": rules.core_minimum,
        "level": rules.core_level,
        "count": len(reached),
        "codes": reached,
    }


def depth_status(
    levels: Mapping[str, int], competencies: Sequence[CompetencyRef], rules: Rules
) -> dict[str, Any]:
    """Depth: an area with every sub-competency at level 1+ and enough of them at level 2."""
    areas: dict[str, list[str]] = {}
    for c in _technical(competencies):
        areas.setdefault(c.area_code, []).append(c.code)
    detail = []
    for area, codes in areas.items():
        at_level = _at_least(levels, codes, rules.depth_level)
        at_top = _at_least(levels, codes, rules.top_level)
        detail.append(
            {
                "area_code": area,
                "sub_competencies": len(codes),
                "at_level_1": len(at_level),
                "at_level_2": len(at_top),
                "met": len(at_level) == len(codes) and len(at_top) >= rules.depth_minimum_at_top,
                "missing": [code for code in codes if code not in at_level],
            }
        )
    met_areas = [d["area_code"] for d in detail if d["met"]]
    return {
        "met": bool(met_areas),
        "required_at_level_2": rules.depth_minimum_at_top,
        "met_areas": met_areas,
        "areas": detail,
    }


def breadth_status(
    levels: Mapping[str, int], competencies: Sequence[CompetencyRef], rules: Rules
) -> dict[str, Any]:
    """Breadth: enough sub-competencies at level 1+, and enough of those at level 2."""
    codes = [c.code for c in _technical(competencies)]
    at_level = _at_least(levels, codes, rules.breadth_level)
    at_top = _at_least(levels, at_level, rules.top_level)
    return {
        "met": len(at_level) >= rules.breadth_minimum
        and len(at_top) >= rules.breadth_minimum_at_top,
        "required_at_level_1": rules.breadth_minimum,
        "required_at_level_2": rules.breadth_minimum_at_top,
        "at_level_1": len(at_level),
        "at_level_2": len(at_top),
        "codes_at_level_1": at_level,
        "codes_at_level_2": at_top,
    }


def technical_status(
    evidence: Iterable[Evidence], competencies: Sequence[CompetencyRef], rules: Rules
) -> dict[str, Any]:
    """Core, depth and breadth over one source of levels (self-assessed or reviewer)."""
    levels = levels_from(evidence)
    technical = {c.code for c in _technical(competencies)}
    core = core_status(levels, competencies, rules)
    depth = depth_status(levels, competencies, rules)
    breadth = breadth_status(levels, competencies, rules)
    return {
        "levels": {code: level for code, level in sorted(levels.items()) if code in technical},
        "core": core,
        "depth": depth,
        "breadth": breadth,
        "met": core["met"] and depth["met"] and breadth["met"],
    }


def enabling_status(
    evidence: Iterable[Evidence], competencies: Sequence[CompetencyRef], rules: Rules
) -> dict[str, Any]:
    """Every enabling competency at ``enabling_level``."""
    levels = levels_from(evidence)
    codes = [c.code for c in competencies if c.kind == "enabling"]
    reached = _at_least(levels, codes, rules.enabling_level)
    return {
        "met": bool(codes) and len(reached) == len(codes),
        "required_level": rules.enabling_level,
        "levels": {code: levels[code] for code in codes if code in levels},
        "missing": [code for code in codes if code not in reached],
    }


# -- the EVR 12-month rule ---------------------------------------------------------------------


@dataclass(frozen=True)
class TwelveMonthRule:
    applies: bool
    # First day after the first 12 counted months (the review is due then); projected when
    # the reported periods do not reach it yet, assuming work continues after ``as_of``.
    review_date: date | None
    projected: bool
    required: int
    count_now: int
    met_on: date | None
    suspended: bool
    suspended_from: date | None = None
    suspended_until: date | None = None


def _route_on(periods: Sequence[Period], day: date) -> str | None:
    for p in periods:
        if p.start <= day <= p.end:
            return p.route
    return None


def date_reaching(
    evidence: Iterable[Evidence], competencies: Sequence[CompetencyRef], count: int, level: int
) -> date | None:
    """The day on which ``count`` technical sub-competencies have reached ``level``."""
    technical = {c.code for c in _technical(competencies)}
    first: dict[str, date] = {}
    for item in evidence:
        if item.code in technical and item.level >= level:
            if item.code not in first or item.on < first[item.code]:
                first[item.code] = item.on
    days = sorted(first.values())
    return days[count - 1] if count >= 1 and len(days) >= count else None


def twelve_month_rule(
    periods: Sequence[Period],
    evidence: Sequence[Evidence],
    competencies: Sequence[CompetencyRef],
    rules: Rules,
    *,
    per_start: date | None,
    as_of: date,
) -> TwelveMonthRule:
    """Whether (and from when) EVR duration is suspended for lack of level-1 evidence."""
    required = rules.evr_minimum_competencies
    known = [e for e in evidence if e.on <= as_of]
    met_on = date_reaching(known, competencies, required, rules.evr_minimum_level)
    count_now = len(
        {
            e.code
            for e in known
            if e.level >= rules.evr_minimum_level
            and e.code in {c.code for c in _technical(competencies)}
        }
    )
    if not periods:
        return TwelveMonthRule(False, None, False, required, count_now, met_on, False)
    intervals = counted_intervals(periods, per_start, as_of)
    review = point_after(intervals, rules.evr_review_after_months)
    projected = review is None
    if review is None:
        remaining = rules.evr_review_after_months - measure(intervals)
        review = date_after_months(as_of + ONE_DAY, remaining)
        route = max(periods, key=lambda p: p.end).route
    else:
        route = _route_on(periods, review - ONE_DAY) or max(periods, key=lambda p: p.end).route
    applies = route == "EVR"
    # Met on the review day itself still counts as met (nothing is lost).
    suspended = applies and not projected and (met_on is None or met_on > review)
    return TwelveMonthRule(
        applies=applies,
        review_date=review,
        projected=projected,
        required=required,
        count_now=count_now,
        met_on=met_on,
        suspended=suspended,
        suspended_from=review if suspended else None,
        suspended_until=met_on if suspended else None,
    )


# -- duration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    per_start: date | None
    months_counted: float
    months_required: float
    base_months_required: float
    extension_months: float
    months_remaining: float
    months_suspended: float
    time_away_days: int
    time_away_allowance_days: int
    excess_time_away_days: int
    met: bool
    # Last day of the required experience: reached, or projected assuming continuous work
    # after ``as_of`` (None while the duration is suspended with no end in sight).
    completion_date: date | None
    completion_projected: bool


def duration_status(
    periods: Sequence[Period],
    rules: Rules,
    *,
    per_start: date | None,
    as_of: date,
    suspension: tuple[date, date | None] | None = None,
) -> Duration:
    """Months counted toward the requirement, time away, and months still to go."""
    base = counted_intervals(periods, per_start, as_of)
    counted = base if suspension is None else remove_window(base, *suspension)
    months = measure(counted)
    suspended_months = measure(base) - months
    leave = sum(p.leave_days for p in periods if per_start is None or p.end >= per_start)
    excess = max(0, leave - rules.time_away_allowance_days)
    extension = excess / DAYS_PER_MONTH
    required = rules.months_required + extension
    remaining = max(0.0, required - months)
    met = remaining <= _EPS
    completion: date | None
    projected = False
    if met:
        reached = point_after(counted, required)
        completion = reached - ONE_DAY if reached else None
    elif suspension is not None and suspension[1] is None:
        completion = None
    else:
        completion = date_after_months(as_of + ONE_DAY, remaining) - ONE_DAY
        projected = True
    return Duration(
        per_start=per_start,
        months_counted=round(months, 2),
        months_required=round(required, 2),
        base_months_required=float(rules.months_required),
        extension_months=round(extension, 2),
        months_remaining=round(remaining, 2),
        months_suspended=round(suspended_months, 2),
        time_away_days=leave,
        time_away_allowance_days=rules.time_away_allowance_days,
        excess_time_away_days=excess,
        met=met,
        completion_date=completion,
        completion_projected=projected,
    )


# -- deadlines and the whole picture -----------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    kind: str
    due: date
    overdue: bool
    projected: bool
    description: str


def next_report_due(periods: Sequence[Period], rules: Rules, per_start: date | None) -> date | None:
    """``report_interval_months`` after the last period's end (or after the PER start)."""
    if periods:
        return add_months(max(p.end for p in periods), rules.report_interval_months)
    if per_start is not None:
        return add_months(per_start, rules.report_interval_months)
    return None


@dataclass
class Progress:
    framework_version: str
    as_of: date
    duration: Duration
    evr_twelve_month: TwelveMonthRule
    technical: dict[str, Any]
    enabling: dict[str, Any]
    deadlines: list[Deadline] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)
    requirement_met: bool = False


def evaluate(
    *,
    framework_version: str,
    rules: Rules,
    competencies: Sequence[CompetencyRef],
    periods: Sequence[Period],
    self_evidence: Sequence[Evidence],
    reviewer_evidence: Sequence[Evidence],
    as_of: date,
    per_start: date | None = None,
) -> Progress:
    """The whole progress picture for one candidate on ``as_of``.

    ``per_start`` defaults to the first period's start. The 12-month rule and the
    requirement as a whole are judged on self-assessed levels (what the candidate can act
    on); the reviewer-confirmed picture is reported beside it.
    """
    if per_start is None and periods:
        per_start = min(p.start for p in periods)
    twelve = twelve_month_rule(
        periods, self_evidence, competencies, rules, per_start=per_start, as_of=as_of
    )
    suspension = (
        (twelve.suspended_from, twelve.suspended_until)
        if twelve.suspended and twelve.suspended_from
        else None
    )
    duration = duration_status(
        periods, rules, per_start=per_start, as_of=as_of, suspension=suspension
    )
    technical = {
        "self": technical_status(self_evidence, competencies, rules),
        "reviewer": technical_status(reviewer_evidence, competencies, rules),
    }
    enabling = {
        "self": enabling_status(self_evidence, competencies, rules),
        "reviewer": enabling_status(reviewer_evidence, competencies, rules),
    }
    warnings = period_warnings(periods, rules)
    deadlines: list[Deadline] = []
    due = next_report_due(periods, rules, per_start)
    if due is not None and not duration.met:
        deadlines.append(
            Deadline(
                "next_report",
                due,
                as_of > due,
                False,
                f"Report your experience at least every {rules.report_interval_months} months.",
            )
        )
        if as_of > due:
            warnings.append(
                Notice("report_overdue", f"An experience report was due on {due.isoformat()}.", due)
            )
    if twelve.applies and twelve.review_date is not None:
        deadlines.append(
            Deadline(
                "evr_12_month_review",
                twelve.review_date,
                as_of >= twelve.review_date,
                twelve.projected,
                f"After {rules.evr_review_after_months:g} months on the EVR route at least "
                f"{twelve.required} sub-competencies must be at level "
                f"{rules.evr_minimum_level} or higher.",
            )
        )
        if twelve.suspended:
            warnings.append(
                Notice(
                    "duration_suspended",
                    f"Fewer than {twelve.required} sub-competencies were at level "
                    f"{rules.evr_minimum_level} or higher after "
                    f"{rules.evr_review_after_months:g} months: your reported duration stops "
                    f"counting from {twelve.review_date.isoformat()}"
                    + (
                        f" until {twelve.met_on.isoformat()}."
                        if twelve.met_on
                        else " until they are reached."
                    ),
                    twelve.review_date,
                )
            )
        elif twelve.projected and twelve.count_now < twelve.required:
            warnings.append(
                Notice(
                    "duration_suspension_risk",
                    f"Only {twelve.count_now} sub-competencies are at level "
                    f"{rules.evr_minimum_level} or higher; reach {twelve.required} by "
                    f"{twelve.review_date.isoformat()} or your duration stops counting.",
                    twelve.review_date,
                )
            )
    if duration.excess_time_away_days:
        warnings.append(
            Notice(
                "time_away_extends",
                f"Time away exceeds {rules.time_away_allowance_days} days by "
                f"{duration.excess_time_away_days} days; the requirement grows to "
                f"{duration.months_required:g} months.",
            )
        )
    met = duration.met and technical["self"]["met"] and enabling["self"]["met"]
    return Progress(
        framework_version=framework_version,
        as_of=as_of,
        duration=duration,
        evr_twelve_month=twelve,
        technical=technical,
        enabling=enabling,
        deadlines=deadlines,
        warnings=warnings,
        requirement_met=met,
    )


def to_json(value: Any) -> Any:
    """Dataclasses, dates, tuples and dicts as JSON-ready values (dates in ISO form)."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_json(asdict(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value
