"""Tiers 2 and 3 against a hand-computed career with overlapping jobs.

The fixture career (all dates inclusive):

====  ==========================  ========================  ======  =====================
role  title                       period                    days    technologies
====  ==========================  ========================  ======  =====================
A     Staff Accountant (Finance)  2010-01-01 .. 2012-12-31  1096    Excel, CaseWare
B     Senior Accountant (Finance) 2012-07-01 .. 2015-06-30  1095    Microsoft Excel, SQL
C     Evening Instructor (Educ.)  2014-01-01 .. 2014-12-31   365    (skill: Teaching)
D     Finance Manager (Tech.)     2017-01-01 .. 2019-12-31  1095    SQL, Power BI
====  ==========================  ========================  ======  =====================

B overlaps A for half of 2012 and contains C entirely. By hand:

- union = 2010-01-01..2015-06-30 (365+365+366+365+365+181 = 2007 days) + D (1095)
  = 3102 days = 3102 / 365.25 = 8.493 -> **8.5 years** (the plain sum, 3651 days, would say
  10.0);
- Finance = A u B = 2007 days -> 5.5; Technology = 1095 -> 3.0; Education = 365 -> 1.0;
- Excel is one skill with "Microsoft Excel" (catalogue alias): A u B -> 5.5, last used
  2015-06-30; SQL = B u D = 2190 days -> 6.0; CaseWare = 1096 -> 3.0; Power BI = 3.0;
  Teaching (tied to C) = 1.0; Leadership (standalone, declared 3.0) = 3.0; Budgeting (tied
  to D, primary) = 3.0 and ranks first because it is primary.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.career.summaries import (
    compute_summaries,
    skill_totals,
    union_days,
    years_of_days,
)
from pathfinder.career.summary_service import rebuild_stale_summaries
from pathfinder.db import Database
from pathfinder.ids import new_id
from tests.career.helpers import EXPERIENCES, SKILLS, experience
from tests.conftest import AuthActions

FIXTURE = [
    experience(
        title="Staff Accountant",
        company="Maple Audit LLP",
        industry="Finance",
        role_level="entry",
        start_date="2010-01-01",
        end_date="2012-12-31",
        technologies=["Excel", "CaseWare"],
        team_size=None,
    ),
    experience(
        title="Senior Accountant",
        company="Northwind Ltd",
        industry="Finance",
        role_level="senior",
        start_date="2012-07-01",
        end_date="2015-06-30",
        technologies=["Microsoft Excel", "SQL"],
        team_size=None,
    ),
    experience(
        title="Evening Instructor",
        company="City College",
        industry="Education",
        employment_type="part_time",
        role_level="intermediate",
        start_date="2014-01-01",
        end_date="2014-12-31",
        technologies=[],
        team_size=None,
    ),
    experience(
        title="Finance Manager",
        company="Globex",
        industry="Technology",
        role_level="manager",
        start_date="2017-01-01",
        end_date="2019-12-31",
        technologies=["SQL", "Power BI"],
        team_size=8,
    ),
]

EXPECTED_TOP_SKILLS = [
    # (name, category, years, last used, roles, primary)
    ("Budgeting", "Accounting and Finance", 3.0, "2019-12-31", 1, True),
    ("SQL", "Programming Languages", 6.0, "2019-12-31", 2, False),
    ("Microsoft Excel", "Data and Analytics", 5.5, "2015-06-30", 2, False),
    ("Power BI", "Data and Analytics", 3.0, "2019-12-31", 1, False),
    ("CaseWare", "Audit and Assurance", 3.0, "2012-12-31", 1, False),
    ("Leadership", "Leadership and Communication", 3.0, None, 0, False),
    ("Teaching", "Education", 1.0, "2014-12-31", 1, False),
]

EXPECTED_PROFILE: dict[str, Any] = {
    "total_years": 8.5,
    "total_roles": 4,
    "industries": [
        {"name": "Finance", "years": 5.5},
        {"name": "Technology", "years": 3.0},
        {"name": "Education", "years": 1.0},
    ],
    "leadership_highlights": ["Finance Manager at Globex (2017–2019), team of 8"],
    "technical_highlights": [
        "Finance Manager at Globex (2017–2019): SQL, Power BI",
        "Senior Accountant at Northwind Ltd (2012–2015): Microsoft Excel, SQL",
        "Staff Accountant at Maple Audit LLP (2010–2012): Excel, CaseWare",
    ],
    "career_highlights": [
        "Longest role: Staff Accountant at Maple Audit LLP, 3.0 years",
        "Led a team of 8 as Finance Manager at Globex",
        "Rose from entry to manager level",
    ],
}

EXPECTED_QUICK: dict[str, Any] = {
    "headline": (
        "Finance Manager at Globex · 8.5 years of experience · Budgeting, SQL, Microsoft Excel"
    ),
    "current_title": None,
    "current_company": None,
    "total_years": 8.5,
    "total_roles": 4,
    "top_skills": ["Budgeting", "SQL", "Microsoft Excel", "Power BI", "CaseWare"],
    "key_strengths": [
        "Data and Analytics (Microsoft Excel, Power BI)",
        "Programming Languages (SQL)",
        "Accounting and Finance (Budgeting)",
        "Leadership: 1 role at lead level or above, teams of up to 8",
        "Industry experience: Finance, Technology",
    ],
}


def build_fixture_career(client: FlaskClient, headers: dict[str, str]) -> list[str]:
    created = client.post(f"{EXPERIENCES}/bulk", headers=headers, json={"items": FIXTURE})
    assert created.status_code == 201, created.get_json()
    ids = [i["id"] for i in created.get_json()["items"]]
    for body in (
        {"name": "Leadership", "years_experience": 3.0},
        {"name": "Teaching", "experience_id": ids[2], "proficiency_level": 4},
        {"name": "Budgeting", "experience_id": ids[3], "is_primary": True},
    ):
        response = client.post(SKILLS, headers=headers, json=body)
        assert response.status_code == 201, response.get_json()
    return ids


def test_union_of_periods_counts_overlaps_once() -> None:
    d = date
    assert union_days([]) == 0
    assert union_days([(d(2020, 1, 1), d(2020, 1, 1))]) == 1
    # identical, contained, overlapping, adjacent, disjoint
    assert union_days([(d(2020, 1, 1), d(2020, 1, 10))] * 2) == 10
    assert union_days([(d(2020, 1, 1), d(2020, 1, 10)), (d(2020, 1, 3), d(2020, 1, 4))]) == 10
    assert union_days([(d(2020, 1, 5), d(2020, 1, 15)), (d(2020, 1, 1), d(2020, 1, 10))]) == 15
    assert union_days([(d(2020, 1, 1), d(2020, 1, 10)), (d(2020, 1, 11), d(2020, 1, 20))]) == 20
    assert union_days([(d(2020, 1, 1), d(2020, 1, 10)), (d(2020, 2, 1), d(2020, 2, 10))]) == 20
    assert years_of_days(3102) == Decimal("8.5")
    assert years_of_days(3651) == Decimal("10.0")
    assert years_of_days(365) == Decimal("1.0") and years_of_days(366) == Decimal("1.0")


def _rows(today: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The fixture as tier-1 rows, for the pure functions."""
    experiences = []
    for index, body in enumerate(FIXTURE):
        experiences.append(
            {
                **body,
                "id": f"E{index}",
                "start_date": date.fromisoformat(body["start_date"]),
                "end_date": date.fromisoformat(body["end_date"]),
                "is_current": False,
            }
        )
    skills = [
        {"name": "Leadership", "experience_id": None, "years_experience": Decimal("3.0")},
        {"name": "Teaching", "experience_id": "E2", "proficiency_level": 4},
        {"name": "Budgeting", "experience_id": "E3", "is_primary": True},
    ]
    return experiences, skills


def test_pure_computation_matches_hand_computed_values() -> None:
    catalogue = {
        "excel": ("Microsoft Excel", "Data and Analytics"),
        "microsoft excel": ("Microsoft Excel", "Data and Analytics"),
        "sql": ("SQL", "Programming Languages"),
        "power bi": ("Power BI", "Data and Analytics"),
        "caseware": ("CaseWare", "Audit and Assurance"),
        "leadership": ("Leadership", "Leadership and Communication"),
        "teaching": ("Teaching", "Education"),
        "budgeting": ("Budgeting", "Accounting and Finance"),
    }

    def canonical(name: str) -> tuple[str, str | None]:
        return catalogue.get(name.lower(), (name, None))

    experiences, skills = _rows(date(2024, 6, 1))
    result = compute_summaries(experiences, skills, date(2024, 6, 1), canonical)
    assert result.profile["total_years"] == Decimal("8.5")
    for key, value in EXPECTED_PROFILE.items():
        if key != "total_years":
            assert result.profile[key] == value, key
    got = [
        (s["name"], s["category"], s["total_years"], s["last_used"], s["experience_count"],
         s["is_primary"])
        for s in result.profile["top_skills"]
    ]  # fmt: skip
    assert got == EXPECTED_TOP_SKILLS
    quick = {**result.quick, "total_years": float(result.quick["total_years"])}
    assert quick == EXPECTED_QUICK
    # Deterministic: the same input in another order gives the same summaries.
    again = compute_summaries(experiences[::-1], skills[::-1], date(2024, 6, 1), canonical)
    assert again == result


def test_current_role_runs_to_today_and_leads_the_headline() -> None:
    experiences, skills = _rows(date(2024, 6, 1))
    experiences.append(
        {
            "id": "E9",
            "title": "Controller",
            "company": "Initech",
            "role_level": "director",
            "industry": "Finance",
            "start_date": date(2023, 1, 1),
            "end_date": None,
            "is_current": True,
            "technologies": [],
            "team_size": None,
        }
    )
    result = compute_summaries(experiences, skills, date(2023, 12, 31))
    # 3102 days + the whole of 2023 (365) = 3467 days = 9.492 -> 9.5
    assert result.quick["total_years"] == Decimal("9.5")
    assert result.quick["current_title"] == "Controller"
    assert result.quick["headline"].startswith("Controller at Initech · 9.5 years")
    assert result.profile["leadership_highlights"][0] == "Controller at Initech (2023–present)"
    totals = skill_totals([], [], date(2024, 1, 1))
    assert totals == []
    empty = compute_summaries([], [], date(2024, 1, 1))
    assert empty.quick["headline"] == "No experience recorded yet"
    assert empty.quick["total_years"] == Decimal("0.0") and empty.profile["top_skills"] == []


def test_summaries_over_http_match_the_fixture(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    empty = client.get("/api/v1/me/profile/quick", headers=headers)
    assert empty.status_code == 200
    assert empty.get_json()["headline"] == "No experience recorded yet"
    assert empty.get_json()["total_roles"] == 0

    build_fixture_career(client, headers)
    profile = client.get("/api/v1/me/profile/summary", headers=headers).get_json()
    for key, value in EXPECTED_PROFILE.items():
        assert profile[key] == value, key
    got = [
        (s["name"], s["category"], s["total_years"], s["last_used"], s["experience_count"],
         s["is_primary"])
        for s in profile["top_skills"]
    ]  # fmt: skip
    assert got == EXPECTED_TOP_SKILLS
    assert [p["title"] for p in profile["career_progression"]] == [
        "Staff Accountant",
        "Senior Accountant",
        "Evening Instructor",
        "Finance Manager",
    ]
    assert profile["is_stale"] is False and profile["computed_at"]

    quick = client.get("/api/v1/me/profile/quick", headers=headers).get_json()
    for key, value in EXPECTED_QUICK.items():
        assert quick[key] == value, key

    summary = client.get(f"{SKILLS}/summary", headers=headers).get_json()
    assert summary["total"] == 7
    assert [(s["name"], s["total_years"]) for s in summary["items"]] == [
        (name, years) for name, _, years, *_ in EXPECTED_TOP_SKILLS
    ]
    window = client.get(f"{SKILLS}/summary?limit=2&offset=2", headers=headers).get_json()
    assert [s["name"] for s in window["items"]] == ["Microsoft Excel", "Power BI"]
    assert window["next_offset"] == 4
    assert client.get(f"{SKILLS}/summary?limit=500", headers=headers).status_code == 422

    view = client.get("/api/v1/me/career-summary", headers=headers).get_json()
    assert view == {
        "total_roles": 4,
        "total_companies": 4,
        "current_roles": 0,
        "first_start_date": "2010-01-01",
        "last_end_date": "2019-12-31",
        # The same rule as the tier-2 total: overlapping roles count once.
        "total_years_experience": profile["total_years"],
    }


def test_every_write_recomputes_the_summaries(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    ids = build_fixture_career(client, headers)

    def quick() -> dict[str, Any]:
        return dict(client.get("/api/v1/me/profile/quick", headers=headers).get_json())

    # Deleting B removes the overlap: A (1096) + C (365) + D (1095) = 2556 days = 7.0 years.
    assert client.delete(f"{EXPERIENCES}/{ids[1]}", headers=headers).status_code == 204
    assert quick()["total_years"] == 7.0 and quick()["total_roles"] == 3
    # Making D current (start 2017-01-01, running to today) changes the headline.
    changed = client.patch(
        f"{EXPERIENCES}/{ids[3]}", headers=headers, json={"end_date": None, "is_current": True}
    )
    assert changed.status_code == 200
    assert quick()["current_title"] == "Finance Manager"
    assert quick()["total_years"] > 7.0
    # A skill change shows in the top skills at once.
    skills = client.get(f"{SKILLS}?q=budget", headers=headers).get_json()["items"]
    client.patch(f"{SKILLS}/{skills[0]['id']}", headers=headers, json={"is_primary": False})
    client.post(SKILLS, headers=headers, json={"name": "Rust", "is_primary": True})
    assert quick()["top_skills"][0] == "Rust"


def test_reads_use_summary_tables_and_the_job_rebuilds_stale_ones(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    build_fixture_career(client, headers)
    # A row written behind the service's back: tier 1 changes, the summaries do not.
    stamp = datetime.now(UTC)
    with db.tenant_transaction("alice") as (conn, tables):
        conn.execute(
            tables.experiences.insert().values(
                id=new_id(),
                title="Side Project",
                employment_type="self_employed",
                start_date=date(2021, 1, 1),
                end_date=date(2021, 12, 31),
                is_current=False,
                created_at=stamp,
                updated_at=stamp,
            )
        )
    assert client.get("/api/v1/me/profile/quick", headers=headers).get_json()["total_roles"] == 4
    assert client.get("/api/v1/me/profile/summary", headers=headers).get_json()["total_roles"] == 4
    # The view reads tier 1 itself.
    assert client.get("/api/v1/me/career-summary", headers=headers).get_json()["total_roles"] == 5

    with app.app_context():
        assert rebuild_stale_summaries(db, "alice") is False  # fresh, no current role
        with db.tenant_transaction("alice") as (conn, tables):
            conn.execute(tables.profile_summary.update().values(is_stale=True))
        assert client.get("/api/v1/me/profile/summary", headers=headers).get_json()["is_stale"]
        assert rebuild_stale_summaries(db, "alice") is True
        assert rebuild_stale_summaries(db, "alice") is False
    rebuilt = client.get("/api/v1/me/profile/summary", headers=headers).get_json()
    assert rebuilt["total_roles"] == 5 and rebuilt["is_stale"] is False
    # 3102 + 365 (2021) = 3467 days = 9.5 years
    assert rebuilt["total_years"] == 9.5


def test_a_current_role_is_rebuilt_on_a_later_day(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    client.post(
        EXPERIENCES,
        headers=headers,
        json=experience(start_date="2020-01-01", end_date=None, is_current=True),
    )
    with app.app_context():
        assert rebuild_stale_summaries(db, "alice") is False
        assert rebuild_stale_summaries(db, "alice", today=date(2999, 1, 1)) is True
    assert client.get("/api/v1/me/profile/quick", headers=headers).get_json()["total_years"] > 900


def test_concurrent_writers_never_lose_a_change_in_the_summaries(
    app: Flask, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("alice"))
    errors: list[object] = []

    def writer(offset: int) -> None:
        client = app.test_client()
        for n in range(4):
            body = experience(
                title=f"Role {offset + n}",
                start_date=f"{2000 + offset + n}-01-01",
                end_date=f"{2000 + offset + n}-12-31",
            )
            response = client.post(EXPERIENCES, headers=headers, json=body)
            if response.status_code != 201:
                errors.append(response.get_json())

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 10, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    quick = app.test_client().get("/api/v1/me/profile/quick", headers=headers).get_json()
    # Twelve disjoint calendar years, each written by one of three concurrent writers.
    assert quick["total_roles"] == 12
    assert quick["total_years"] == 12.0


def test_my_career_objective_is_encrypted_and_survives_recomputes(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("aiming"))
    url = "/api/v1/me/profile/quick"
    assert client.get(url, headers=headers).get_json()["career_objective"] is None
    goal = "Lead a finance team at a climate-tech company"
    set_ = client.patch(url, headers=headers, json={"career_objective": goal})
    assert set_.status_code == 200, set_.get_json()
    assert set_.get_json()["career_objective"] == goal
    with db.tenant_transaction("aiming") as (conn, tables):
        raw = conn.execute(sa.select(tables.quick_summary.c.career_objective)).scalar_one()
    assert raw.startswith("pf2.") and "climate" not in raw
    build_fixture_career(client, headers)  # every write recomputes tier 3
    quick = client.get(url, headers=headers).get_json()
    assert quick["career_objective"] == goal and quick["total_roles"] == 4
    too_long = client.patch(url, headers=headers, json={"career_objective": "x" * 501})
    assert too_long.status_code == 422
    cleared = client.patch(url, headers=headers, json={"career_objective": None})
    assert cleared.get_json()["career_objective"] is None
