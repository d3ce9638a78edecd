"""The progress engine, rule by rule, on hand-made cases (pure functions, no database)."""

from __future__ import annotations

from datetime import date

import pytest

from pathfinder.cpa.framework_data import PER_2021, PER_2021_RULES
from pathfinder.cpa.progress import (
    CompetencyRef,
    Evidence,
    Period,
    Rules,
    add_months,
    breadth_status,
    core_status,
    date_after_months,
    depth_status,
    duration_status,
    enabling_status,
    evaluate,
    merge_intervals,
    months_between,
    next_report_due,
    period_warnings,
    remove_window,
    to_json,
    twelve_month_rule,
)

RULES = Rules.from_json(PER_2021_RULES)
COMPETENCIES = tuple(
    CompetencyRef(c.code, c.kind, c.area_code, c.name) for c in PER_2021.competencies
)
TECHNICAL = [c.code for c in COMPETENCIES if c.kind == "technical"]
D = date


def levels(**given: int) -> dict[str, int]:
    return dict(given)


# -- the framework the engine runs on ----------------------------------------------------------


def test_per_2021_has_20_sub_competencies_in_6_areas_and_5_enabling() -> None:
    assert TECHNICAL == [
        *("FR1", "FR2", "FR3", "FR4", "MA1", "MA2", "MA3", "MA4", "SG1", "SG2", "SG3"),
        *("AA1", "AA2", "AA3", "FN1", "FN2", "FN3", "TX1", "TX2", "TX3"),
    ]
    assert sorted({c.area_code for c in COMPETENCIES if c.kind == "technical"}) == [
        "AA",
        "FN",
        "FR",
        "MA",
        "SG",
        "TX",
    ]
    assert [c.code for c in COMPETENCIES if c.kind == "enabling"] == [
        "EN1",
        "EN2",
        "EN3",
        "EN4",
        "EN5",
    ]


def test_rules_read_from_the_framework_document() -> None:
    assert RULES == Rules()  # the seeded document says exactly the PER-2021 values
    changed = Rules.from_json({"months_required": 24, "breadth": {"minimum": 6}})
    assert changed.months_required == 24 and changed.breadth_minimum == 6
    assert changed.core_minimum == 3  # not mentioned: unchanged


# -- calendar months ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (D(2024, 1, 1), D(2024, 7, 1), 6.0),
        (D(2024, 1, 15), D(2024, 7, 15), 6.0),
        (D(2024, 1, 31), D(2024, 2, 29), 1.0),  # clamped to the month's last day
        (D(2024, 2, 1), D(2024, 2, 15), 14 / 29),
        (D(2024, 1, 1), D(2026, 7, 1), 30.0),
        (D(2024, 3, 1), D(2024, 3, 1), 0.0),
        (D(2024, 3, 1), D(2024, 2, 1), 0.0),
    ],
)
def test_months_between(start: date, end: date, months: float) -> None:
    assert months_between(start, end) == pytest.approx(months)


def test_add_months_and_date_after_months_are_inverse() -> None:
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2023, 11, 30), 3) == D(2024, 2, 29)
    assert date_after_months(D(2024, 1, 1), 12) == D(2025, 1, 1)
    assert date_after_months(D(2024, 2, 1), 0.5) == D(2024, 2, 16)  # 14.5 days, rounded up
    for months in (0.25, 1, 5.5, 11.9, 30):
        end = date_after_months(D(2024, 1, 10), months)
        assert months_between(D(2024, 1, 10), end) >= months - 1e-9


def test_intervals_merge_and_windows_cut() -> None:
    merged = merge_intervals(
        [
            (D(2024, 3, 1), D(2024, 4, 1)),
            (D(2024, 1, 1), D(2024, 3, 1)),
            (D(2024, 5, 1), D(2024, 6, 1)),
        ]
    )
    assert merged == [(D(2024, 1, 1), D(2024, 4, 1)), (D(2024, 5, 1), D(2024, 6, 1))]
    cut = remove_window(merged, D(2024, 2, 1), D(2024, 5, 15))
    assert cut == [(D(2024, 1, 1), D(2024, 2, 1)), (D(2024, 5, 15), D(2024, 6, 1))]
    assert remove_window(merged, D(2024, 2, 1), None) == [(D(2024, 1, 1), D(2024, 2, 1))]


# -- duration ---------------------------------------------------------------------------------


def test_duration_counts_months_of_consecutive_periods() -> None:
    periods = [Period(D(2024, 1, 1), D(2024, 6, 30)), Period(D(2024, 7, 1), D(2024, 12, 31))]
    result = duration_status(periods, RULES, per_start=D(2024, 1, 1), as_of=D(2025, 3, 1))
    assert result.months_counted == 12.0
    assert result.months_required == 30.0 and result.months_remaining == 18.0
    assert not result.met
    assert result.completion_projected  # 18 more months from 2025-03-02
    assert result.completion_date == D(2026, 9, 1)


def test_duration_stops_at_as_of_and_starts_at_the_per_start_date() -> None:
    periods = [Period(D(2024, 1, 1), D(2024, 12, 31))]
    mid_year = duration_status(periods, RULES, per_start=None, as_of=D(2024, 3, 31))
    assert mid_year.months_counted == 3.0
    later_start = duration_status(periods, RULES, per_start=D(2024, 4, 1), as_of=D(2025, 1, 1))
    assert later_start.months_counted == 9.0


def test_overlapping_periods_count_once() -> None:
    periods = [Period(D(2024, 1, 1), D(2024, 6, 30)), Period(D(2024, 4, 1), D(2024, 9, 30))]
    result = duration_status(periods, RULES, per_start=None, as_of=D(2025, 1, 1))
    assert result.months_counted == 9.0


def test_time_away_up_to_20_weeks_is_included() -> None:
    periods = [Period(D(2024, 1, 1), D(2024, 12, 31), leave_days=140)]
    result = duration_status(periods, RULES, per_start=None, as_of=D(2025, 1, 1))
    assert result.months_counted == 12.0
    assert result.excess_time_away_days == 0
    assert result.months_required == 30.0


def test_leave_beyond_20_weeks_extends_the_requirement() -> None:
    periods = [
        Period(D(2024, 1, 1), D(2024, 6, 30), leave_days=100),
        Period(D(2024, 7, 1), D(2024, 12, 31), leave_days=101),
    ]
    result = duration_status(periods, RULES, per_start=None, as_of=D(2025, 1, 1))
    assert result.time_away_days == 201 and result.excess_time_away_days == 61
    assert result.extension_months == pytest.approx(61 / (365.25 / 12), abs=0.01)
    assert result.months_required == pytest.approx(32.0, abs=0.01)
    assert result.months_remaining == pytest.approx(20.0, abs=0.01)


def test_thirty_months_met_gives_the_completion_day() -> None:
    periods = [Period(D(2022, 1, 1), D(2024, 12, 31))]
    result = duration_status(periods, RULES, per_start=None, as_of=D(2025, 1, 1))
    assert result.met and result.months_remaining == 0.0
    assert result.completion_date == D(2024, 6, 30)
    assert not result.completion_projected


# -- the EVR 12-month rule ---------------------------------------------------------------------


YEAR = [Period(D(2024, 1, 1), D(2024, 6, 30)), Period(D(2024, 7, 1), D(2024, 12, 31))]
LATER = [*YEAR, Period(D(2025, 1, 1), D(2025, 6, 30))]


def test_twelve_month_rule_met_in_time() -> None:
    evidence = [Evidence("FR1", 1, D(2024, 3, 1)), Evidence("MA1", 1, D(2024, 11, 1))]
    rule = twelve_month_rule(
        LATER, evidence, COMPETENCIES, RULES, per_start=None, as_of=D(2025, 7, 1)
    )
    assert rule.applies and not rule.projected
    assert rule.review_date == D(2025, 1, 1)
    assert rule.met_on == D(2024, 11, 1) and not rule.suspended


def test_fewer_than_two_at_level_1_after_12_months_suspends_duration() -> None:
    evidence = [
        Evidence("FR1", 1, D(2024, 3, 1)),
        Evidence("FR2", 0, D(2024, 4, 1)),  # level 0 does not count
        Evidence("EN3", 2, D(2024, 4, 1)),  # enabling does not count
        Evidence("MA1", 1, D(2025, 3, 1)),  # the second one, two months late
    ]
    rule = twelve_month_rule(
        LATER, evidence, COMPETENCIES, RULES, per_start=None, as_of=D(2025, 7, 1)
    )
    assert rule.suspended
    assert rule.suspended_from == D(2025, 1, 1) and rule.suspended_until == D(2025, 3, 1)
    progress = evaluate(
        framework_version="PER-2021",
        rules=RULES,
        competencies=COMPETENCIES,
        periods=LATER,
        self_evidence=evidence,
        reviewer_evidence=[],
        as_of=D(2025, 7, 1),
    )
    assert progress.duration.months_counted == 16.0  # 18 reported, 2 suspended
    assert progress.duration.months_suspended == 2.0
    warning = next(w for w in progress.warnings if w.code == "duration_suspended")
    assert warning.on == D(2025, 1, 1) and "2025-03-01" in warning.message


def test_suspension_without_an_end_stops_counting_and_projection() -> None:
    evidence = [Evidence("FR1", 1, D(2024, 3, 1))]
    progress = evaluate(
        framework_version="PER-2021",
        rules=RULES,
        competencies=COMPETENCIES,
        periods=LATER,
        self_evidence=evidence,
        reviewer_evidence=[],
        as_of=D(2025, 7, 1),
    )
    assert progress.evr_twelve_month.suspended_until is None
    assert progress.duration.months_counted == 12.0
    assert progress.duration.completion_date is None


def test_ppr_periods_are_not_suspended() -> None:
    ppr = [Period(p.start, p.end, "PPR") for p in LATER]
    rule = twelve_month_rule(ppr, [], COMPETENCIES, RULES, per_start=None, as_of=D(2025, 7, 1))
    assert not rule.applies and not rule.suspended


def test_twelve_month_review_is_projected_and_warned_before_it_comes() -> None:
    periods = [Period(D(2024, 1, 1), D(2024, 6, 30))]
    progress = evaluate(
        framework_version="PER-2021",
        rules=RULES,
        competencies=COMPETENCIES,
        periods=periods,
        self_evidence=[Evidence("FR1", 1, D(2024, 3, 1))],
        reviewer_evidence=[],
        as_of=D(2024, 6, 30),
    )
    rule = progress.evr_twelve_month
    assert rule.projected and rule.review_date == D(2025, 1, 1) and not rule.suspended
    risk = next(w for w in progress.warnings if w.code == "duration_suspension_risk")
    assert risk.on == D(2025, 1, 1)
    kinds = {d.kind: d for d in progress.deadlines}
    assert kinds["evr_12_month_review"].projected
    assert kinds["next_report"].due == D(2024, 12, 30)


# -- technical: core, depth, breadth -------------------------------------------------------------


def test_core_needs_three_fr_or_ma_at_level_1() -> None:
    assert not core_status(levels(FR1=1, FR2=2, TX1=2), COMPETENCIES, RULES)["met"]
    assert not core_status(levels(FR1=1, FR2=2, MA1=0), COMPETENCIES, RULES)["met"]
    met = core_status(levels(FR1=1, FR2=2, MA1=1), COMPETENCIES, RULES)
    assert met["met"] and met["codes"] == ["FR1", "FR2", "MA1"]


def test_depth_needs_a_whole_area_at_level_1_and_two_at_level_2() -> None:
    # Every TX at level 1+ and two at level 2: met in TX.
    result = depth_status(levels(TX1=2, TX2=2, TX3=1), COMPETENCIES, RULES)
    assert result["met"] and result["met_areas"] == ["TX"]
    # One sub-competency of the area missing: not met.
    result = depth_status(levels(FR1=2, FR2=2, FR3=2), COMPETENCIES, RULES)
    assert not result["met"]
    fr = next(a for a in result["areas"] if a["area_code"] == "FR")
    assert fr["missing"] == ["FR4"]
    # The whole area at level 1 but only one at level 2: not met.
    assert not depth_status(levels(SG1=1, SG2=1, SG3=2), COMPETENCIES, RULES)["met"]


def test_breadth_needs_eight_at_level_1_with_four_at_level_2() -> None:
    eight_three = levels(FR1=2, FR2=2, MA1=2, MA2=1, SG1=1, AA1=1, FN1=1, TX1=1)
    result = breadth_status(eight_three, COMPETENCIES, RULES)
    assert not result["met"] and result["at_level_1"] == 8 and result["at_level_2"] == 3
    seven_four = levels(FR1=2, FR2=2, MA1=2, MA2=2, SG1=1, AA1=1, FN1=1, TX1=0)
    assert not breadth_status(seven_four, COMPETENCIES, RULES)["met"]
    eight_four = {**eight_three, "MA2": 2}
    assert breadth_status(eight_four, COMPETENCIES, RULES)["met"]
    # Enabling competencies are not technical breadth.
    with_enabling = {**seven_four, "EN1": 2, "EN2": 2}
    assert not breadth_status(with_enabling, COMPETENCIES, RULES)["met"]


def test_enabling_needs_all_five_at_level_2() -> None:
    four = [Evidence(f"EN{i}", 2, D(2024, 1, 1)) for i in range(1, 5)]
    result = enabling_status([*four, Evidence("EN5", 1, D(2024, 1, 1))], COMPETENCIES, RULES)
    assert not result["met"] and result["missing"] == ["EN5"]
    all_five = enabling_status([*four, Evidence("EN5", 2, D(2024, 1, 1))], COMPETENCIES, RULES)
    assert all_five["met"] and all_five["missing"] == []


def test_self_assessed_and_reviewer_levels_stay_apart() -> None:
    own = [Evidence(code, 2, D(2024, 2, 1)) for code in ("FR1", "FR2", "FR3", "FR4", "MA1")]
    confirmed = [Evidence("FR1", 1, D(2024, 2, 1))]
    progress = evaluate(
        framework_version="PER-2021",
        rules=RULES,
        competencies=COMPETENCIES,
        periods=YEAR,
        self_evidence=own,
        reviewer_evidence=confirmed,
        as_of=D(2025, 1, 1),
    )
    assert progress.technical["self"]["core"]["met"]
    assert progress.technical["self"]["depth"]["met_areas"] == ["FR"]
    assert progress.technical["reviewer"]["levels"] == {"FR1": 1}
    assert not progress.technical["reviewer"]["core"]["met"]


# -- periods and deadlines ---------------------------------------------------------------------


def test_periods_outside_6_to_12_months_and_gaps_are_warnings() -> None:
    warnings = period_warnings(
        [
            Period(D(2024, 1, 1), D(2024, 3, 31), ref="short"),
            Period(D(2024, 5, 1), D(2025, 6, 30), ref="long"),
            Period(D(2025, 7, 1), D(2025, 12, 31), ref="fine"),
        ],
        RULES,
    )
    codes = [(w.code, w.ref) for w in warnings]
    assert ("period_length", "short") in codes and ("period_length", "long") in codes
    assert ("period_length", "fine") not in codes
    gap = next(w for w in warnings if w.code == "period_gap")
    assert gap.on == D(2024, 4, 1) and "30 days" in gap.message
    assert len([w for w in warnings if w.code == "period_gap"]) == 1


def test_next_report_is_due_six_months_after_the_last_period() -> None:
    assert next_report_due(YEAR, RULES, None) == D(2025, 6, 30)
    assert next_report_due([], RULES, D(2024, 1, 1)) == D(2024, 7, 1)
    assert next_report_due([], RULES, None) is None
    progress = evaluate(
        framework_version="PER-2021",
        rules=RULES,
        competencies=COMPETENCIES,
        periods=YEAR,
        self_evidence=[],
        reviewer_evidence=[],
        as_of=D(2025, 8, 1),
    )
    report = next(d for d in progress.deadlines if d.kind == "next_report")
    assert report.overdue
    assert any(w.code == "report_overdue" for w in progress.warnings)


def test_everything_met_means_the_requirement_is_met() -> None:
    periods = [Period(D(2022, 1, 1), D(2024, 12, 31), "PPR")]
    own = [
        *(Evidence(code, 2, D(2022, 3, 1)) for code in ("FR1", "FR2", "FR3", "FR4")),
        *(Evidence(code, 1, D(2022, 3, 1)) for code in ("MA1", "MA2", "AA1", "TX1")),
        *(Evidence(f"EN{i}", 2, D(2022, 3, 1)) for i in range(1, 6)),
    ]
    progress = evaluate(
        framework_version="PER-2021",
        rules=RULES,
        competencies=COMPETENCIES,
        periods=periods,
        self_evidence=own,
        reviewer_evidence=[],
        as_of=D(2025, 1, 1),
    )
    assert progress.requirement_met
    assert [d.kind for d in progress.deadlines] == []  # nothing more to report
    body = to_json(progress)
    assert body["duration"]["completion_date"] == "2024-06-30"
    assert body["technical"]["self"]["met"] is True
