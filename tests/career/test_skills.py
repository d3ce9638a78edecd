"""Skills through the HTTP API: CRUD, catalogue spelling, duplicates, filters, failures."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.career.helpers import EXPERIENCES, SKILLS, create, error_fields, problem
from tests.conftest import AuthActions


def test_skill_crud_and_catalogue_spelling(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    role = create(client, headers)

    js = client.post(SKILLS, headers=headers, json={"name": "  js ", "proficiency_level": 4})
    assert js.status_code == 201, js.get_json()
    body = js.get_json()
    # Spelled as the catalogue spells it, with the catalogue's category.
    assert body["name"] == "JavaScript" and body["category"] == "Programming Languages"
    assert body["experience_id"] is None and body["source"] == "manual"
    assert body["is_primary"] is False and body["proficiency_level"] == 4

    own = client.post(
        SKILLS,
        headers=headers,
        json={
            "name": "Underwater Basket Weaving",
            "category": "Crafts",
            "experience_id": role["id"],
            "years_experience": 2.5,
            "last_used": "2019-06-30",
            "is_primary": True,
        },
    )
    assert own.status_code == 201, own.get_json()
    weaving = own.get_json()
    assert weaving["name"] == "Underwater Basket Weaving" and weaving["category"] == "Crafts"
    assert weaving["years_experience"] == 2.5 and weaving["last_used"] == "2019-06-30"

    url = f"{SKILLS}/{weaving['id']}"
    assert client.get(url, headers=headers).get_json() == weaving
    patched = client.patch(
        url, headers=headers, json={"experience_id": None, "proficiency_level": 5}
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["experience_id"] is None
    assert patched.get_json()["proficiency_level"] == 5
    renamed = client.patch(url, headers=headers, json={"name": "golang"})
    assert renamed.get_json()["name"] == "Go"
    assert renamed.get_json()["category"] == "Crafts"  # a category already set is kept
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    assert client.patch(url, headers=headers, json={}).status_code == 404


def test_skill_failures(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    role = create(client, headers)
    assert error_fields(client.post(SKILLS, headers=headers, json={})) == {"name"}
    assert error_fields(
        client.post(SKILLS, headers=headers, json={"name": "Python", "proficiency_level": 6})
    ) == {"proficiency_level"}
    # A JSON number, kept to one decimal place (rounded), never a string.
    rounded = client.post(SKILLS, headers=headers, json={"name": "Go", "years_experience": 2.55})
    assert rounded.status_code == 201 and rounded.get_json()["years_experience"] == 2.6
    assert error_fields(
        client.post(SKILLS, headers=headers, json={"name": "Python", "years_experience": "2.5"})
    ) == {"years_experience"}
    assert error_fields(
        client.post(SKILLS, headers=headers, json={"name": "Python", "years_experience": -1})
    ) == {"years_experience"}
    assert error_fields(
        client.post(SKILLS, headers=headers, json={"name": "Python", "last_used": "2999-01-01"})
    ) == {"last_used"}
    assert error_fields(client.post(SKILLS, headers=headers, json={"name": "   "})) == {"name"}
    assert error_fields(
        client.post(SKILLS, headers=headers, json={"name": "x", "level": "guru"})
    ) == {"level"}
    unknown = client.post(
        SKILLS,
        headers=headers,
        json={"name": "Python", "experience_id": "01J00000000000000000000000"},
    )
    assert unknown.status_code == 404 and "experience" in problem(unknown)["detail"]

    first = client.post(SKILLS, headers=headers, json={"name": "Python"})
    assert first.status_code == 201
    dup = client.post(SKILLS, headers=headers, json={"name": "PYTHON"})
    assert dup.status_code == 409 and problem(dup)["type"].endswith("skill-exists")
    assert problem(dup)["existing_id"] == first.get_json()["id"]
    # The same name on an experience is a different skill row; twice there is a conflict.
    on_role = {"name": "python", "experience_id": role["id"]}
    assert client.post(SKILLS, headers=headers, json=on_role).status_code == 201
    assert client.post(SKILLS, headers=headers, json=on_role).status_code == 409
    # Moving the role's Python to standalone would duplicate the standalone one.
    role_skill = client.get(f"{EXPERIENCES}/{role['id']}/skills", headers=headers).get_json()
    moved = client.patch(
        f"{SKILLS}/{role_skill['items'][0]['id']}", headers=headers, json={"experience_id": None}
    )
    assert moved.status_code == 409
    url = f"{SKILLS}/{first.get_json()['id']}"
    assert error_fields(client.patch(url, headers=headers, json={"name": None})) == {"name"}
    assert error_fields(client.patch(url, headers=headers, json={"is_primary": None})) == {
        "is_primary"
    }
    assert (
        client.patch(
            url, headers=headers, json={"experience_id": "01J00000000000000000000000"}
        ).status_code
        == 404
    )


def test_skill_lists_filters_and_pages(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    role = create(client, headers)
    names = ["Python", "sql", "Tableau", "budgeting", "Docker", "Rust"]
    for name in names:
        assert client.post(SKILLS, headers=headers, json={"name": name}).status_code == 201
    for name in ("Git", "Kubernetes"):
        body = {"name": name, "experience_id": role["id"]}
        assert client.post(SKILLS, headers=headers, json=body).status_code == 201

    def listed(query: str = "") -> list[str]:
        response = client.get(f"{SKILLS}?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [s["name"] for s in response.get_json()["items"]]

    # By name, ignoring case.
    assert listed() == [
        "Budgeting", "Docker", "Git", "Kubernetes", "Python", "Rust", "SQL", "Tableau"
    ]  # fmt: skip
    assert listed("q=U") == ["Budgeting", "Kubernetes", "Rust", "Tableau"]
    assert listed("category=cloud and devops") == ["Docker", "Git", "Kubernetes"]
    assert listed(f"experience_id={role['id']}") == ["Git", "Kubernetes"]
    assert listed("standalone=true") == ["Budgeting", "Docker", "Python", "Rust", "SQL", "Tableau"]
    assert listed("standalone=false") == ["Git", "Kubernetes"]

    seen, cursor = [], None
    while True:
        url = f"{SKILLS}?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).get_json()
        assert len(body["items"]) <= 3
        seen += [s["name"] for s in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == listed()
    per_role = client.get(f"{EXPERIENCES}/{role['id']}/skills?limit=1", headers=headers)
    assert [s["name"] for s in per_role.get_json()["items"]] == ["Git"]
    assert per_role.get_json()["next_cursor"] is not None
    assert client.get(f"{SKILLS}?limit=101", headers=headers).status_code == 422
    assert client.get(f"{SKILLS}?cursor=bm9wZQ", headers=headers).status_code == 422
    missing = client.get(f"{EXPERIENCES}/01J00000000000000000000000/skills", headers=headers)
    assert missing.status_code == 404
