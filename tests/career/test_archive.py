"""The archive: a user's own moves, the retention job's function, reads, restore."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.career.archive import archive_experiences
from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_log
from tests.career.helpers import EXPERIENCES, SKILLS, create, error_fields
from tests.conftest import AuthActions

ARCHIVE = f"{EXPERIENCES}/archive"


def test_archive_read_and_restore(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    headers = auth.headers(auth.register("alice"))
    role = create(client, headers, description="Confidential: merger with Initech")
    skill = client.post(
        SKILLS,
        headers=headers,
        json={"name": "Python", "experience_id": role["id"], "proficiency_level": 4},
    ).get_json()

    moved = client.post(f"{EXPERIENCES}/{role['id']}/archive", headers=headers, json={})
    assert moved.status_code == 200, moved.get_json()
    archived = moved.get_json()
    assert archived["id"] == role["id"] and archived["archive_reason"] == "user request"
    assert archived["description"] == "Confidential: merger with Initech"
    assert archived["archived_at"]
    assert client.get(f"{EXPERIENCES}/{role['id']}", headers=headers).status_code == 404
    assert client.get(EXPERIENCES, headers=headers).get_json()["items"] == []
    quick = client.get("/api/v1/me/profile/quick", headers=headers).get_json()
    assert quick["total_roles"] == 0

    # The skill stays, standalone, carrying the role's two years (2018-2019 = 730 days).
    kept = client.get(f"{SKILLS}/{skill['id']}", headers=headers).get_json()
    assert kept["experience_id"] is None and kept["years_experience"] == 2.0
    assert kept["last_used"] == "2019-12-31" and kept["proficiency_level"] == 4

    listed = client.get(ARCHIVE, headers=headers).get_json()
    assert [i["id"] for i in listed["items"]] == [role["id"]]
    one = client.get(f"{ARCHIVE}/{role['id']}", headers=headers)
    assert one.status_code == 200 and one.get_json()["key_achievements"] == role["key_achievements"]
    # Encrypted at rest in the archive too, and sealed for the archive table.
    with db.tenant_transaction("alice") as (conn, tables):
        raw = conn.execute(
            sa.select(
                tables.experiences_archive.c.description,
                tables.experiences_archive.c.key_achievements,
            )
        ).one()
    assert raw.description.startswith("pf2.") and "Initech" not in raw.description
    assert raw.key_achievements.startswith("pf2.")

    restored = client.post(f"{ARCHIVE}/{role['id']}/restore", headers=headers)
    assert restored.status_code == 200, restored.get_json()
    assert restored.get_json()["id"] == role["id"]
    assert (
        client.get(f"{EXPERIENCES}/{role['id']}", headers=headers).get_json()["description"]
        == "Confidential: merger with Initech"
    )
    assert client.get(ARCHIVE, headers=headers).get_json()["items"] == []
    assert client.get(f"{ARCHIVE}/{role['id']}", headers=headers).status_code == 404
    assert client.post(f"{ARCHIVE}/{role['id']}/restore", headers=headers).status_code == 404
    assert client.get("/api/v1/me/profile/quick", headers=headers).get_json()["total_roles"] == 1

    with_reason = client.post(
        f"{EXPERIENCES}/{role['id']}/archive", headers=headers, json={"reason": "old job"}
    )
    assert with_reason.get_json()["archive_reason"] == "old job"
    assert error_fields(
        client.post(f"{EXPERIENCES}/{role['id']}/archive", headers=headers, json={"reason": ""})
    ) == {"reason"}
    assert (
        client.post(f"{EXPERIENCES}/{role['id']}/archive", headers=headers, json={}).status_code
        == 404
    )


def test_archive_list_pages(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    ids = []
    for year in range(2010, 2015):
        role = create(client, headers, start_date=f"{year}-01-01", end_date=f"{year}-12-31")
        client.post(f"{EXPERIENCES}/{role['id']}/archive", headers=headers)
        ids.append(role["id"])
    seen, cursor = [], None
    while True:
        url = f"{ARCHIVE}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).get_json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]  # most recently archived first
    assert client.get(f"{ARCHIVE}?cursor=WyJub3BlIiwieCJd", headers=headers).status_code == 422
    assert client.get(f"{ARCHIVE}?limit=500", headers=headers).status_code == 422


def test_retention_job_moves_old_roles_atomically(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    old_a = create(client, headers, start_date="2005-01-01", end_date="2007-12-31")
    old_b = create(client, headers, title="Analyst", start_date="2006-01-01", end_date="2008-06-30")
    recent = create(client, headers, start_date="2019-01-01", end_date="2020-12-31")
    current = create(client, headers, start_date="2001-01-01", end_date=None, is_current=True)
    # Python on both old roles and standalone: one standalone skill must remain.
    for role in (old_a, old_b):
        body = {"name": "Python", "experience_id": role["id"]}
        assert client.post(SKILLS, headers=headers, json=body).status_code == 201
    assert (
        client.post(
            SKILLS, headers=headers, json={"name": "Python", "years_experience": 1.0}
        ).status_code
        == 201
    )

    with app.app_context():
        moved = archive_experiences(db, "alice", date(2010, 1, 1), today=date(2024, 1, 1))
        assert moved == 2
        assert archive_experiences(db, "alice", date(2010, 1, 1)) == 0
        # An age instead of a date: roles that ended more than 1,000 days ago.
        assert archive_experiences(db, "alice", timedelta(days=1000), today=date(2024, 1, 1)) == 1

    remaining = [i["id"] for i in client.get(EXPERIENCES, headers=headers).get_json()["items"]]
    assert remaining == [current["id"]]  # a current role is never archived
    archived = client.get(ARCHIVE, headers=headers).get_json()["items"]
    assert {i["id"] for i in archived} == {old_a["id"], old_b["id"], recent["id"]}
    assert {i["archive_reason"] for i in archived} == {"retention"}

    python = client.get(f"{SKILLS}?q=python", headers=headers).get_json()["items"]
    assert len(python) == 1 and python[0]["experience_id"] is None
    # The union of the two old roles: 2005-01-01 .. 2008-06-30 = 1277 days = 3.5 years.
    assert python[0]["years_experience"] == 3.5
    assert python[0]["last_used"] == "2008-06-30"
    quick = client.get("/api/v1/me/profile/quick", headers=headers).get_json()
    assert quick["total_roles"] == 1

    with db.transaction() as conn:
        rows = (
            conn.execute(
                sa.select(audit_log.c.details)
                .where(audit_log.c.event_type == "sensitive_update", audit_log.c.actor_id.is_(None))
                .order_by(audit_log.c.seq)
            )
            .scalars()
            .all()
        )
    assert [r["count"] for r in rows] == [2, 1]
    assert all(r["action"] == "archive" and r["reason"] == "retention" for r in rows)

    with app.app_context(), pytest.raises(LookupError):
        archive_experiences(db, "nobody", date(2010, 1, 1))
