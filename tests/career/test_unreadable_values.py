"""A stored value that does not decrypt fails its own row, is audited on its own, and an
older ciphertext restored into a newer row version does not open."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_log
from tests.career.helpers import EXPERIENCES, create
from tests.conftest import AuthActions


def _raw(db: Database, experience_id: str) -> dict[str, Any]:
    with db.tenant_transaction("alice") as (conn, tables):
        e = tables.experiences
        row = conn.execute(
            sa.select(e.c.description, e.c.key_achievements, e.c.row_version).where(
                e.c.id == experience_id
            )
        ).one()
    return dict(row._mapping)


def _set_raw(db: Database, experience_id: str, **values: Any) -> None:
    """Write behind the application's back: an attacker, or a partial restore, with SQL."""
    with db.tenant_transaction("alice") as (conn, tables):
        e = tables.experiences
        conn.execute(e.update().where(e.c.id == experience_id).values(**values))


def _failures(db: Database) -> list[dict[str, Any]]:
    # A fresh connection: the rows must be committed, whatever the request did.
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.outcome, audit_log.c.details, audit_log.c.target_id)
            .where(audit_log.c.event_type == "crypt_decrypt_fail")
            .order_by(audit_log.c.seq)
        ).all()
    return [dict(r._mapping) for r in rows]


def test_a_tampered_value_fails_its_row_not_the_list(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    first = create(client, headers, title="First role", start_date="2015-01-01")
    second = create(client, headers, title="Second role", start_date="2016-01-01")
    third = create(client, headers, title="Third role", start_date="2017-01-01")
    # The second row's description is swapped for the first's: a token from another row.
    _set_raw(db, second["id"], description=_raw(db, first["id"])["description"])

    listed = client.get(EXPERIENCES, headers=headers)
    assert listed.status_code == 200
    items = {i["id"]: i for i in listed.get_json()["items"]}
    assert set(items) == {first["id"], second["id"], third["id"]}
    broken = items[second["id"]]
    assert broken["description"] is None and broken["unreadable_fields"] == ["description"]
    assert broken["title"] == "Second role"
    assert broken["key_achievements"] == second["key_achievements"]  # its other cell opens
    for good in (first, third):
        assert "unreadable_fields" not in items[good["id"]]
        assert items[good["id"]]["description"] == good["description"]

    one = client.get(f"{EXPERIENCES}/{second['id']}", headers=headers).get_json()
    assert one["unreadable_fields"] == ["description"]

    failures = _failures(db)
    assert len(failures) == 2  # the list, then the single read
    for failure in failures:
        assert failure["outcome"] == "failure"
        assert failure["details"]["table"] == "experiences"
        assert failure["details"]["column"] == "description"
        assert failure["details"]["row_id"] == second["id"]
        assert failure["details"]["error"] == "DecryptionError"


def test_an_edit_of_a_row_that_does_not_open_changes_nothing(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    first = create(client, headers, title="First role")
    second = create(client, headers, title="Second role", start_date="2016-01-01")
    _set_raw(db, second["id"], key_achievements=_raw(db, first["id"])["key_achievements"])
    before = _raw(db, second["id"])

    answer = client.patch(f"{EXPERIENCES}/{second['id']}", headers=headers, json={"title": "X"})
    assert answer.status_code == 500
    assert answer.mimetype == "application/problem+json"
    body = answer.get_json()
    assert body["type"] == "urn:pathfinder:problem:stored-data-unreadable"
    assert "Traceback" not in answer.get_data(as_text=True)
    assert _raw(db, second["id"]) == before
    title = client.get(f"{EXPERIENCES}/{second['id']}", headers=headers).get_json()["title"]
    assert title == "Second role"
    # Audited although the request's own transaction rolled back.
    assert [f["details"]["column"] for f in _failures(db)][:1] == ["key_achievements"]


def test_an_older_ciphertext_restored_into_the_row_does_not_open(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    created = create(client, headers, description="The first version of the story")
    old = _raw(db, created["id"])
    assert old["row_version"] == 1

    edited = client.patch(
        f"{EXPERIENCES}/{created['id']}", headers=headers, json={"description": "Rewritten"}
    )
    assert edited.status_code == 200
    new = _raw(db, created["id"])
    # Every cell was re-sealed at the next version, the unchanged one too.
    assert new["row_version"] == 2
    assert new["key_achievements"] != old["key_achievements"]

    # Each old cell, put back on its own, is refused; the current ones still open.
    for column in ("description", "key_achievements"):
        _set_raw(db, created["id"], **{column: old[column]})
        got = client.get(f"{EXPERIENCES}/{created['id']}", headers=headers).get_json()
        assert got["unreadable_fields"] == [column]
        _set_raw(db, created["id"], **{column: new[column]})
    got = client.get(f"{EXPERIENCES}/{created['id']}", headers=headers).get_json()
    assert got["description"] == "Rewritten" and "unreadable_fields" not in got
    assert got["key_achievements"] == created["key_achievements"]
