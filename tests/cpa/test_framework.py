"""The competency framework: seeded by ``db init`` (repeatably) and served read-only."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder.db import Database
from pathfinder.db.setup import init_database
from pathfinder.schema.shared.cpa import competencies, frameworks
from tests.conftest import AuthActions
from tests.cpa.factories import API


def test_framework_endpoint_serves_per_2021(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("fiona"))
    response = client.get(f"{API}/framework", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["framework_version"] == "PER-2021"
    areas = {a["code"]: a for a in body["technical_areas"]}
    assert list(areas) == ["FR", "MA", "SG", "AA", "FN", "TX"]
    counts = {code: len(a["sub_competencies"]) for code, a in areas.items()}
    assert counts == {"FR": 4, "MA": 4, "SG": 3, "AA": 3, "FN": 3, "TX": 3}
    fr2 = areas["FR"]["sub_competencies"][1]
    assert fr2["code"] == "FR2" and fr2["name"] == "Accounting policies and transactions"
    assert set(fr2["levels"]) == {"0", "1", "2"} and all(fr2["levels"].values())
    assert fr2["guiding_questions"]
    enabling = {e["code"]: e for e in body["enabling_competencies"]}
    assert enabling["EN3"]["name"] == "Communicating"
    assert enabling["EN3"]["aliases"] == ["Communication"]
    assert enabling["EN5"]["aliases"] == ["Teamwork and leadership"]
    assert body["rules"]["months_required"] == 30
    assert body["rules"]["time_away_allowance_days"] == 140
    assert body["rules"]["breadth"] == {
        "minimum": 8,
        "level": 1,
        "minimum_at_top": 4,
        "top_level": 2,
    }

    explicit = client.get(f"{API}/framework?version=PER-2021", headers=headers)
    assert explicit.get_json() == body
    unknown = client.get(f"{API}/framework?version=CPP-2027", headers=headers)
    assert unknown.status_code == 404
    assert unknown.mimetype == "application/problem+json"
    extra = client.get(f"{API}/framework?colour=blue", headers=headers)
    assert extra.status_code == 422
    assert client.get(f"{API}/framework").status_code == 401


def test_seeding_is_idempotent_and_keeps_local_edits(db: Database, runner: FlaskCliRunner) -> None:
    with db.transaction() as conn:
        conn.execute(
            competencies.update()
            .where(competencies.c.code == "FR1")
            .values(level1_descriptor="Edited by an administrator.")
        )
    init_database(db)
    result = runner.invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    with db.transaction() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(frameworks)) == 1
        rows = conn.execute(
            sa.select(competencies.c.code, competencies.c.kind, competencies.c.level1_descriptor)
        ).all()
    assert len(rows) == 25
    assert sum(1 for r in rows if r.kind == "technical") == 20
    assert {r.code: r.level1_descriptor for r in rows}["FR1"] == "Edited by an administrator."


def test_missing_competencies_are_added_back(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(competencies.delete().where(competencies.c.code.in_(["TX3", "EN2"])))
    init_database(db)
    with db.transaction() as conn:
        codes = set(conn.execute(sa.select(competencies.c.code)).scalars())
    assert {"TX3", "EN2"} <= codes and len(codes) == 25
