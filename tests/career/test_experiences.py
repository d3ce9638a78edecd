"""Experiences (tier 1) through the HTTP API: CRUD, validation, search, bulk, duplicate."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.security import audit_log
from tests.career.helpers import EXPERIENCES, create, error_fields, experience, problem
from tests.conftest import AuthActions


def test_crud_round_trip(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    headers = auth.headers(auth.register("alice"))
    created = create(client, headers)
    assert created["title"] == "Software Engineer"
    assert created["key_achievements"] == ["Cut invoice run time by 80%", "Mentored two interns"]
    assert created["technologies"] == ["Python", "PostgreSQL"]
    assert created["is_current"] is False and created["end_date"] == "2019-12-31"
    exp_id = created["id"]
    assert len(exp_id) == 26

    got = client.get(f"{EXPERIENCES}/{exp_id}", headers=headers)
    assert got.status_code == 200
    assert got.get_json()["description"] == "Built billing services in Python on PostgreSQL."

    patched = client.patch(
        f"{EXPERIENCES}/{exp_id}",
        headers=headers,
        json={"title": "Senior Engineer", "end_date": None, "is_current": True, "company": None},
    )
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["title"] == "Senior Engineer" and body["is_current"] is True
    assert body["end_date"] is None and body["company"] is None
    # Untouched fields keep their values, encrypted ones included.
    assert body["key_achievements"] == created["key_achievements"]
    again = client.get(f"{EXPERIENCES}/{exp_id}", headers=headers).get_json()
    assert again["title"] == "Senior Engineer" and again["description"] == created["description"]

    listed = client.get(EXPERIENCES, headers=headers).get_json()
    assert [i["id"] for i in listed["items"]] == [exp_id]
    assert listed["next_cursor"] is None

    assert client.delete(f"{EXPERIENCES}/{exp_id}", headers=headers).status_code == 204
    gone = client.get(f"{EXPERIENCES}/{exp_id}", headers=headers)
    assert gone.status_code == 404 and problem(gone)["type"].endswith("not-found")
    assert client.delete(f"{EXPERIENCES}/{exp_id}", headers=headers).status_code == 404

    with db.transaction() as conn:
        events = conn.execute(
            sa.select(audit_log.c.event_type, audit_log.c.target_id).where(
                audit_log.c.target_type == "experience"
            )
        ).all()
    assert ("sensitive_create", exp_id) in events
    assert ("sensitive_update", exp_id) in events
    assert ("sensitive_delete", exp_id) in events


def test_encrypted_fields_are_only_tokens_at_rest(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    created = create(client, headers, description="Secret plan for Project Zebra")
    with db.tenant_transaction("alice") as (conn, tables):
        raw = conn.execute(
            sa.select(tables.experiences.c.description, tables.experiences.c.key_achievements)
        ).one()
    assert raw.description.startswith("pf2.") and "Zebra" not in raw.description
    assert raw.key_achievements.startswith("pf2.") and "invoice" not in raw.key_achievements
    # The API still reads them back.
    got = client.get(f"{EXPERIENCES}/{created['id']}", headers=headers).get_json()
    assert got["description"] == "Secret plan for Project Zebra"


def test_validation_failures(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))

    def post(**overrides: object) -> set[str]:
        return error_fields(client.post(EXPERIENCES, headers=headers, json=experience(**overrides)))

    assert post(end_date="2017-01-01") == {"end_date"}  # before the start
    assert post(is_current=True) == {"end_date"}  # current role with an end date
    assert post(end_date=None) == {"end_date"}  # a past role needs one
    assert post(start_date="2999-01-01", end_date=None, is_current=True) == {"start_date"}
    assert post(end_date="2999-01-01") == {"end_date"}
    assert post(employment_type="gig") == {"employment_type"}
    assert post(role_level="wizard") == {"role_level"}
    assert post(technologies=[f"tech{i}" for i in range(51)]) == {"technologies"}
    assert post(technologies=["x" * 101]) == {"technologies.0"}
    assert post(key_achievements=["a"] * 31) == {"key_achievements"}
    assert post(team_size=-1) == {"team_size"}
    assert post(salary=100) == {"salary"}  # unknown fields are refused
    assert post(title="") == {"title"}
    missing = client.post(EXPERIENCES, headers=headers, json={"company": "Acme"})
    # Every mistake at once: the missing fields, and the rule they do not hide (a past
    # role, is_current defaulting to false, needs an end_date).
    assert error_fields(missing) == {"title", "start_date", "end_date"}

    not_json = client.post(EXPERIENCES, headers=headers, data="[1]", content_type="text/plain")
    assert not_json.status_code == 415
    assert problem(not_json)["type"].endswith("unsupported-media-type")
    as_list = client.post(EXPERIENCES, headers=headers, json=[experience()])
    assert as_list.status_code == 400

    # A partial update is judged on the merged record.
    exp_id = create(client, headers)["id"]
    url = f"{EXPERIENCES}/{exp_id}"
    assert error_fields(client.patch(url, headers=headers, json={"is_current": True})) == {
        "end_date"
    }
    assert error_fields(client.patch(url, headers=headers, json={"end_date": None})) == {"end_date"}
    assert error_fields(client.patch(url, headers=headers, json={"start_date": "2020-06-01"})) == {
        "end_date"
    }
    assert error_fields(client.patch(url, headers=headers, json={"title": None})) == {"title"}
    # Nothing of the refused updates was written.
    assert client.get(url, headers=headers).get_json()["end_date"] == "2019-12-31"
    assert client.patch(url, headers=headers, json={}).status_code == 200


def test_search_filters_and_keyset_pagination(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    ids = {}
    ids["a"] = create(
        client,
        headers,
        title="Junior Accountant",
        company="Maple Audit LLP",
        industry="Accounting",
        start_date="2012-01-01",
        end_date="2013-12-31",
        technologies=["Excel", "CaseWare"],
    )["id"]
    ids["b"] = create(
        client,
        headers,
        title="Frontend Developer",
        company="Acme Corp",
        start_date="2014-01-01",
        end_date="2016-06-30",
        technologies=["JavaScript", "React"],
    )["id"]
    ids["c"] = create(
        client,
        headers,
        title="Backend Developer",
        company="ACME Labs",
        start_date="2016-07-01",
        end_date="2019-12-31",
        technologies=["Go"],
    )["id"]
    ids["d"] = create(
        client,
        headers,
        title="Engineering Manager",
        company="Globex",
        role_level="manager",
        start_date="2020-01-01",
        end_date=None,
        is_current=True,
        technologies=[],
    )["id"]
    ids["e"] = create(
        client,
        headers,
        title="Volunteer Treasurer",
        company="Food Bank",
        employment_type="volunteer",
        start_date="2016-07-01",
        end_date="2018-12-31",
        technologies=[],
    )["id"]
    # A skill tied to the treasurer role (not in its technologies).
    assert (
        client.post(
            "/api/v1/me/skills",
            headers=headers,
            json={"name": "bookkeeping", "experience_id": ids["e"]},
        ).status_code
        == 201
    )

    def found(query: str) -> list[str]:
        response = client.get(f"{EXPERIENCES}?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        names = {v: k for k, v in ids.items()}
        return [names[i["id"]] for i in response.get_json()["items"]]

    # Newest start first; ties on start date broken by id (descending).
    everything = found("limit=100")
    assert everything[0] == "d" and everything[-1] == "a"
    assert sorted(everything[1:3]) == ["c", "e"] and everything[3] == "b"
    assert found("company=acme") == ["c", "b"]  # substring, any case
    assert found("q=developer") == ["c", "b"]  # text in the title
    assert found("q=DEV&company=labs") == ["c"]
    assert found("skill=react") == ["b"]  # a technology, any case
    assert found("skill=JS") == ["b"]  # a catalogue alias of JavaScript
    assert found("skill=golang") == ["c"]
    assert found("skill=Bookkeeping") == ["e"]  # a skill tied to the role
    assert found("skill=rust") == []
    # Roles active at some point of 2015: started before its end, not ended before its start.
    assert found("start_from=2015-01-01&start_to=2015-12-31") == ["b"]
    assert set(found("start_from=2019-06-01")) == {"c", "d"}
    assert found("is_current=true") == ["d"]
    assert found("employment_type=volunteer") == ["e"]

    # Walk all pages two at a time: every role once, in the same order.
    seen, cursor, pages = [], None, 0
    while True:
        url = f"{EXPERIENCES}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).get_json()
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == [ids[k] for k in everything]
    # Filters and cursors combine.
    first = client.get(f"{EXPERIENCES}?company=acme&limit=1", headers=headers).get_json()
    second = client.get(
        f"{EXPERIENCES}?company=acme&limit=1&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [ids["c"], ids["b"]]
    assert second["next_cursor"] is None

    for bad in ("cursor=garbage", "cursor=WyJ4Il0", "limit=0", "limit=101", "start_from=soon"):
        response = client.get(f"{EXPERIENCES}?{bad}", headers=headers)
        assert response.status_code == 422, bad
    reversed_range = client.get(
        f"{EXPERIENCES}?start_from=2020-01-01&start_to=2019-01-01", headers=headers
    )
    assert error_fields(reversed_range) == {"start_to"}
    assert error_fields(client.get(f"{EXPERIENCES}?color=red", headers=headers)) == {"color"}


def test_bulk_create_is_all_or_nothing(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    url = f"{EXPERIENCES}/bulk"
    items = [
        experience(title=f"Role {i}", start_date=f"201{i}-01-01", end_date=f"201{i}-12-31")
        for i in range(3)
    ]
    # Cross-field rules are reported for every item at once, with the item's index.
    bad = items + [experience(end_date="2000-01-01"), experience(is_current=True)]
    refused = client.post(url, headers=headers, json={"items": bad})
    assert error_fields(refused) == {"items.3.end_date", "items.4.end_date"}
    wrong_type = client.post(
        url, headers=headers, json={"items": [*items, experience(employment_type="gig")]}
    )
    assert error_fields(wrong_type) == {"items.3.employment_type"}
    assert client.get(EXPERIENCES, headers=headers).get_json()["items"] == []

    created = client.post(url, headers=headers, json={"items": items})
    assert created.status_code == 201, created.get_json()
    assert [i["title"] for i in created.get_json()["items"]] == ["Role 0", "Role 1", "Role 2"]
    listed = client.get(EXPERIENCES, headers=headers).get_json()["items"]
    assert [i["title"] for i in listed] == ["Role 2", "Role 1", "Role 0"]

    too_many = client.post(url, headers=headers, json={"items": [experience()] * 51})
    assert error_fields(too_many) == {"items"}
    assert error_fields(client.post(url, headers=headers, json={"items": []})) == {"items"}
    quick = client.get("/api/v1/me/profile/quick", headers=headers).get_json()
    assert quick["total_roles"] == 3


def test_duplicate_copies_role_and_skills(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    source = create(client, headers)
    skill = client.post(
        "/api/v1/me/skills",
        headers=headers,
        json={"name": "Python", "experience_id": source["id"], "proficiency_level": 4},
    )
    assert skill.status_code == 201

    copy = client.post(
        f"{EXPERIENCES}/{source['id']}/duplicate", headers=headers, json={"title": "Copy"}
    )
    assert copy.status_code == 201, copy.get_json()
    dup = copy.get_json()
    assert dup["id"] != source["id"] and dup["title"] == "Copy"
    assert dup["description"] == source["description"]
    assert dup["key_achievements"] == source["key_achievements"]
    copied_skills = client.get(f"{EXPERIENCES}/{dup['id']}/skills", headers=headers).get_json()
    assert [(s["name"], s["proficiency_level"]) for s in copied_skills["items"]] == [("Python", 4)]
    assert copied_skills["items"][0]["id"] != skill.get_json()["id"]

    bare = client.post(
        f"{EXPERIENCES}/{source['id']}/duplicate", headers=headers, json={"include_skills": False}
    ).get_json()
    assert bare["title"] == source["title"]
    assert (
        client.get(f"{EXPERIENCES}/{bare['id']}/skills", headers=headers).get_json()["items"] == []
    )
    # The copy's ciphertext is sealed for its own row: not a copy of the source's token.
    with db.tenant_transaction("alice") as (conn, tables):
        e = tables.experiences
        tokens = dict(conn.execute(sa.select(e.c.id, e.c.description)).all())
    assert tokens[dup["id"]] != tokens[source["id"]]
    unknown = client.post(f"{EXPERIENCES}/01J00000000000000000000000/duplicate", headers=headers)
    assert unknown.status_code == 404


def test_extract_skills_from_text(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    role = create(
        client,
        headers,
        title="Senior Accountant",
        description=(
            "Prepared financial statements under IFRS and ASPE, ran the month-end close "
            "and built dashboards in Power BI. We excel at go-live support."
        ),
        key_achievements=["Automated reconciliations with Excel VBA"],
        technologies=["QuickBooks Online"],
    )
    url = f"{EXPERIENCES}/{role['id']}/extract-skills"

    preview = client.post(url, headers=headers, json={"save": False})
    assert preview.status_code == 200, preview.get_json()
    found = {f["name"]: f for f in preview.get_json()["found"]}
    assert set(found) == {
        "Financial Statement Preparation",
        "IFRS",
        "ASPE",
        "Month-End Close",
        "Power BI",
        "Account Reconciliation",
        "VBA",
        "QuickBooks",
    }
    assert found["QuickBooks"]["matched"] == "QuickBooks Online"
    assert found["IFRS"]["category"] == "Accounting and Finance"
    assert preview.get_json()["added"] == []
    # "excel at" and "go-live" are English, not Microsoft Excel or the Go language.
    assert "Microsoft Excel" not in found and "Go" not in found
    assert (
        client.get(f"{EXPERIENCES}/{role['id']}/skills", headers=headers).get_json()["items"] == []
    )

    saved = client.post(url, headers=headers, json={}).get_json()
    assert len(saved["added"]) == 8
    assert {s["source"] for s in saved["added"]} == {"extracted"}
    assert {s["experience_id"] for s in saved["added"]} == {role["id"]}
    again = client.post(url, headers=headers).get_json()
    assert again["added"] == [] and all(f["already_present"] for f in again["found"])
    skills = client.get(f"{EXPERIENCES}/{role['id']}/skills", headers=headers).get_json()
    assert len(skills["items"]) == 8
    assert (
        client.post(
            f"{EXPERIENCES}/01J00000000000000000000000/extract-skills", headers=headers
        ).status_code
        == 404
    )
    assert error_fields(client.post(url, headers=headers, json={"save": "maybe"})) == {"save"}
