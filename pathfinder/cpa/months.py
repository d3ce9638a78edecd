"""Calendar months and day intervals: the arithmetic the progress engine counts with.

A month is a calendar month: 1 January to 1 February is one month, 31 January to
29 February too (the day is clamped), and a part month is its days over that month's days.
Intervals are ``[start, end)`` pairs of dates, end exclusive.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

DAYS_PER_MONTH = 365.25 / 12
EPS = 1e-9
ONE_DAY = timedelta(days=1)

Interval = tuple[date, date]  # [start, end): end exclusive


# -- calendar months ---------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, the day clamped to the month's length."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def months_between(start: date, end_exclusive: date) -> float:
    """Calendar months from ``start`` up to (not including) ``end_exclusive``."""
    if end_exclusive <= start:
        return 0.0
    whole = (end_exclusive.year - start.year) * 12 + end_exclusive.month - start.month
    if add_months(start, whole) > end_exclusive:
        whole -= 1
    anchor = add_months(start, whole)
    following = add_months(start, whole + 1)
    return whole + (end_exclusive - anchor).days / (following - anchor).days


def date_after_months(start: date, months: float) -> date:
    """The first day after ``months`` calendar months counted from ``start``."""
    whole = math.floor(months + EPS)
    anchor = add_months(start, whole)
    part = months - whole
    if part <= EPS:
        return anchor
    following = add_months(start, whole + 1)
    return anchor + timedelta(days=math.ceil(part * (following - anchor).days - EPS))


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def measure(intervals: Iterable[Interval]) -> float:
    """Total calendar months of the intervals."""
    return sum(months_between(s, e) for s, e in intervals)


def point_after(intervals: Sequence[Interval], months: float) -> date | None:
    """The first day after ``months`` have been counted over the intervals, or None."""
    counted = 0.0
    for start, end in intervals:
        length = months_between(start, end)
        if counted + length >= months - EPS:
            return min(date_after_months(start, months - counted), end)
        counted += length
    return None


def remove_window(intervals: Sequence[Interval], start: date, end: date | None) -> list[Interval]:
    """The intervals without [start, end) (``end`` None: without everything from start)."""
    out: list[Interval] = []
    for s, e in intervals:
        if s < start:
            out.append((s, min(e, start)))
        if end is not None and e > end:
            out.append((max(s, end), e))
    return [i for i in out if i[1] > i[0]]
