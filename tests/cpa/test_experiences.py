"""Experiences: encryption at rest, the character limit, versions, restore, review, milestones."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.cpa import experiences
from tests.conftest import AuthActions
from tests.cpa.factories import (
    ACTIONS,
    API,
    CHALLENGE,
    create_experience,
    create_report,
    experience_body,
)


def problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def setup_report(client: FlaskClient, auth: AuthActions, name: str = "erin") -> tuple[dict, dict]:  # type: ignore[type-arg]
    headers = auth.headers(auth.register(name))
    return headers, create_report(client, headers, "2024-01-01", "2024-06-30")


def test_narratives_are_encrypted_and_counted(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers, report = setup_report(client, auth)
    created = create_experience(
        client,
        headers,
        report["id"],
        "fr2",  # codes are case-insensitive on input
        "2024-02-01",
        experience_end_date="2024-03-15",
        challenge="Line one\r\nline two",
    )
    assert created["sub_competency_code"] == "FR2"
    assert created["sub_competency_name"] == "Accounting policies and transactions"
    assert created["duration_days"] == 44
    assert created["challenge"] == "Line one\nline two"
    counts = created["counts"]
    assert counts["parts"]["challenge"] == len("Line one\nline two")  # CR LF counts once
    assert counts["parts"]["actions"] == len(ACTIONS)
    assert counts["total"] == sum(counts["parts"].values()) == created["character_count"]
    assert counts["limit"] == 5000 and counts["over_limit"] is False
    assert created["word_count"] > 20
    with db.transaction() as conn:
        raw = conn.execute(
            sa.select(experiences.c.challenge, experiences.c.actions).where(
                experiences.c.id == created["id"]
            )
        ).one()
    assert raw.challenge.startswith("pf2.") and "Line one" not in raw.challenge
    assert raw.actions.startswith("pf2.") and "IFRS" not in raw.actions
    got = client.get(f"{API}/experiences/{created['id']}", headers=headers).get_json()
    assert got["actions"] == ACTIONS and got["current_version_id"] == created["id"]


def test_over_the_limit_is_a_clear_422(client: FlaskClient, auth: AuthActions) -> None:
    headers, report = setup_report(client, auth)
    long = client.post(
        f"{API}/reports/{report['id']}/experiences",
        headers=headers,
        json=experience_body("FR1", "2024-02-01", challenge="x" * 3000, actions="y" * 1900),
    )
    assert long.status_code == 422
    body = problem(long)
    assert body["type"].endswith("cpa-response-too-long")
    assert "the limit is 5,000" in body["detail"] and "challenge 3,000" in body["detail"]
    assert body["counts"]["total"] > 5000 and body["counts"]["over_limit"] is True
    at_limit = 5000 - len(ACTIONS) - 2
    fits = client.post(
        f"{API}/reports/{report['id']}/experiences",
        headers=headers,
        json=experience_body(
            "FR1", "2024-02-01", challenge="x" * at_limit, results="r", lessons_learned="l"
        ),
    )
    assert fits.status_code == 201, fits.get_json()
    assert fits.get_json()["counts"]["remaining"] == 0


def test_the_limit_is_configurable(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    headers, report = setup_report(client, auth)
    app.config["CPA_RESPONSE_CHAR_LIMIT"] = 200
    refused = client.post(
        f"{API}/reports/{report['id']}/experiences",
        headers=headers,
        json=experience_body("FR1", "2024-02-01"),
    )
    assert refused.status_code == 422
    assert "the limit is 200" in problem(refused)["detail"]
    app.config["CPA_RESPONSE_CHAR_LIMIT"] = 6000
    accepted = create_experience(
        client, headers, report["id"], "FR1", "2024-02-01", challenge="c" * 5500
    )
    assert accepted["counts"]["limit"] == 6000


def test_field_rules(client: FlaskClient, auth: AuthActions) -> None:
    headers, report = setup_report(client, auth)
    url = f"{API}/reports/{report['id']}/experiences"
    outside = client.post(
        url,
        headers=headers,
        json=experience_body("FR1", "2023-12-01", experience_end_date="2024-07-02"),
    )
    assert outside.status_code == 422
    assert {e["field"] for e in problem(outside)["errors"]} == {
        "experience_start_date",
        "experience_end_date",
    }
    unknown = client.post(url, headers=headers, json=experience_body("FR9", "2024-02-01"))
    assert unknown.status_code == 422
    assert "FR9 is not a competency" in problem(unknown)["errors"][0]["message"]
    level = client.post(
        url, headers=headers, json=experience_body("FR1", "2024-02-01", proficiency_level=3)
    )
    assert level.status_code == 422
    backwards = client.post(
        url,
        headers=headers,
        json=experience_body("FR1", "2024-03-01", experience_end_date="2024-02-01"),
    )
    assert backwards.status_code == 422
    extra = client.post(
        url, headers=headers, json={**experience_body("FR1", "2024-02-01"), "approved_level": 2}
    )
    assert extra.status_code == 422  # the reviewer's level is not the candidate's to set
    enabling = create_experience(client, headers, report["id"], "EN3", "2024-02-01")
    assert enabling["sub_competency_name"] == "Communicating"


def test_every_edit_is_a_new_version_and_old_ones_restore(
    client: FlaskClient, auth: AuthActions
) -> None:
    headers, report = setup_report(client, auth)
    v1 = create_experience(client, headers, report["id"], "MA2", "2024-02-01")
    v2 = client.patch(
        f"{API}/experiences/{v1['id']}",
        headers=headers,
        json={"version_number": 1, "challenge": "A rewritten challenge.", "proficiency_level": 2},
    ).get_json()
    assert v2["version_number"] == 2 and v2["id"] != v1["id"]
    assert v2["actions"] == ACTIONS  # untouched parts carry over
    old = client.get(f"{API}/experiences/{v1['id']}", headers=headers).get_json()
    assert old["is_current_version"] is False and old["challenge"] == CHALLENGE
    assert old["current_version_id"] == v2["id"]

    # A second editor still holding version 1 is refused, with where to look.
    stale = client.patch(
        f"{API}/experiences/{v1['id']}",
        headers=headers,
        json={"version_number": 1, "challenge": "Lost update"},
    )
    assert stale.status_code == 409
    body = problem(stale)
    assert body["type"].endswith("cpa-stale-version")
    assert body["current_version_id"] == v2["id"] and body["current_version_number"] == 2
    wrong_number = client.patch(
        f"{API}/experiences/{v2['id']}",
        headers=headers,
        json={"version_number": 1, "challenge": "Lost update"},
    )
    assert wrong_number.status_code == 409

    restored = client.post(
        f"{API}/experiences/{v1['id']}/restore", headers=headers, json={"version_number": 2}
    )
    assert restored.status_code == 201, restored.get_json()
    v3 = restored.get_json()
    assert v3["version_number"] == 3 and v3["previous_version_id"] == v2["id"]
    assert v3["challenge"] == CHALLENGE and v3["proficiency_level"] == 1
    stale_restore = client.post(
        f"{API}/experiences/{v1['id']}/restore", headers=headers, json={"version_number": 2}
    )
    assert stale_restore.status_code == 409
    current = client.post(
        f"{API}/experiences/{v3['id']}/restore", headers=headers, json={"version_number": 3}
    )
    assert current.status_code == 409

    versions = client.get(f"{API}/experiences/{v1['id']}/versions?limit=2", headers=headers)
    page = versions.get_json()
    assert [v["version_number"] for v in page["items"]] == [3, 2]
    rest = client.get(
        f"{API}/experiences/{v1['id']}/versions?cursor={page['next_cursor']}", headers=headers
    ).get_json()
    assert [v["version_number"] for v in rest["items"]] == [1] and rest["next_cursor"] is None
    listed = client.get(f"{API}/reports/{report['id']}/experiences", headers=headers).get_json()
    assert [e["id"] for e in listed["items"]] == [v3["id"]]


def test_delete_removes_the_experience(client: FlaskClient, auth: AuthActions) -> None:
    headers, report = setup_report(client, auth)
    v1 = create_experience(client, headers, report["id"], "SG1", "2024-02-01")
    assert client.delete(f"{API}/experiences/{v1['id']}", headers=headers).status_code == 422
    stale = client.delete(f"{API}/experiences/{v1['id']}?version_number=2", headers=headers)
    assert stale.status_code == 409
    gone = client.delete(f"{API}/experiences/{v1['id']}?version_number=1", headers=headers)
    assert gone.status_code == 204
    assert client.get(f"{API}/experiences/{v1['id']}", headers=headers).status_code == 404
    listed = client.get(f"{API}/reports/{report['id']}/experiences", headers=headers).get_json()
    assert listed["items"] == []


def test_review_levels_stay_apart_and_milestones_record_firsts(
    client: FlaskClient, auth: AuthActions
) -> None:
    headers, report = setup_report(client, auth)
    exp = create_experience(client, headers, report["id"], "FR4", "2024-02-01")
    early = client.post(
        f"{API}/experiences/{exp['id']}/review",
        headers=headers,
        json={"approval_status": "approved", "approved_level": 1},
    )
    assert early.status_code == 409  # not submitted yet
    raised = client.patch(
        f"{API}/experiences/{exp['id']}",
        headers=headers,
        json={"version_number": 1, "proficiency_level": 2},
    ).get_json()
    version = client.get(f"{API}/reports/{report['id']}", headers=headers).get_json()["version"]
    final = client.post(
        f"{API}/reports/{report['id']}/submissions",
        headers=headers,
        json={"submission_type": "final", "version": version},
    )
    assert final.status_code == 201
    missing_level = client.post(
        f"{API}/experiences/{raised['id']}/review",
        headers=headers,
        json={"approval_status": "approved"},
    )
    assert missing_level.status_code == 422
    reviewed = client.post(
        f"{API}/experiences/{raised['id']}/review",
        headers=headers,
        json={"approval_status": "approved", "approved_level": 1},
    )
    assert reviewed.status_code == 200, reviewed.get_json()
    assert reviewed.get_json()["approved_level"] == 1
    assert reviewed.get_json()["proficiency_level"] == 2
    status = client.get(f"{API}/reports/{report['id']}", headers=headers).get_json()["status"]
    assert status == "reviewed"

    progress = client.get(f"{API}/progress?as_of=2024-07-01", headers=headers).get_json()
    assert progress["technical"]["self"]["levels"] == {"FR4": 2}
    assert progress["technical"]["reviewer"]["levels"] == {"FR4": 1}

    milestones = client.get(f"{API}/milestones", headers=headers).get_json()["items"]
    mine = [(m["source"], m["previous_level"], m["achieved_level"]) for m in milestones]
    assert sorted(mine, key=str) == sorted(
        [("self", None, 1), ("self", 1, 2), ("reviewer", None, 1)], key=str
    )
    assert all(m["achieved_on"] == "2024-02-01" for m in milestones)
    # Each milestone names the experience version that showed the level.
    by_key = {(m["source"], m["achieved_level"]): m for m in milestones}
    assert by_key[("self", 1)]["key_experiences"] == [exp["id"]]
    assert by_key[("self", 2)]["key_experiences"] == [raised["id"]]
    assert by_key[("reviewer", 1)]["key_experiences"] == [raised["id"]]
    assert all(m["hours_accumulated"] == 0 for m in milestones)
    reviewer_only = client.get(f"{API}/milestones?source=reviewer", headers=headers).get_json()
    assert [m["source"] for m in reviewer_only["items"]] == ["reviewer"]


def test_two_editors_at_once_cannot_both_win(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    headers, report = setup_report(client, auth)
    v1 = create_experience(client, headers, report["id"], "MA4", "2024-02-01")
    barrier = threading.Barrier(2)
    results: list[int] = []

    def edit(text: str) -> None:
        with app.test_client() as own:
            barrier.wait()
            response = own.patch(
                f"{API}/experiences/{v1['id']}",
                headers=headers,
                json={"version_number": 1, "results": text},
            )
            results.append(response.status_code)

    threads = [threading.Thread(target=edit, args=(f"Editor {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [200, 409]
    versions = client.get(f"{API}/experiences/{v1['id']}/versions", headers=headers).get_json()
    assert [v["version_number"] for v in versions["items"]] == [2, 1]
