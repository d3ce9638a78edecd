"""Career arithmetic shared by the metrics job, the trajectory and the offline assistant.

Pure functions over dates, no database: the same numbers must come out of the assistant's
answer ("how many years...") and the stored metrics, so both call these.

Years of experience count overlapping periods once (two part-time jobs held at the same
time are one year of experience, not two) and are ``days / 365.25`` rounded to one decimal.
A period without an end date runs up to the day the figure is computed for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

DAYS_PER_YEAR = 365.25

# Rank of each role level, for a chart axis (higher is more senior).
ROLE_LEVEL_RANK = {
    "entry": 1,
    "intermediate": 2,
    "senior": 3,
    "lead": 4,
    "manager": 5,
    "director": 6,
    "executive": 7,
}


@dataclass(frozen=True)
class Period:
    """A span of work: ``end`` None means still running."""

    start: date
    end: date | None


def merged_periods(periods: Iterable[Period], on_date: date) -> list[tuple[date, date]]:
    """The periods as of ``on_date``: clipped to it, sorted, overlaps and touching spans joined.

    A period starting after ``on_date`` is left out; an open one ends on ``on_date``.
    """
    spans = []
    for period in periods:
        if period.start > on_date:
            continue
        end = on_date if period.end is None else min(period.end, on_date)
        if end < period.start:
            continue
        spans.append((period.start, end))
    spans.sort()
    merged: list[tuple[date, date]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def experience_days(periods: Iterable[Period], on_date: date) -> int:
    """Calendar days covered by at least one period, up to ``on_date``."""
    return sum((end - start).days for start, end in merged_periods(periods, on_date))


def experience_years(periods: Iterable[Period], on_date: date) -> float:
    """Years of experience as of ``on_date``, overlaps counted once, one decimal."""
    return round(experience_days(periods, on_date) / DAYS_PER_YEAR, 1)


def years_before(on_date: date, years: int) -> date:
    """The same calendar day ``years`` earlier (28 February for 29 February)."""
    try:
        return on_date.replace(year=on_date.year - years)
    except ValueError:
        return on_date.replace(year=on_date.year - years, day=28)


def experience_growth(periods: Iterable[Period], on_date: date, *, years: int = 1) -> float:
    """Years of experience gained in the ``years`` before ``on_date`` (one decimal)."""
    spans = list(periods)
    earlier = years_before(on_date, years)
    gained = experience_days(spans, on_date) - experience_days(spans, earlier)
    return round(gained / DAYS_PER_YEAR, 1)
