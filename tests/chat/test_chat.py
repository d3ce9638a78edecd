"""Chat through the HTTP API with the built-in offline assistant, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.db.setup import init_database
from pathfinder.ids import new_id
from pathfinder.schema.shared.analytics import user_analytics
from pathfinder.schema.shared.flags import feature_flags
from pathfinder.schema.shared.reference import career_paths, skills_catalog
from pathfinder.schema.shared.security import audit_log
from tests.analytics.career_data import add_skill, overlapping_career
from tests.chat.helpers import BASE, ask, new_conversation, problem, reply_to, set_daily_limit
from tests.conftest import AuthActions


def test_conversation_lifecycle(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    headers = auth.headers(auth.register("alice"))
    created = new_conversation(
        client, headers, title="Interview prep", context="Preparing for a staff role at Initech"
    )
    assert created["model"] == "pathfinder-offline"
    assert created["context"] == "Preparing for a staff role at Initech"
    assert created["message_count"] == 0 and created["total_tokens"] == 0
    default = new_conversation(client, headers)
    assert default["title"] == "New conversation"

    with db.tenant_transaction("alice") as (conn, tables):
        raw = conn.execute(
            sa.select(tables.chat_conversations.c.context).where(
                tables.chat_conversations.c.id == created["id"]
            )
        ).scalar_one()
    assert raw.startswith("pf2.") and "Initech" not in raw

    listed = client.get(BASE, headers=headers).get_json()
    assert [c["id"] for c in listed["items"]] == [default["id"], created["id"]]
    assert "context" not in listed["items"][0] and listed["next_cursor"] is None
    found = client.get(BASE, headers=headers, query_string={"q": "INTERVIEW"}).get_json()
    assert [c["id"] for c in found["items"]] == [created["id"]]
    # Wildcards in the search text are literal.
    assert client.get(BASE, headers=headers, query_string={"q": "%"}).get_json()["items"] == []

    got = client.get(f"{BASE}/{created['id']}", headers=headers)
    assert got.status_code == 200
    assert got.get_json()["context"] == "Preparing for a staff role at Initech"
    assert got.get_json()["messages"] == {"items": [], "next_cursor": None, "limit": 50}

    assert client.delete(f"{BASE}/{created['id']}", headers=headers).status_code == 204
    gone = client.get(f"{BASE}/{created['id']}", headers=headers)
    assert gone.status_code == 404 and problem(gone)["type"].endswith("not-found")
    assert client.delete(f"{BASE}/{created['id']}", headers=headers).status_code == 404
    with db.transaction() as conn:
        events = set(
            conn.execute(
                sa.select(audit_log.c.event_type).where(
                    audit_log.c.target_type == "chat_conversation",
                    audit_log.c.target_id == created["id"],
                )
            ).scalars()
        )
    assert events == {"sensitive_create", "sensitive_delete"}


def test_offline_assistant_answers_from_my_data(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    overlapping_career(db, "alice")
    conversation = new_conversation(client, headers, title="Career")
    cid = conversation["id"]

    sent = ask(client, headers, cid, "Please summarise my experience")
    assert sent.status_code == 201, sent.get_json()
    body = sent.get_json()
    summary = body["assistant_message"]["content"]
    # 9.0 years: the seven months Acme and Beta overlap count once (the naive sum is 9.6).
    assert "9 years of experience across 3 roles at 3 companies" in summary
    assert "Lead Data Engineer at Gamma Health (Jun 2021 – Dec 2023)" in summary
    assert "Industries: Analytics, Healthcare, Software" in summary
    assert body["user_message"]["content"] == "Please summarise my experience"
    usage = body["usage"]
    assert usage["model"] == "pathfinder-offline"
    assert usage["completion_tokens"] == math.ceil(len(summary) / 4)
    assert usage["prompt_tokens"] == math.ceil(len("Please summarise my experience") / 4)
    assert body["user_message"]["tokens_used"] == usage["prompt_tokens"]
    assert body["assistant_message"]["tokens_used"] == usage["completion_tokens"]
    assert body["conversation"]["message_count"] == 2
    assert body["conversation"]["total_tokens"] == usage["total_tokens"]
    assert body["daily_limit"] == {"limit": 50, "used": 1, "remaining": 49}

    python = reply_to(client, headers, cid, "How many years of Python do I have?")
    assert python.startswith("You have 9 years of experience with Python")
    spark = reply_to(client, headers, cid, "how long have I used spark?")
    assert spark.startswith("You have 3 years of experience with Spark")
    assert "Data Engineer at Beta Analytics" in spark
    total = reply_to(client, headers, cid, "How many years of experience do I have?")
    assert "9 years of experience in total" in total
    for_role = reply_to(client, headers, cid, "What skills do I have for a data engineer role?")
    assert for_role.startswith("For data engineer:")
    assert "Data Engineer at Beta Analytics" in for_role and "Spark" in for_role
    assert "Software Engineer at Acme" not in for_role
    skills = reply_to(client, headers, cid, "list my skills")
    assert "programming: Python" in skills and "data: SQL, Spark" in skills
    companies = reply_to(client, headers, cid, "Where have I worked?")
    assert companies == "You have worked at: Gamma Health, Beta Analytics, Acme Corp."
    current = reply_to(client, headers, cid, "What is my current job?")
    assert current.startswith("You have no current role recorded. Most recent: Lead Data")

    page = client.get(f"{BASE}/{cid}", headers=headers, query_string={"limit": 3}).get_json()
    messages = page["messages"]["items"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "Please summarise my experience"
    assert messages[1]["content"] == summary
    rest = client.get(
        f"{BASE}/{cid}",
        headers=headers,
        query_string={"limit": 100, "cursor": page["messages"]["next_cursor"]},
    ).get_json()["messages"]
    assert len(rest["items"]) == 13 and rest["next_cursor"] is None
    assert page["message_count"] == 16

    # Content is encrypted at rest: the raw rows hold tokens, never the text.
    with db.tenant_transaction("alice") as (conn, tables):
        raw = conn.execute(
            sa.select(tables.chat_messages.c.content, tables.chat_messages.c.role)
        ).all()
    assert len(raw) == 16
    assert all(content.startswith("pf2.") for content, _ in raw)
    assert not any("Gamma" in content or "summarise" in content for content, _ in raw)


def test_career_path_answer_and_empty_profile(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    now = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(
            career_paths.insert().values(
                id=new_id(),
                path_key="test_wrangling",
                title="Data Wrangling (test path)",
                stages=[
                    {"title": "Junior Wrangler", "skills": ["SQL"]},
                    {
                        "title": "Staff Data Wrangler",
                        "skills": ["Python", "Wrangle Script", "Kafka"],
                    },
                ],
                required_skills=["SQL"],
                typical_years=8,
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            skills_catalog.insert().values(
                id=new_id(),
                name="Wrangle Script",
                normalized_name="wrangle script",
                category="test",
                aliases=["WrangleScript", "wscript"],
                is_active=True,
                created_at=now,
                updated_at=now,
            )
        )
    empty = auth.headers(auth.register("bob"))
    cid = new_conversation(client, empty)["id"]
    assert reply_to(client, empty, cid, "hello").startswith("I answer from your own")
    assert reply_to(client, empty, cid, "summarise my experience").startswith(
        "Your profile has no experiences yet"
    )

    headers = auth.headers(auth.register("alice"))
    overlapping_career(db, "alice")
    add_skill(db, "alice", "wscript")  # an alias of the catalog's "Wrangle Script"
    cid = new_conversation(client, headers)["id"]
    answer = reply_to(
        client, headers, cid, "Which skills do I need to become a staff data wrangler?"
    )
    assert (
        "The Data Wrangling (test path) career path asks for 3 skills; "
        "you have 2: Python, Wrangle Script. Still to build: Kafka."
    ) in answer
    years = reply_to(client, headers, cid, "how many years of WrangleScript do I have?")
    assert years == "You have 0 years of experience with wscript."


def test_another_users_conversation_is_not_found(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    alice = auth.headers(auth.register("alice"))
    bob = auth.headers(auth.register("bob"))
    theirs = new_conversation(client, alice, title="Alice's secrets")["id"]
    for response in (
        client.get(f"{BASE}/{theirs}", headers=bob),
        client.delete(f"{BASE}/{theirs}", headers=bob),
        ask(client, bob, theirs, "summarise my experience"),
        # Even an invalid body: the conversation is checked first.
        client.post(f"{BASE}/{theirs}/messages", headers=bob, json={"nope": 1}),
    ):
        assert response.status_code == 404, response.get_json()
        assert problem(response)["detail"] == "No such conversation."
    assert client.get(BASE, headers=bob).get_json()["items"] == []
    assert client.get(f"{BASE}/{theirs}", headers=alice).status_code == 200


def test_invalid_requests(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    cases = [
        ({"model": "gpt-9"}, "model"),
        ({"title": "x" * 201}, "title"),
        ({"title": "   "}, "title"),
        ({"context": "c" * 4001}, "context"),
        ({"owner": "bob"}, "owner"),
    ]
    for body, field in cases:
        response = client.post(BASE, headers=headers, json=body)
        assert response.status_code == 422, body
        assert [e["field"] for e in problem(response)["errors"]] == [field]
    # A body without Content-Type: application/json is not read as JSON.
    assert problem(client.post(BASE, headers=headers, data="[1]"))["status"] == 415
    assert problem(client.post(BASE, headers=headers, json=[1]))["status"] == 400

    cid = new_conversation(client, headers)["id"]
    for body in ({}, {"content": ""}, {"content": "x" * 8001}, {"content": 5}):
        response = client.post(f"{BASE}/{cid}/messages", headers=headers, json=body)
        assert response.status_code == 422, body
    for query in ({"limit": 0}, {"limit": 101}, {"cursor": "not-a-cursor"}, {"x": 1}):
        assert client.get(BASE, headers=headers, query_string=query).status_code == 422
        assert client.get(f"{BASE}/{cid}", headers=headers, query_string=query).status_code == 422
    assert client.get(BASE).status_code == 401


def test_conversation_pages_follow_activity(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    first, second, third = (
        new_conversation(client, headers, title=f"c{i}")["id"] for i in range(3)
    )
    page = client.get(BASE, headers=headers, query_string={"limit": 2}).get_json()
    assert [c["id"] for c in page["items"]] == [third, second]
    rest = client.get(
        BASE, headers=headers, query_string={"limit": 2, "cursor": page["next_cursor"]}
    ).get_json()
    assert [c["id"] for c in rest["items"]] == [first] and rest["next_cursor"] is None
    # A message makes the oldest conversation the most recently active.
    reply_to(client, headers, first, "hi")
    page = client.get(BASE, headers=headers).get_json()
    assert [c["id"] for c in page["items"]] == [first, third, second]


def test_daily_message_limit(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    headers = auth.headers(auth.register("alice"))
    user_id = auth.user_id("alice")
    set_daily_limit(db, 2)
    cid = new_conversation(client, headers)["id"]
    reply_to(client, headers, cid, "hi")
    last = ask(client, headers, cid, "hello")
    assert last.get_json()["daily_limit"] == {"limit": 2, "used": 2, "remaining": 0}

    refused = ask(client, headers, cid, "one more")
    assert refused.status_code == 429
    body = problem(refused)
    assert body["type"].endswith("chat-daily-limit")
    assert body["limit"] == 2 and body["used"] == 2
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    detail = client.get(f"{BASE}/{cid}", headers=headers).get_json()
    assert detail["message_count"] == 4  # the refused message was not stored

    # Deleting the conversation does not hand the quota back.
    assert client.delete(f"{BASE}/{cid}", headers=headers).status_code == 204
    cid = new_conversation(client, headers)["id"]
    assert ask(client, headers, cid, "again").status_code == 429
    with db.transaction() as conn:
        refusals = conn.execute(
            sa.select(sa.func.count()).where(
                audit_log.c.event_type == "excess_rate_limit_exceeded",
                audit_log.c.actor_id == user_id,
            )
        ).scalar_one()
        sent = conn.execute(
            sa.select(sa.func.count()).where(
                user_analytics.c.user_id == user_id,
                user_analytics.c.event_type == "chat_message_sent",
            )
        ).scalar_one()
    assert refusals == 2 and sent == 2

    # Another user has a quota of their own.
    bob = auth.headers(auth.register("bob"))
    assert ask(client, bob, new_conversation(client, bob)["id"], "hi").status_code == 201
    # 0 turns chat off; a disabled or nonsense flag falls back to the default (50).
    set_daily_limit(db, 0)
    assert ask(client, bob, new_conversation(client, bob)["id"], "hi").status_code == 429
    set_daily_limit(db, 0, enabled=False)
    assert ask(client, headers, cid, "hi").get_json()["daily_limit"]["limit"] == 50
    set_daily_limit(db, "lots")
    assert ask(client, headers, cid, "hi").get_json()["daily_limit"]["limit"] == 50


def test_daily_limit_flag_is_seeded_once(db: Database) -> None:
    init_database(db)
    init_database(db)
    with db.transaction() as conn:
        rows = conn.execute(
            sa.select(feature_flags).where(feature_flags.c.flag_key == "chat_daily_message_limit")
        ).all()
    assert len(rows) == 1
    flag = rows[0]
    assert flag.flag_type == "number" and flag.default_value == 50
    assert flag.is_system is False and flag.enabled is True


def test_daily_limit_holds_under_concurrent_messages(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    """Two messages at once with one left: the account-row lock lets exactly one through."""
    headers = auth.headers(auth.register("alice"))
    set_daily_limit(db, 1)
    # Two conversations, so nothing but the account-wide lock serialises the two sends.
    conversations = [new_conversation(app.test_client(), headers)["id"] for _ in range(2)]
    start = threading.Barrier(2)
    statuses: list[int] = []

    def send(cid: str) -> None:
        client = app.test_client()
        start.wait()
        statuses.append(ask(client, headers, cid, "summarise my experience").status_code)

    threads = [threading.Thread(target=send, args=(cid,)) for cid in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [201, 429]
    counts = [
        app.test_client().get(f"{BASE}/{cid}", headers=headers).get_json()["message_count"]
        for cid in conversations
    ]
    assert sorted(counts) == [0, 2]
