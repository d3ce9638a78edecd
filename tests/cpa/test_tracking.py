"""Activities (breakdown) and daily time entries: rules, totals, and following new versions."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import AuthActions
from tests.cpa.factories import API, create_experience, create_report


def problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def test_activities(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("tara"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    exp = create_experience(client, headers, report["id"], "AA1", "2024-02-01")
    url = f"{API}/experiences/{exp['id']}/activities"
    first = client.post(
        url,
        headers=headers,
        json={
            "activity_type": "control testing",
            "activity_description": "Tested 25 purchase approvals.",
            "start_date": "2024-02-01",
            "end_date": "2024-02-20",
            "hours_spent": 18.5,
            "competencies_demonstrated": ["aa1", "EN2"],
            "deliverables": ["Test workpaper", "Deficiency memo"],
            "business_impact": "Two approval gaps closed before year end.",
        },
    )
    assert first.status_code == 201, first.get_json()
    activity = first.get_json()
    assert activity["business_impact"] == "Two approval gaps closed before year end."
    assert activity["competencies_demonstrated"] == ["AA1", "EN2"]
    assert activity["hours_spent"] == 18.5 and activity["sort_order"] == 0
    second = client.post(url, headers=headers, json={"activity_type": "walkthrough"})
    assert second.get_json()["sort_order"] == 1

    bad = client.post(
        url,
        headers=headers,
        json={
            "activity_type": "x",
            "start_date": "2024-08-01",
            "competencies_demonstrated": ["ZZ9"],
        },
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in problem(bad)["errors"]}
    assert fields == {"start_date", "competencies_demonstrated.0"}

    changed = client.patch(
        f"{API}/activities/{activity['id']}", headers=headers, json={"hours_spent": 20}
    )
    assert changed.status_code == 200 and changed.get_json()["hours_spent"] == 20.0
    assert changed.get_json()["business_impact"] == "Two approval gaps closed before year end."
    impact = client.patch(
        f"{API}/activities/{activity['id']}", headers=headers, json={"business_impact": None}
    )
    assert impact.status_code == 200 and impact.get_json()["business_impact"] is None
    backwards = client.patch(
        f"{API}/activities/{activity['id']}", headers=headers, json={"end_date": "2024-01-15"}
    )
    assert backwards.status_code == 422

    # A new text version keeps the experience's activities.
    v2 = client.patch(
        f"{API}/experiences/{exp['id']}",
        headers=headers,
        json={"version_number": 1, "results": "Two deficiencies reported."},
    ).get_json()
    listed = client.get(f"{API}/experiences/{v2['id']}/activities", headers=headers).get_json()
    assert [a["activity_type"] for a in listed["items"]] == ["control testing", "walkthrough"]
    assert all(a["experience_id"] == v2["id"] for a in listed["items"])
    via_old = client.get(f"{API}/experiences/{exp['id']}/activities?limit=1", headers=headers)
    assert len(via_old.get_json()["items"]) == 1 and via_old.get_json()["next_cursor"]

    assert client.delete(f"{API}/activities/{activity['id']}", headers=headers).status_code == 204
    assert client.delete(f"{API}/activities/{activity['id']}", headers=headers).status_code == 404


def test_time_entries(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("tara"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    first = create_experience(
        client, headers, report["id"], "TX2", "2024-02-01", experience_end_date="2024-03-31"
    )
    second = create_experience(client, headers, report["id"], "TX1", "2024-02-01")
    url = f"{API}/experiences/{first['id']}/time-entries"

    made = client.post(
        url, headers=headers, json={"entry_date": "2024-02-05", "hours": 7.5, "description": "T2"}
    )
    assert made.status_code == 201, made.get_json()
    entry = made.get_json()
    assert entry["hours"] == 7.5 and entry["activity_category"] == "direct_work"
    assert entry["is_billable"] is True and entry["is_cpa_eligible"] is True
    assert entry["totals"] == {
        "hours": 7.5,
        "entries": 1,
        "by_category": {"direct_work": 7.5},
        "billable_hours": 7.5,
        "cpa_eligible_hours": 7.5,
    }

    duplicate = client.post(url, headers=headers, json={"entry_date": "2024-02-05", "hours": 1})
    assert duplicate.status_code == 409
    assert problem(duplicate)["existing_entry_id"] == entry["id"]
    for hours in (0, -1, 24.5, 25):
        wrong = client.post(url, headers=headers, json={"entry_date": "2024-02-06", "hours": hours})
        assert wrong.status_code == 422, hours
    outside = client.post(url, headers=headers, json={"entry_date": "2024-04-01", "hours": 1})
    assert outside.status_code == 422
    assert "2024-02-01 to 2024-03-31" in problem(outside)["errors"][0]["message"]
    category = client.post(
        url,
        headers=headers,
        json={"entry_date": "2024-02-06", "hours": 1, "activity_category": "gaming"},
    )
    assert category.status_code == 422

    # 24 hours a day across all my experiences, not per experience.
    too_many = client.post(
        f"{API}/experiences/{second['id']}/time-entries",
        headers=headers,
        json={"entry_date": "2024-02-05", "hours": 17},
    )
    assert too_many.status_code == 422
    assert "7.5 hours" in problem(too_many)["errors"][0]["message"]
    full_day = client.post(
        f"{API}/experiences/{second['id']}/time-entries",
        headers=headers,
        json={"entry_date": "2024-02-05", "hours": 16.5, "activity_category": "research"},
    )
    assert full_day.status_code == 201

    client.post(
        url,
        headers=headers,
        json={"entry_date": "2024-02-07", "hours": 2, "activity_category": "training"},
    )
    listed = client.get(url, headers=headers).get_json()
    assert [e["entry_date"] for e in listed["items"]] == ["2024-02-05", "2024-02-07"]
    assert listed["totals"]["hours"] == 9.5
    assert listed["totals"]["by_category"] == {"direct_work": 7.5, "training": 2.0}

    more = client.patch(f"{API}/time-entries/{entry['id']}", headers=headers, json={"hours": 8})
    assert more.status_code == 422  # 16.5 + 8 > 24 on that day
    less = client.patch(f"{API}/time-entries/{entry['id']}", headers=headers, json={"hours": 6})
    assert less.status_code == 200 and less.get_json()["totals"]["hours"] == 8.0
    assert client.delete(f"{API}/time-entries/{entry['id']}", headers=headers).status_code == 204
    remaining = client.get(url, headers=headers).get_json()
    assert remaining["totals"] == {
        "hours": 2.0,
        "entries": 1,
        "by_category": {"training": 2.0},
        "billable_hours": 2.0,
        "cpa_eligible_hours": 2.0,
    }


def test_billable_and_cpa_eligible_hours_are_totalled_apart(
    client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("billie"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    experience = create_experience(client, headers, report["id"], "FR1", "2024-02-01")
    url = f"{API}/experiences/{experience['id']}/time-entries"
    internal = client.post(
        url,
        headers=headers,
        json={"entry_date": "2024-02-05", "hours": 3, "is_billable": False},
    )
    assert internal.status_code == 201, internal.get_json()
    assert internal.get_json()["is_billable"] is False
    admin_work = client.post(
        url,
        headers=headers,
        json={"entry_date": "2024-02-06", "hours": 2, "is_cpa_eligible": False},
    )
    totals = admin_work.get_json()["totals"]
    assert (totals["hours"], totals["billable_hours"], totals["cpa_eligible_hours"]) == (5, 2, 3)
    entry_id = admin_work.get_json()["id"]
    changed = client.patch(
        f"{API}/time-entries/{entry_id}", headers=headers, json={"is_cpa_eligible": True}
    )
    assert changed.status_code == 200
    assert changed.get_json()["totals"]["cpa_eligible_hours"] == 5
    cleared = client.patch(
        f"{API}/time-entries/{entry_id}", headers=headers, json={"is_billable": None}
    )
    assert cleared.status_code == 422


def test_someone_elses_activity_and_time_are_not_found(
    client: FlaskClient, auth: AuthActions
) -> None:
    owner = auth.headers(auth.register("tara"))
    report = create_report(client, owner, "2024-01-01", "2024-06-30")
    exp = create_experience(client, owner, report["id"], "FN2", "2024-02-01")
    intruder = auth.headers(auth.register("ivan"))
    posted = client.post(
        f"{API}/experiences/{exp['id']}/time-entries",
        headers=intruder,
        json={"entry_date": "2024-02-05", "hours": 1},
    )
    assert posted.status_code == 404
    assert (
        client.get(f"{API}/experiences/{exp['id']}/activities", headers=intruder).status_code == 404
    )
