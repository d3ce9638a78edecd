"""Career metrics, skills progression and the trajectory, through the API and the job."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder.analytics.career import Period, experience_growth, experience_years
from pathfinder.analytics.metrics import compute_all_career_metrics, compute_career_metrics
from pathfinder.db import Database
from tests.analytics.career_data import overlapping_career
from tests.chat.helpers import problem
from tests.conftest import AuthActions

METRICS = "/api/v1/me/analytics/metrics"
PROGRESSION = "/api/v1/me/analytics/skills-progression"
TRAJECTORY = "/api/v1/me/analytics/trajectory"


def metric(day: str, kind: str, value: float, **extra: Any) -> dict[str, Any]:
    return {"metric_date": day, "metric_type": kind, "metric_value": value, **extra}


def assessment(skill: str, day: str, level: int, source: str = "self") -> dict[str, Any]:
    return {
        "skill_name": skill,
        "assessed_on": day,
        "proficiency_level": level,
        "assessment_source": source,
    }


def test_years_count_overlaps_once() -> None:
    periods = [
        Period(date(2015, 1, 1), date(2018, 12, 31)),
        Period(date(2018, 6, 1), date(2021, 5, 31)),
        Period(date(2016, 1, 1), date(2016, 6, 30)),  # inside the first: adds nothing
        Period(date(2021, 6, 1), None),  # open: runs to the day asked about
        Period(date(2030, 1, 1), None),  # not started yet
    ]
    # 2015-01-01..2021-05-31 is 2,342 days, 2021-06-01..2024-06-01 is 1,096: 3,438 days.
    assert experience_years(periods, date(2024, 6, 1)) == 9.4
    assert experience_years(periods, date(2015, 1, 1)) == 0.0
    assert experience_growth(periods, date(2024, 6, 1)) == 1.0
    assert experience_growth([Period(date(2010, 1, 1), date(2012, 1, 1))], date(2024, 2, 29)) == 0


def test_record_and_list_metrics(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    headers = auth.headers(auth.register("alice"))
    first = client.post(METRICS, headers=headers, json=metric("2024-01-31", "applications", 3))
    assert first.status_code == 201, first.get_json()
    replaced = client.post(
        METRICS,
        headers=headers,
        json=metric("2024-01-31", "applications", 5.123456, details={"source": "tracker"}),
    )
    assert replaced.status_code == 200
    assert replaced.get_json()["id"] == first.get_json()["id"]
    assert replaced.get_json()["metric_value"] == 5.1235
    assert replaced.get_json()["details"] == {"source": "tracker"}
    for day in ("2024-02-29", "2024-03-31"):
        assert (
            client.post(METRICS, headers=headers, json=metric(day, "applications", 1)).status_code
            == 201
        )
    client.post(METRICS, headers=headers, json=metric("2024-03-31", "interviews", 2))
    with db.tenant_transaction("alice") as (conn, tables):
        rows = conn.execute(sa.select(sa.func.count()).select_from(tables.career_analytics))
        assert rows.scalar_one() == 4

    page = client.get(
        METRICS, headers=headers, query_string={"metric_type": "applications", "limit": 2}
    )
    body = page.get_json()
    assert [m["metric_date"] for m in body["items"]] == ["2024-03-31", "2024-02-29"]
    rest = client.get(
        METRICS,
        headers=headers,
        query_string={"metric_type": "applications", "limit": 2, "cursor": body["next_cursor"]},
    ).get_json()
    assert [m["metric_date"] for m in rest["items"]] == ["2024-01-31"]
    assert rest["next_cursor"] is None
    ranged = client.get(
        METRICS, headers=headers, query_string={"date_from": "2024-03-01", "date_to": "2024-03-31"}
    ).get_json()
    assert {m["metric_type"] for m in ranged["items"]} == {"applications", "interviews"}

    # Someone else sees none of it.
    bob = auth.headers(auth.register("bob"))
    assert client.get(METRICS, headers=bob).get_json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (metric("2024-01-01", "experience_years", 3), "metric_type"),
        (metric("2024-01-01", "Bad Type", 3), "metric_type"),
        (metric("2999-01-01", "applications", 3), "metric_date"),
        (metric("2024-01-01", "applications", 1e12), "metric_value"),
        (metric("2024-01-01", "applications", "many"), "metric_value"),
        (metric("2024-01-01", "applications", 1, details={"x": "y" * 9000}), "details"),
        (metric("2024-01-01", "applications", 1, details=[1]), "details"),
        ({**metric("2024-01-01", "applications", 1), "id": "x"}, "id"),
    ],
)
def test_invalid_metrics(
    client: FlaskClient, auth: AuthActions, body: dict[str, Any], field: str
) -> None:
    headers = auth.headers(auth.register("alice"))
    response = client.post(METRICS, headers=headers, json=body)
    assert response.status_code == 422
    assert [e["field"] for e in problem(response)["errors"]] == [field]


def test_bad_list_queries(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    for url in (METRICS, PROGRESSION):
        for query in (
            {"limit": 0},
            {"limit": 101},
            {"cursor": "###"},
            {"cursor": "WyIyMDI0LTAxLTAxIl0"},  # a valid cursor of the wrong shape
            {"date_from": "2024-02-01", "date_to": "2024-01-01"},
            {"date_from": "yesterday"},
        ):
            response = client.get(url, headers=headers, query_string=query)
            assert response.status_code == 422, (url, query)
    assert (
        client.get(
            TRAJECTORY, headers=headers, query_string={"date_from": "1900-01-01"}
        ).status_code
        == 422
    )
    assert (
        client.get(TRAJECTORY, headers=headers, query_string={"metric_type": "X!"}).status_code
        == 422
    )


def test_skills_progression(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    created = client.post(PROGRESSION, headers=headers, json=assessment("Python", "2023-01-15", 3))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["proficiency_level"] == 3
    client.post(PROGRESSION, headers=headers, json=assessment("python", "2024-01-15", 4, "manager"))
    client.post(PROGRESSION, headers=headers, json=assessment("SQL", "2024-02-01", 2))
    listed = client.get(PROGRESSION, headers=headers, query_string={"skill": "PYTHON"}).get_json()
    assert [(a["assessed_on"], a["assessment_source"]) for a in listed["items"]] == [
        ("2024-01-15", "manager"),
        ("2023-01-15", "self"),
    ]
    for bad in (
        assessment("Python", "2024-01-01", 6),
        assessment("Python", "2024-01-01", 3, "horoscope"),
        assessment("", "2024-01-01", 3),
        assessment("Python", "3024-01-01", 3),
    ):
        assert client.post(PROGRESSION, headers=headers, json=bad).status_code == 422

    target = created.get_json()["id"]
    bob = auth.headers(auth.register("bob"))
    assert client.delete(f"{PROGRESSION}/{target}", headers=bob).status_code == 404
    assert client.delete(f"{PROGRESSION}/{target}", headers=headers).status_code == 204
    assert client.delete(f"{PROGRESSION}/{target}", headers=headers).status_code == 404
    remaining = client.get(PROGRESSION, headers=headers).get_json()["items"]
    assert [a["skill_name"] for a in remaining] == ["SQL", "python"]


def test_compute_career_metrics_job(auth: AuthActions, db: Database) -> None:
    auth.register("alice")
    auth.register("bob")
    overlapping_career(db, "alice")

    computed = compute_career_metrics(db, "alice", date(2024, 6, 1))
    years, details = computed["experience_years"]
    # Hand-computed in tests/analytics/career_data.py: 3,285 days; the naive sum is 9.6.
    assert years == 9.0
    assert details == {"roles": 3, "companies": 3, "current_roles": 0}
    # 2023-06-01..2023-12-31 (213 days) of the year before 2024-06-01.
    assert computed["experience_growth_12m"][0] == 0.6
    assert computed["roles_total"] == (
        3.0,
        {"by_level": {"intermediate": 1, "lead": 1, "senior": 1}},
    )
    assert computed["skills_total"] == (
        4.0,
        {"by_category": {"data": 2, "programming": 1, "soft skills": 1}},
    )

    early = compute_career_metrics(db, "alice", date(2019, 1, 1))
    assert early["experience_years"][0] == 4.0  # 2015-01-01..2019-01-01
    assert early["roles_total"][0] == 2.0
    assert early["skills_total"] == (0.0, {"by_category": {}})  # recorded in 2020

    run = compute_all_career_metrics(db, date(2024, 6, 1))
    assert run.users == 2 and run.rows == 8 and run.failures == {}
    with db.tenant_transaction("alice") as (conn, tables):
        t = tables.career_analytics
        count = conn.execute(sa.select(sa.func.count()).where(t.c.metric_date == date(2024, 6, 1)))
        assert count.scalar_one() == 4  # re-running a day replaces its rows
    with db.tenant_transaction("bob") as (conn, tables):
        t = tables.career_analytics
        values = dict(conn.execute(sa.select(t.c.metric_type, t.c.metric_value)).all())
    assert {k: float(v) for k, v in values.items()} == {
        "experience_years": 0.0,
        "experience_growth_12m": 0.0,
        "roles_total": 0.0,
        "skills_total": 0.0,
    }


def test_compute_endpoint_and_trajectory(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    overlapping_career(db, "alice")
    for day in (date(2019, 1, 1), date(2022, 1, 1)):
        compute_career_metrics(db, "alice", day)
    computed = client.post(f"{METRICS}/compute", headers=headers)
    assert computed.status_code == 200
    today = datetime.now(UTC).date().isoformat()
    assert computed.get_json()["metric_date"] == today
    assert computed.get_json()["metrics"]["experience_years"]["value"] == 9.0
    client.post(PROGRESSION, headers=headers, json=assessment("Python", "2020-01-01", 3))
    client.post(PROGRESSION, headers=headers, json=assessment("Python", "2023-01-01", 5))
    client.post(METRICS, headers=headers, json=metric("2023-05-05", "applications", 4))

    chart = client.get(TRAJECTORY, headers=headers).get_json()
    series = {s["metric_type"]: s["points"] for s in chart["metrics"]}
    # 2022-01-01: 2,342 days + 214 days of Gamma = 7.0 years.
    assert series["experience_years"] == [
        {"date": "2019-01-01", "value": 4.0},
        {"date": "2022-01-01", "value": 7.0},
        {"date": today, "value": 9.0},
    ]
    assert series["applications"] == [{"date": "2023-05-05", "value": 4.0}]
    categories = {s["category"]: s["points"] for s in chart["skills_by_category"]}
    assert categories["data"] == [
        {"date": "2022-01-01", "value": 2.0},  # none yet in 2019: recorded in 2020
        {"date": today, "value": 2.0},
    ]
    assert chart["skills"] == [
        {
            "skill_name": "Python",
            "points": [
                {"date": "2020-01-01", "level": 3, "source": "self"},
                {"date": "2023-01-01", "level": 5, "source": "self"},
            ],
        }
    ]
    assert [(r["company"], r["level_rank"]) for r in chart["roles"]] == [
        ("Acme Corp", 2),
        ("Beta Analytics", 3),
        ("Gamma Health", 4),
    ]
    assert chart["truncated"] is False

    narrow = client.get(
        TRAJECTORY,
        headers=headers,
        query_string={
            "date_from": "2021-07-01",
            "date_to": "2022-12-31",
            "metric_type": ["experience_years", "roles_total"],
        },
    ).get_json()
    assert [s["metric_type"] for s in narrow["metrics"]] == ["experience_years", "roles_total"]
    assert narrow["metrics"][0]["points"] == [{"date": "2022-01-01", "value": 7.0}]
    assert narrow["skills"] == []
    assert [r["company"] for r in narrow["roles"]] == ["Gamma Health"]


def test_metrics_cli(runner: FlaskCliRunner, auth: AuthActions, db: Database) -> None:
    auth.register("alice")
    overlapping_career(db, "alice")
    result = runner.invoke(args=["analytics", "career-metrics", "--date", "2024-06-01"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "date": "2024-06-01",
        "users": 1,
        "rows": 4,
        "failures": {},
    }
    one = runner.invoke(
        args=["analytics", "career-metrics", "--user", "Alice", "--date", "2019-01-01"]
    )
    assert one.exit_code == 0, one.output
    assert runner.invoke(args=["analytics", "career-metrics", "--date", "soon"]).exit_code == 2
    missing = runner.invoke(args=["analytics", "career-metrics", "--user", "nobody_here"])
    assert missing.exit_code != 0
    with db.tenant_transaction("alice") as (conn, tables):
        t = tables.career_analytics
        days = set(conn.execute(sa.select(t.c.metric_date)).scalars())
    assert days == {date(2024, 6, 1), date(2019, 1, 1)}
