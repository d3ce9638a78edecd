"""Building CPA resources through the HTTP API, for the CPA tests and the route matrix."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

API = "/api/v1/cpa"

CHALLENGE = "The client’s revenue contracts had variable consideration — a first for me."
ACTIONS = "I read IFRS 15, built a schedule of 40 contracts and proposed journal entries."
RESULTS = "The manager accepted my entries; revenue moved by $120k between quarters."
LESSONS = "I learned to document judgments early, and to ask for contracts sooner."


def report_body(start: str, end: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "route": "EVR",
        "employer_name": "Example Manufacturing Ltd.",
        "position_title": "Staff accountant",
        "period_start": start,
        "period_end": end,
    }
    body.update(overrides)
    return body


def experience_body(code: str, start: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "sub_competency_code": code,
        "experience_title": f"Work on {code}",
        "experience_start_date": start,
        "proficiency_level": 1,
        "challenge": CHALLENGE,
        "actions": ACTIONS,
        "results": RESULTS,
        "lessons_learned": LESSONS,
    }
    body.update(overrides)
    return body


def create_report(
    client: FlaskClient, headers: dict[str, str], start: str, end: str, **overrides: Any
) -> dict[str, Any]:
    response = client.post(
        f"{API}/reports", headers=headers, json=report_body(start, end, **overrides)
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def create_experience(
    client: FlaskClient,
    headers: dict[str, str],
    report_id: str,
    code: str,
    start: str,
    **overrides: Any,
) -> dict[str, Any]:
    response = client.post(
        f"{API}/reports/{report_id}/experiences",
        headers=headers,
        json=experience_body(code, start, **overrides),
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


# -- the route matrix's factories: another user's resources, each in its own period --------
# The route matrix makes one of each kind per user, the fuzz run (tests/api/test_fuzz.py)
# two: a period already taken moves a year on (report periods may not overlap; the
# factories' own periods are the first halves of odd years).


def _report_from(client: FlaskClient, headers: dict[str, str], year: int) -> tuple[str, int]:
    """A new report of January to June of ``year`` or, taken, of a later free year; its id
    and the year."""
    for later in range(year, year + 10):
        response = client.post(
            f"{API}/reports", headers=headers, json=report_body(f"{later}-01-01", f"{later}-06-30")
        )
        if response.status_code != 409:
            assert response.status_code == 201, response.get_json()
            return str(response.get_json()["id"]), later
    raise AssertionError(f"no free report period from {year}")


def foreign_report(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    return _report_from(client, headers, 2001)[0]


def foreign_experience(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    report_id, year = _report_from(client, headers, 2003)
    return str(create_experience(client, headers, report_id, "FR1", f"{year}-02-01")["id"])


def foreign_activity(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    report_id, year = _report_from(client, headers, 2005)
    experience = create_experience(client, headers, report_id, "FR2", f"{year}-02-01")
    response = client.post(
        f"{API}/experiences/{experience['id']}/activities",
        headers=headers,
        json={"activity_type": "analysis"},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def foreign_time_entry(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    report_id, year = _report_from(client, headers, 2007)
    experience = create_experience(client, headers, report_id, "MA1", f"{year}-02-01")
    response = client.post(
        f"{API}/experiences/{experience['id']}/time-entries",
        headers=headers,
        json={"entry_date": f"{year}-02-02", "hours": 3},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def foreign_submission(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    report_id, year = _report_from(client, headers, 2009)
    create_experience(client, headers, report_id, "TX1", f"{year}-02-01")
    version = client.get(f"{API}/reports/{report_id}", headers=headers).get_json()["version"]
    response = client.post(
        f"{API}/reports/{report_id}/submissions",
        headers=headers,
        json={"submission_type": "draft", "version": version},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def foreign_draft(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    response = client.post(
        f"{API}/drafts",
        headers=headers,
        json={"sub_competency_code": "SG1", "proficiency_level": 1, "challenge": "x"},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _share(client: FlaskClient, headers: dict[str, str], report_id: str | None, **kw: Any) -> dict:  # type: ignore[type-arg]
    from datetime import UTC, datetime, timedelta

    body = {
        "report_id": report_id,
        "role": "mentor",
        "scope": "comment",
        "grantee_kind": "link",
        "email": "mentor@example.com",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        **kw,
    }
    response = client.post(f"{API}/shares", headers=headers, json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def foreign_share(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    report_id, _ = _report_from(client, headers, 2011)
    return str(_share(client, headers, report_id)["id"])


def foreign_comment(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    report_id, year = _report_from(client, headers, 2013)
    experience = create_experience(client, headers, report_id, "FR3", f"{year}-02-01")
    response = client.post(
        f"{API}/experiences/{experience['id']}/comments", headers=headers, json={"body": "x"}
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def foreign_meeting(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    """A meeting on the other user's record, written through a mentor link share."""
    token = _share(client, headers, None)["link_token"]
    response = client.post(
        f"{API}/links/{token}/meetings",
        json={"meeting_date": "2015-01-01", "topics": "Plan"},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])
