"""A candidate's whole journey through the API, on SQLite and PostgreSQL.

framework -> report periods -> experiences with versions -> progress (core/depth/breadth as
the rules say) -> final submission with checksum -> JSON, PDF and DOCX exports that open
and show the narratives.
"""

from __future__ import annotations

import hashlib
import io
import json

import sqlalchemy as sa
from docx import Document
from flask.testing import FlaskClient
from pypdf import PdfReader

from pathfinder.db import Database
from pathfinder.schema.shared.cpa import experiences, submissions
from tests.conftest import AuthActions
from tests.cpa.factories import (
    ACTIONS,
    API,
    CHALLENGE,
    LESSONS,
    RESULTS,
    create_experience,
    create_report,
)

# Breadth needs 8 sub-competencies at level 1+, 4 of them at level 2; depth needs one area
# complete with 2 at level 2; core needs 3 in FR/MA at level 1+.
PLAN = {
    "FR1": 1,
    "FR2": 2,
    "FR3": 2,
    "FR4": 1,
    "MA2": 2,
    "AA1": 1,
    "TX2": 2,
    "FN1": 1,
}


def canonical(payload: dict) -> bytes:  # type: ignore[type-arg]
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_candidate_journey(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    headers = auth.headers(auth.register("carla"))

    framework = client.get(f"{API}/framework", headers=headers).get_json()
    assert framework["framework_version"] == "PER-2021"
    assert [a["code"] for a in framework["technical_areas"]] == ["FR", "MA", "SG", "AA", "FN", "TX"]

    first = create_report(client, headers, "2023-01-01", "2023-06-30")
    second = create_report(client, headers, "2023-07-01", "2023-12-31", route="EVR")
    assert first["warnings"] == [] and second["warnings"] == []

    ids = {}
    for index, (code, level) in enumerate(PLAN.items()):
        report = first if index < 4 else second
        start = "2023-02-01" if index < 4 else "2023-08-01"
        ids[code] = create_experience(
            client, headers, report["id"], code, start, proficiency_level=level
        )["id"]

    # An edit makes version 2; version 1 stays readable and listed.
    edited = client.patch(
        f"{API}/experiences/{ids['FR1']}",
        headers=headers,
        json={"version_number": 1, "results": RESULTS + " The audit found no issues."},
    )
    assert edited.status_code == 200, edited.get_json()
    fr1_v2 = edited.get_json()
    assert fr1_v2["version_number"] == 2 and fr1_v2["previous_version_id"] == ids["FR1"]
    versions = client.get(f"{API}/experiences/{fr1_v2['id']}/versions", headers=headers)
    assert [v["version_number"] for v in versions.get_json()["items"]] == [2, 1]

    progress = client.get(f"{API}/progress?as_of=2024-01-15", headers=headers).get_json()
    own = progress["technical"]["self"]
    assert own["core"]["met"] and own["core"]["count"] == 5
    assert own["depth"]["met"] and own["depth"]["met_areas"] == ["FR"]
    assert own["breadth"]["met"]
    assert own["breadth"]["at_level_1"] == 8 and own["breadth"]["at_level_2"] == 4
    assert progress["technical"]["reviewer"]["levels"] == {}
    assert progress["duration"]["months_counted"] == 12.0
    assert progress["duration"]["months_remaining"] == 18.0
    assert progress["evr_twelve_month"]["suspended"] is False
    assert progress["enabling"]["self"]["met"] is False
    assert progress["requirement_met"] is False
    due = {d["kind"]: d["due"] for d in progress["deadlines"]}
    assert due["next_report"] == "2024-06-30"
    assert due["evr_12_month_review"] == "2024-01-01"

    version = client.get(f"{API}/reports/{first['id']}", headers=headers).get_json()["version"]
    final = client.post(
        f"{API}/reports/{first['id']}/submissions",
        headers=headers,
        json={"submission_type": "final", "version": version},
    )
    assert final.status_code == 201, final.get_json()
    submission = final.get_json()
    assert submission["is_final"] and submission["status"] == "pending"
    assert len(submission["checksum_sha256"]) == 64

    # The report is frozen now.
    locked = client.post(
        f"{API}/reports/{first['id']}/experiences",
        headers=headers,
        json={
            "sub_competency_code": "SG1",
            "experience_title": "Late",
            "experience_start_date": "2023-03-01",
            "proficiency_level": 1,
        },
    )
    assert locked.status_code == 409
    assert locked.get_json()["type"].endswith("cpa-report-locked")

    # JSON export: the checksum is the SHA-256 of the canonical payload, narratives inside.
    exported = client.get(
        f"{API}/submissions/{submission['id']}/export?format=json", headers=headers
    )
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    document = json.loads(exported.data)
    payload = document["payload"]
    assert hashlib.sha256(canonical(payload)).hexdigest() == submission["checksum_sha256"]
    assert [e["sub_competency_code"] for e in payload["experiences"]] == [
        "FR1",
        "FR2",
        "FR3",
        "FR4",
    ]
    fr1 = payload["experiences"][0]
    assert fr1["id"] == fr1_v2["id"]
    assert fr1["narrative"]["results"]["text"].endswith("The audit found no issues.")
    assert "does not submit anything to CPA Canada" in payload["notice"]

    # The stored payload holds no narrative text: those stay encrypted in the experiences.
    with db.transaction() as conn:
        stored = conn.execute(
            sa.select(submissions.c.payload).where(submissions.c.id == submission["id"])
        ).scalar_one()
        raw = conn.execute(
            sa.select(experiences.c.challenge).where(experiences.c.id == ids["FR2"])
        ).scalar_one()
    assert CHALLENGE not in json.dumps(stored, ensure_ascii=False)
    assert raw.startswith("pf2.") and "IFRS" not in raw

    pdf = client.get(f"{API}/submissions/{submission['id']}/export?format=pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    flat = " ".join(text.split())
    for narrative in (CHALLENGE, ACTIONS, LESSONS):
        assert " ".join(narrative.split()) in flat
    assert "The audit found no issues." in flat
    assert f"{len(CHALLENGE)} characters" in flat
    assert "not submitted to CPA Canada" in flat

    docx = client.get(f"{API}/submissions/{submission['id']}/export?format=docx", headers=headers)
    assert docx.status_code == 200
    word = Document(io.BytesIO(docx.data))
    paragraphs = [p.text for p in word.paragraphs]
    assert CHALLENGE in paragraphs and ACTIONS in paragraphs
    assert f"Challenge ({len(CHALLENGE)} characters)" in paragraphs
    cells = [c.text for t in word.tables for row in t.rows for c in row.cells]
    assert submission["checksum_sha256"] in cells

    # Recording the outcome: history keeps who and when; the report follows.
    outcome = client.post(
        f"{API}/submissions/{submission['id']}/status",
        headers=headers,
        json={"status": "accepted", "notes": "Accepted by the reviewer."},
    )
    assert outcome.status_code == 200, outcome.get_json()
    assert outcome.get_json()["report_status"] == "accepted"
    history = client.get(f"{API}/submissions/{submission['id']}/history", headers=headers)
    rows = history.get_json()["items"]
    assert [(h["action"], h["new_status"]) for h in rows] == [
        ("submitted", "pending"),
        ("accepted", "accepted"),
    ]
    assert all(h["actor_id"] == auth.user_id("carla") for h in rows)
    again = client.post(
        f"{API}/submissions/{submission['id']}/status", headers=headers, json={"status": "rejected"}
    )
    assert again.status_code == 409
    immutable = client.delete(f"{API}/submissions/{submission['id']}", headers=headers)
    assert immutable.status_code == 409
    assert immutable.get_json()["type"].endswith("cpa-submission-immutable")
