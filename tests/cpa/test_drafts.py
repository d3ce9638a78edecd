"""Free drafts in the user's own ``pert_responses`` table, and promotion into a report."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from tests.conftest import AuthActions
from tests.cpa.factories import API, CHALLENGE, create_report


def problem(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def test_drafts_are_private_encrypted_and_free_length(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("dana"))
    long = client.post(
        f"{API}/drafts",
        headers=headers,
        json={
            "sub_competency_code": "MA3",
            "proficiency_level": 2,
            "title": "Pricing review",
            "challenge": CHALLENGE,
            "actions": "a" * 6000,  # over the limit: allowed in a draft
        },
    )
    assert long.status_code == 201, long.get_json()
    draft = long.get_json()
    assert draft["counts"]["over_limit"] is True and draft["status"] == "draft"

    with db.tenant_transaction("dana") as (conn, tables):
        raw = conn.execute(
            sa.select(tables.pert_responses.c.challenge).where(
                tables.pert_responses.c.id == draft["id"]
            )
        ).scalar_one()
    assert raw.startswith("pf2.") and "variable" not in raw

    trimmed = client.patch(
        f"{API}/drafts/{draft['id']}", headers=headers, json={"actions": "I rebuilt the model."}
    )
    assert trimmed.status_code == 200, trimmed.get_json()
    assert trimmed.get_json()["counts"]["over_limit"] is False
    assert client.get(f"{API}/drafts/{draft['id']}", headers=headers).get_json()["challenge"] == (
        CHALLENGE
    )

    unknown = client.post(
        f"{API}/drafts",
        headers=headers,
        json={"sub_competency_code": "XX1", "proficiency_level": 1},
    )
    assert unknown.status_code == 422
    client.post(
        f"{API}/drafts",
        headers=headers,
        json={"sub_competency_code": "TX3", "proficiency_level": 0},
    )
    only_ma3 = client.get(f"{API}/drafts?sub_competency_code=ma3", headers=headers).get_json()
    assert [d["id"] for d in only_ma3["items"]] == [draft["id"]]
    assert "challenge" not in only_ma3["items"][0]  # lists carry no text

    other = auth.headers(auth.register("olga"))
    assert client.get(f"{API}/drafts/{draft['id']}", headers=other).status_code == 404
    assert client.get(f"{API}/drafts", headers=other).get_json()["items"] == []

    assert client.delete(f"{API}/drafts/{draft['id']}", headers=headers).status_code == 204
    assert client.get(f"{API}/drafts/{draft['id']}", headers=headers).status_code == 404


def test_promotion_applies_the_experience_rules(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("dana"))
    report = create_report(client, headers, "2024-01-01", "2024-06-30")
    draft = client.post(
        f"{API}/drafts",
        headers=headers,
        json={"sub_competency_code": "FN3", "proficiency_level": 1, "actions": "b" * 5200},
    ).get_json()
    url = f"{API}/drafts/{draft['id']}/promote"
    body = {"report_id": report["id"], "experience_start_date": "2024-03-01"}

    no_title = client.post(url, headers=headers, json=body)
    assert no_title.status_code == 422
    assert problem(no_title)["errors"][0]["field"] == "experience_title"
    too_long = client.post(url, headers=headers, json={**body, "experience_title": "Valuation"})
    assert too_long.status_code == 422
    assert problem(too_long)["type"].endswith("cpa-response-too-long")
    client.patch(f"{API}/drafts/{draft['id']}", headers=headers, json={"actions": "I valued it."})
    outside = client.post(
        url,
        headers=headers,
        json={**body, "experience_title": "Valuation", "experience_start_date": "2025-01-01"},
    )
    assert outside.status_code == 422
    elsewhere = client.post(
        url, headers=headers, json={**body, "report_id": "01J00000000000000000000000"}
    )
    assert elsewhere.status_code == 422

    promoted = client.post(url, headers=headers, json={**body, "experience_title": "Valuation"})
    assert promoted.status_code == 201, promoted.get_json()
    result = promoted.get_json()
    assert result["draft"]["status"] == "promoted"
    assert result["draft"]["promoted_experience_id"] == result["experience"]["id"]
    assert result["experience"]["actions"] == "I valued it."
    assert result["experience"]["sub_competency_code"] == "FN3"
    listed = client.get(f"{API}/reports/{report['id']}/experiences", headers=headers).get_json()
    assert [e["id"] for e in listed["items"]] == [result["experience"]["id"]]
    twice = client.post(url, headers=headers, json={**body, "experience_title": "Valuation"})
    assert twice.status_code == 409
