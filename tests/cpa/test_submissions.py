"""Submissions: freezing rules, statuses and history, drafts vs finals, export failures."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.cpa import submissions
from tests.conftest import AuthActions
from tests.cpa.factories import API, create_experience, create_report


def problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def version_of(client: FlaskClient, headers: dict[str, str], report_id: str) -> int:
    return int(client.get(f"{API}/reports/{report_id}", headers=headers).get_json()["version"])


def submit(client: FlaskClient, headers: dict[str, str], report_id: str, kind: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"{API}/reports/{report_id}/submissions",
        headers=headers,
        json={"submission_type": kind, "version": version_of(client, headers, report_id)},
    )


def test_submission_rules(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("sam"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    empty = submit(client, headers, report["id"], "final")
    assert empty.status_code == 422
    assert "at least one experience" in problem(empty)["errors"][0]["message"]

    create_experience(client, headers, report["id"], "FR1", "2024-02-01")
    stale = client.post(
        f"{API}/reports/{report['id']}/submissions",
        headers=headers,
        json={"submission_type": "final", "version": 1},
    )
    assert stale.status_code == 409 and problem(stale)["type"].endswith("cpa-stale-version")
    early_revision = submit(client, headers, report["id"], "revision")
    assert early_revision.status_code == 409

    app.config["CPA_RESPONSE_CHAR_LIMIT"] = 100  # lowered after the text was written
    over = submit(client, headers, report["id"], "final")
    assert over.status_code == 422 and problem(over)["type"].endswith("cpa-response-too-long")
    app.config["CPA_RESPONSE_CHAR_LIMIT"] = 5000

    # A draft snapshot leaves the report editable and can be deleted.
    snapshot = submit(client, headers, report["id"], "draft")
    assert snapshot.status_code == 201
    draft = snapshot.get_json()
    assert draft["is_final"] is False and draft["submitted_at"] is None
    assert client.get(f"{API}/reports/{report['id']}", headers=headers).get_json()["status"] == (
        "draft"
    )
    no_review = client.post(
        f"{API}/submissions/{draft['id']}/status", headers=headers, json={"status": "accepted"}
    )
    assert no_review.status_code == 409
    assert client.delete(f"{API}/submissions/{draft['id']}", headers=headers).status_code == 204

    final = submit(client, headers, report["id"], "final").get_json()
    assert final["report_version"] >= 1 and final["submitted_at"]
    again = submit(client, headers, report["id"], "final")
    assert again.status_code == 409 and problem(again)["type"].endswith("cpa-invalid-transition")
    assert (
        client.delete(f"{API}/reports/{report['id']}?version=99", headers=headers).status_code
        == 409
    )

    # needs_changes -> the report may be edited again and resubmitted as a revision.
    changes = client.post(
        f"{API}/submissions/{final['id']}/status",
        headers=headers,
        json={"status": "needs_changes", "notes": "Be more specific about your role."},
    )
    assert changes.get_json()["report_status"] == "revision_requested"
    exp_id = client.get(f"{API}/reports/{report['id']}/experiences", headers=headers).get_json()[
        "items"
    ][0]["id"]
    edited = client.patch(
        f"{API}/experiences/{exp_id}",
        headers=headers,
        json={"version_number": 1, "actions": "I alone prepared the schedule."},
    )
    assert edited.status_code == 200
    revision = submit(client, headers, report["id"], "revision")
    assert revision.status_code == 201
    revision_body = revision.get_json()
    assert revision_body["checksum_sha256"] != final["checksum_sha256"]
    superseded = client.post(
        f"{API}/submissions/{final['id']}/status", headers=headers, json={"status": "accepted"}
    )
    assert superseded.status_code == 409

    withdrawn = client.post(
        f"{API}/submissions/{revision_body['id']}/status",
        headers=headers,
        json={"status": "withdrawn"},
    )
    assert withdrawn.get_json()["report_status"] == "revision_requested"
    history = client.get(f"{API}/submissions/{final['id']}/history", headers=headers).get_json()
    assert [(h["action"], h["previous_status"], h["new_status"]) for h in history["items"]] == [
        ("submitted", None, "pending"),
        ("reviewed", "pending", "needs_changes"),
    ]
    assert history["items"][1]["notes"] == "Be more specific about your role."
    listed = client.get(f"{API}/reports/{report['id']}/submissions", headers=headers).get_json()
    assert [s["submission_type"] for s in listed["items"]] == ["final", "revision"]
    bad_format = client.get(f"{API}/submissions/{final['id']}/export?format=xls", headers=headers)
    assert bad_format.status_code == 422


def test_a_tampered_payload_is_not_exported(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("sam"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    create_experience(client, headers, report["id"], "FR1", "2024-02-01")
    final = submit(client, headers, report["id"], "final").get_json()
    got = client.get(f"{API}/submissions/{final['id']}", headers=headers).get_json()
    assert got["totals"]["experiences"] == 1 and got["experiences"][0]["sub_competency_code"] == (
        "FR1"
    )
    with db.transaction() as conn:
        stored = conn.execute(
            sa.select(submissions.c.payload).where(submissions.c.id == final["id"])
        ).scalar_one()
        stored = json.loads(json.dumps(stored))
        stored["report"]["employer_name"] = "Somewhere Else Inc."
        conn.execute(
            submissions.update().where(submissions.c.id == final["id"]).values(payload=stored)
        )
    response = client.get(f"{API}/submissions/{final['id']}/export", headers=headers)
    assert response.status_code == 500
    assert problem(response)["type"].endswith("cpa-submission-integrity")


def test_the_bodys_reference_and_confirmation_are_recorded(
    client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("refs"))
    report = create_report(
        client, headers, "2024-01-01", "2024-06-30", submission_deadline="2024-07-31"
    )
    assert report["submission_deadline"] == "2024-07-31"
    create_experience(client, headers, report["id"], "FR1", "2024-02-01")
    made = client.post(
        f"{API}/reports/{report['id']}/submissions",
        headers=headers,
        json={
            "submission_type": "final",
            "version": version_of(client, headers, report["id"]),
            "cpa_reference_number": "PERT-2024-00017",
        },
    )
    assert made.status_code == 201, made.get_json()
    final = made.get_json()
    assert final["cpa_reference_number"] == "PERT-2024-00017"
    assert final["cpa_confirmation_code"] is None
    assert final["experience_count"] == 1 and final["total_word_count"] > 0
    bad = client.post(
        f"{API}/submissions/{final['id']}/status",
        headers=headers,
        json={"status": "accepted", "cpa_confirmation_code": "<script>"},
    )
    assert bad.status_code == 422
    accepted = client.post(
        f"{API}/submissions/{final['id']}/status",
        headers=headers,
        json={"status": "accepted", "cpa_confirmation_code": "C7X-119"},
    )
    assert accepted.status_code == 200, accepted.get_json()
    stored = client.get(f"{API}/submissions/{final['id']}", headers=headers).get_json()
    assert (stored["cpa_reference_number"], stored["cpa_confirmation_code"]) == (
        "PERT-2024-00017",
        "C7X-119",
    )
    listed = client.get(f"{API}/reports/{report['id']}/submissions", headers=headers).get_json()
    assert listed["items"][0]["experience_count"] == 1
    moved = client.patch(
        f"{API}/reports/{report['id']}",
        headers=headers,
        json={"version": version_of(client, headers, report["id"]), "submission_deadline": None},
    )
    assert moved.status_code in (200, 409), moved.get_json()  # accepted reports are locked
