"""Report periods: validation, overlaps, warnings, optimistic versioning, paging, isolation."""

from __future__ import annotations

import threading

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import AuthActions
from tests.cpa.factories import API, create_experience, create_report, report_body


def problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def test_create_and_read_a_report(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    created = create_report(
        client,
        headers,
        "2024-01-01",
        "2024-06-30",
        route="PPR",
        hours_worked=912.5,
        leave_days=10,
    )
    assert created["status"] == "draft" and created["version"] == 1
    assert created["framework_version"] == "PER-2021"
    assert created["period_months"] == 6.0 and created["hours_worked"] == 912.5
    got = client.get(f"{API}/reports/{created['id']}", headers=headers).get_json()
    assert got["route"] == "PPR" and got["experience_count"] == 0 and got["warnings"] == []


def test_period_validation(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    backwards = client.post(
        f"{API}/reports", headers=headers, json=report_body("2024-06-30", "2024-01-01")
    )
    assert backwards.status_code == 422
    assert problem(backwards)["errors"] == [
        {"field": "period_end", "message": "must be after period_start"}
    ]
    same_day = client.post(
        f"{API}/reports", headers=headers, json=report_body("2024-01-01", "2024-01-01")
    )
    assert same_day.status_code == 422
    bad = client.post(
        f"{API}/reports",
        headers=headers,
        json=report_body("2024-01-01", "2024-06-30", route="XYZ", hours_worked=-1, leave_days=-2),
    )
    assert {e["field"] for e in problem(bad)["errors"]} == {"route", "hours_worked", "leave_days"}
    unknown = client.post(
        f"{API}/reports",
        headers=headers,
        json=report_body("2024-01-01", "2024-06-30", framework_version="CPP-1999"),
    )
    assert unknown.status_code == 422
    assert problem(unknown)["errors"][0]["field"] == "framework_version"
    nul = client.post(
        f"{API}/reports",
        headers=headers,
        json=report_body("2024-01-01", "2024-06-30", employer_name="Acme\x00Corp"),
    )
    assert nul.status_code == 422


def test_overlapping_periods_are_refused_with_the_clashing_report(
    client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("rita"))
    first = create_report(client, headers, "2024-01-01", "2024-06-30")
    for start, end in (("2024-06-30", "2024-12-31"), ("2023-07-01", "2024-01-01")):
        clash = client.post(f"{API}/reports", headers=headers, json=report_body(start, end))
        assert clash.status_code == 409
        body = problem(clash)
        assert body["type"].endswith("cpa-period-overlap")
        assert body["conflicting_report_id"] == first["id"]
        assert "2024-01-01 to 2024-06-30" in body["detail"]
    # The day after is fine, for either route (combined routes still may not overlap).
    create_report(client, headers, "2024-07-01", "2024-12-31", route="PPR")
    # Moving a period onto another is refused too.
    second = client.get(f"{API}/reports", headers=headers).get_json()["items"][1]
    moved = client.patch(
        f"{API}/reports/{second['id']}",
        headers=headers,
        json={"version": second["version"], "period_start": "2024-06-01"},
    )
    assert moved.status_code == 409
    # Another user's periods do not clash with mine.
    other = auth.headers(auth.register("otto"))
    create_report(client, other, "2024-01-01", "2024-06-30")


def test_length_and_gap_warnings_do_not_block(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    short = create_report(client, headers, "2024-01-01", "2024-03-31")
    assert [w["code"] for w in short["warnings"]] == ["period_length"]
    later = create_report(client, headers, "2024-06-01", "2025-07-31")
    codes = sorted(w["code"] for w in later["warnings"])
    assert codes == ["period_gap", "period_length"]
    gap = next(w for w in later["warnings"] if w["code"] == "period_gap")
    assert gap["on"] == "2024-04-01" and "61 days" in gap["message"]


def test_optimistic_versioning(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    first = client.patch(
        f"{API}/reports/{report['id']}",
        headers=headers,
        json={"version": 1, "position_title": "Senior accountant"},
    )
    assert first.status_code == 200 and first.get_json()["version"] == 2
    stale = client.patch(
        f"{API}/reports/{report['id']}",
        headers=headers,
        json={"version": 1, "employer_name": "Someone else's idea"},
    )
    assert stale.status_code == 409
    body = problem(stale)
    assert body["type"].endswith("cpa-stale-version") and body["current_version"] == 2
    kept = client.get(f"{API}/reports/{report['id']}", headers=headers).get_json()
    assert kept["employer_name"] == "Example Manufacturing Ltd."
    assert kept["position_title"] == "Senior accountant"
    # A change inside the report (an experience) moves its version too.
    create_experience(client, headers, report["id"], "FR1", "2024-02-01")
    again = client.patch(
        f"{API}/reports/{report['id']}", headers=headers, json={"version": 2, "leave_days": 3}
    )
    assert again.status_code == 409
    missing = client.patch(f"{API}/reports/{report['id']}", headers=headers, json={})
    assert missing.status_code == 422
    removed = client.patch(
        f"{API}/reports/{report['id']}", headers=headers, json={"version": 3, "route": None}
    )
    assert removed.status_code == 422


def test_period_cannot_shrink_past_its_experiences(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    create_experience(client, headers, report["id"], "FR1", "2024-05-01")
    shrink = client.patch(
        f"{API}/reports/{report['id']}",
        headers=headers,
        json={"version": 2, "period_end": "2024-04-30"},
    )
    assert shrink.status_code == 422
    assert "outside" in problem(shrink)["errors"][0]["message"]


def test_delete_needs_a_fresh_version_and_a_draft(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    assert client.delete(f"{API}/reports/{report['id']}", headers=headers).status_code == 422
    stale = client.delete(f"{API}/reports/{report['id']}?version=7", headers=headers)
    assert stale.status_code == 409
    gone = client.delete(f"{API}/reports/{report['id']}?version=1", headers=headers)
    assert gone.status_code == 204
    assert client.get(f"{API}/reports/{report['id']}", headers=headers).status_code == 404
    # Its period is free again.
    create_report(client, headers, "2024-01-01", "2024-06-30")


def test_list_is_paginated_in_period_order(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    starts = ["2022-01-01", "2021-01-01", "2023-01-01", "2020-01-01", "2024-01-01"]
    for start in starts:
        create_report(client, headers, start, start[:4] + "-06-30")
    seen: list[str] = []
    cursor = None
    while True:
        url = f"{API}/reports?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).get_json()
        assert len(page["items"]) <= 2
        seen += [r["period_start"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(starts)
    assert client.get(f"{API}/reports?limit=101", headers=headers).status_code == 422
    assert client.get(f"{API}/reports?cursor=bogus!", headers=headers).status_code == 422


def test_another_users_report_is_not_found(client: FlaskClient, auth: AuthActions) -> None:
    owner = auth.headers(auth.register("rita"))
    report = create_report(client, owner, "2024-01-01", "2024-06-30")
    intruder = auth.headers(auth.register("ivan"))
    assert client.get(f"{API}/reports/{report['id']}", headers=intruder).status_code == 404
    patched = client.patch(
        f"{API}/reports/{report['id']}", headers=intruder, json={"version": 1, "leave_days": 1}
    )
    assert patched.status_code == 404
    assert client.get(f"{API}/reports", headers=intruder).get_json()["items"] == []
    assert client.get(f"{API}/reports/{report['id']}", headers=owner).status_code == 200


def test_two_overlapping_periods_at_once_cannot_both_be_saved(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("rita"))
    barrier = threading.Barrier(2)
    results: list[int] = []

    def create(start: str, end: str) -> None:
        with app.test_client() as own:
            barrier.wait()
            response = own.post(f"{API}/reports", headers=headers, json=report_body(start, end))
            results.append(response.status_code)

    threads = [
        threading.Thread(target=create, args=("2024-01-01", "2024-06-30")),
        threading.Thread(target=create, args=("2024-03-01", "2024-09-30")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [201, 409]
    assert len(client.get(f"{API}/reports", headers=headers).get_json()["items"]) == 1
