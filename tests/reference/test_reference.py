"""Reference data: reading, admin curation, seed integrity and idempotent seeding."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.db.setup import init_database
from pathfinder.reference.repo import normalize_skill_name
from pathfinder.reference.seed_data import catalog_entries
from pathfinder.reference.seed_paths import CAREER_PATHS
from pathfinder.schema.shared.reference import career_paths, skills_catalog
from pathfinder.schema.shared.security import audit_log
from tests.conftest import AuthActions

SKILLS = "/api/v1/ref/skills"
PATHS = "/api/v1/ref/career-paths"


def problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return dict(response.get_json())


def test_seed_data_is_consistent() -> None:
    entries = catalog_entries()
    assert len(entries) >= 300
    assert len({e.category for e in entries}) >= 15
    owners: dict[str, str] = {}
    for entry in entries:
        for term in (entry.name, *entry.aliases):
            key = normalize_skill_name(term)
            assert key not in owners, f"{term!r} belongs to {owners.get(key)} and {entry.name}"
            owners[key] = entry.name
            assert len(term) <= 100
    names = {normalize_skill_name(e.name) for e in entries}
    keys = [p["path_key"] for p in CAREER_PATHS]
    assert "cpa" in keys and len(keys) == len(set(keys)) >= 10
    for path in CAREER_PATHS:
        skills = list(path["required_skills"])
        for stage in path["stages"]:
            skills += stage["skills"]
        missing = [s for s in skills if normalize_skill_name(s) not in names]
        assert missing == [], path["path_key"]


def test_seeding_is_idempotent_and_keeps_admin_edits(db: Database) -> None:
    with db.transaction() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(skills_catalog)).scalar()
        paths = conn.execute(sa.select(sa.func.count()).select_from(career_paths)).scalar()
        assert count == len(catalog_entries()) and paths == len(CAREER_PATHS)
        conn.execute(
            skills_catalog.update()
            .where(skills_catalog.c.normalized_name == "python")
            .values(category="Edited by admin")
        )
        conn.execute(skills_catalog.delete().where(skills_catalog.c.normalized_name == "rust"))
    init_database(db)
    init_database(db)
    with db.transaction() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(skills_catalog)).scalar() == count
        )
        assert conn.execute(sa.select(sa.func.count()).select_from(career_paths)).scalar() == paths
        category = conn.execute(
            sa.select(skills_catalog.c.category).where(skills_catalog.c.normalized_name == "python")
        ).scalar()
    assert category == "Edited by admin"


def test_users_search_the_catalogue(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    found = client.get(f"{SKILLS}?q=kubernetes", headers=headers)
    assert found.status_code == 200
    assert [s["name"] for s in found.get_json()["items"]] == ["Kubernetes"]
    assert found.get_json()["items"][0]["aliases"] == ["K8s"]
    # q matches aliases too.
    by_alias = client.get(f"{SKILLS}?q=golang", headers=headers).get_json()["items"]
    assert [s["name"] for s in by_alias] == ["Go"]
    # A literal % is not a wildcard.
    assert client.get(f"{SKILLS}?q=%25", headers=headers).get_json()["items"] == []

    tax = client.get(f"{SKILLS}?category=taxation&limit=100", headers=headers).get_json()
    assert {s["category"] for s in tax["items"]} == {"Taxation"}
    assert "Transfer Pricing" in {s["name"] for s in tax["items"]}

    seen, cursor = [], None
    while True:
        url = f"{SKILLS}?limit=100" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).get_json()
        seen += [s["name"] for s in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(catalog_entries())

    categories = client.get(f"{SKILLS}/categories", headers=headers).get_json()["items"]
    assert sum(c["skills"] for c in categories) == len(catalog_entries())

    for bad in ("limit=0", "limit=101", "cursor=%%%", "colour=red"):
        assert client.get(f"{SKILLS}?{bad}", headers=headers).status_code == 422, bad


def test_career_paths_include_the_cpa_path(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    cpa = client.get(f"{PATHS}?key=cpa", headers=headers).get_json()["items"]
    assert len(cpa) == 1
    path = cpa[0]
    assert path["title"].startswith("Chartered Professional Accountant")
    stages = [s["title"] for s in path["stages"]]
    assert "Common Final Examination" in stages
    assert "Practical experience (PER)" in stages
    assert "30 months" in path["description"]
    assert "Professional Ethics" in path["required_skills"]

    searched = client.get(f"{PATHS}?q=audit", headers=headers).get_json()["items"]
    assert "external_auditor" in {p["path_key"] for p in searched}
    first = client.get(f"{PATHS}?limit=5", headers=headers).get_json()
    rest = client.get(f"{PATHS}?limit=100&cursor={first['next_cursor']}", headers=headers)
    keys = [p["path_key"] for p in first["items"] + rest.get_json()["items"]]
    assert keys == sorted(p["path_key"] for p in CAREER_PATHS)


def test_admins_curate_the_catalogue(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    user = auth.headers(auth.register("alice"))
    auth.register("root_admin")
    auth.set_role("root_admin", "admin")
    admin = auth.headers(auth.login("root_admin"))

    new = {"name": "Quantum Annealing", "category": "Research", "aliases": ["QA annealing"]}
    assert client.post(SKILLS, headers=user, json=new).status_code == 403
    created = client.post(SKILLS, headers=admin, json=new)
    assert created.status_code == 201, created.get_json()
    skill = created.get_json()
    assert skill["aliases"] == ["QA annealing"] and skill["is_active"] is True
    # Users see it at once, and extraction uses it (the matcher cache is refreshed).
    assert (
        client.get(f"{SKILLS}?q=quantum", headers=user).get_json()["items"][0]["id"] == skill["id"]
    )
    role = client.post(
        "/api/v1/me/experiences",
        headers=user,
        json={
            "title": "Researcher",
            "start_date": "2020-01-01",
            "end_date": "2020-12-31",
            "description": "Quantum annealing experiments",
        },
    ).get_json()
    found = client.post(
        f"/api/v1/me/experiences/{role['id']}/extract-skills", headers=user, json={"save": False}
    ).get_json()["found"]
    assert [f["name"] for f in found] == ["Quantum Annealing"]

    # A term may belong to one skill only.
    taken = client.post(SKILLS, headers=admin, json={"name": "K8s"})
    assert taken.status_code == 409 and problem(taken)["type"].endswith("skill-term-taken")
    clash = client.post(SKILLS, headers=admin, json={"name": "Kube", "aliases": ["python"]})
    assert clash.status_code == 409
    dup = client.post(SKILLS, headers=admin, json={"name": "quantum  annealing"})
    assert dup.status_code == 409

    url = f"{SKILLS}/{skill['id']}"
    patched = client.patch(url, headers=admin, json={"is_active": False, "aliases": []})
    assert patched.status_code == 200 and patched.get_json()["is_active"] is False
    assert client.get(f"{SKILLS}?q=quantum", headers=user).get_json()["items"] == []
    assert client.patch(url, headers=admin, json={"name": "Kubernetes"}).status_code == 409
    assert client.patch(url, headers=admin, json={"name": None}).status_code == 422
    assert client.patch(url, headers=admin, json={"aliases": ["x" * 101]}).status_code == 422
    assert client.patch(url, headers=user, json={"is_active": True}).status_code == 403
    assert client.delete(url, headers=user).status_code == 403
    assert client.delete(url, headers=admin).status_code == 204
    assert client.delete(url, headers=admin).status_code == 404
    assert client.patch(url, headers=admin, json={}).status_code == 404
    assert client.post(SKILLS, headers=admin, json={"name": ""}).status_code == 422

    with db.transaction() as conn:
        actions = (
            conn.execute(
                sa.select(audit_log.c.details)
                .where(
                    audit_log.c.event_type == "authz_admin", audit_log.c.target_id == skill["id"]
                )
                .order_by(audit_log.c.seq)
            )
            .scalars()
            .all()
        )
    assert [a["action"] for a in actions] == ["create", "update", "delete"]


def test_admins_curate_career_paths(client: FlaskClient, auth: AuthActions) -> None:
    user = auth.headers(auth.register("alice"))
    auth.register("root_admin")
    auth.set_role("root_admin", "admin")
    admin = auth.headers(auth.login("root_admin"))
    body = {
        "path_key": "actuary",
        "title": "Actuary",
        "stages": [
            {"title": "Actuarial analyst", "typical_years": 3, "skills": ["Statistics"]},
            {"title": "Fellow", "typical_years": 5},
        ],
        "required_skills": ["Statistics", "statistics", "Financial Modeling"],
        "typical_years": 8,
    }
    assert client.post(PATHS, headers=user, json=body).status_code == 403
    created = client.post(PATHS, headers=admin, json=body)
    assert created.status_code == 201, created.get_json()
    path = created.get_json()
    assert path["required_skills"] == ["Statistics", "Financial Modeling"]
    assert path["stages"][1] == {
        "title": "Fellow",
        "typical_years": 5,
        "skills": [],
        "summary": None,
    }
    assert client.post(PATHS, headers=admin, json=body).status_code == 409
    for bad in (
        {**body, "path_key": "Has Spaces"},
        {**body, "stages": []},
        {**body, "stages": [{"title": "x", "typical_years": -1}]},
        {**body, "stages": [{"title": "x", "colour": "red"}]},
    ):
        assert client.post(PATHS, headers=admin, json=bad).status_code == 422

    url = f"{PATHS}/{path['id']}"
    renamed = client.patch(url, headers=admin, json={"title": "Actuary (FSA)"})
    assert renamed.status_code == 200 and renamed.get_json()["title"] == "Actuary (FSA)"
    assert client.patch(url, headers=admin, json={"path_key": "cpa"}).status_code == 409
    assert client.patch(url, headers=admin, json={"stages": None}).status_code == 422
    # A stage sent with its title alone gets its defaults, as on creation (found by fuzzing:
    # the update stored the stage without them, and the answer broke its contract).
    restaged = client.patch(url, headers=admin, json={"stages": [{"title": "Fellow"}]})
    assert restaged.status_code == 200, restaged.get_json()
    assert restaged.get_json()["stages"] == [
        {"title": "Fellow", "typical_years": None, "skills": [], "summary": None}
    ]
    listed = client.get(f"{PATHS}?key=actuary", headers=user).get_json()["items"]
    assert listed[0]["title"] == "Actuary (FSA)"
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(f"{PATHS}?key=actuary", headers=user).get_json()["items"] == []
    assert client.delete(url, headers=admin).status_code == 404
