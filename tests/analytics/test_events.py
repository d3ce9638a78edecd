"""Client usage events: allowed types, bounded data, and personal data stripped at storage."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.analytics.pii import is_pii_key, scrub_text, strip_pii, strip_url, truncate_ip
from pathfinder.db import Database
from pathfinder.schema.shared.analytics import user_analytics
from tests.chat.helpers import problem
from tests.conftest import AuthActions

EVENTS = "/api/v1/events"


def stored_events(db: Database) -> list[Any]:
    with db.transaction() as conn:
        return list(conn.execute(sa.select(user_analytics).order_by(user_analytics.c.id)))


def test_event_is_stored_without_personal_data(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    tokens = auth.register("alice")
    event = {
        "event_type": "form_submitted",
        "event_data": {
            "form": "contact",
            "email": "jane.doe@example.com",
            "fields": [
                {"firstName": "Jane", "lastName": "Doe", "valid": True},
                {"home_address": {"street": "12 Elm St", "city": "Springfield"}},
            ],
            "comment": "call me on +1 (604) 555-0199 or mail jane.doe@example.com",
            "attempts": 2,
            "submitted_on": "2024-03-15",
            "meta": {"deep": {"phoneNumber": "6045550199", "step": 3}},
            "feature": "export",
        },
        "page_url": "https://app.example.com/me/profile?email=jane.doe%40example.com#edit",
        "referrer": "/me/skills?q=jane",
    }
    response = client.post(
        EVENTS, headers={**auth.headers(tokens), "User-Agent": "pytest-agent/1.0"}, json=event
    )
    assert response.status_code == 201, response.get_json()

    (row,) = stored_events(db)
    data = row.event_data
    assert data == {
        "form": "contact",
        "email": "[redacted]",
        "fields": [
            {"firstName": "[redacted]", "lastName": "[redacted]", "valid": True},
            {"home_address": "[redacted]"},
        ],
        "comment": "call me on [phone] or mail [email]",
        "attempts": 2,
        "submitted_on": "2024-03-15",
        "meta": {"deep": {"phoneNumber": "[redacted]", "step": 3}},
        "feature": "export",
    }
    text = json.dumps(data)
    for secret in ("jane", "Jane", "Doe", "Elm", "555", "example.com"):
        assert secret not in text
    assert row.page_url == "https://app.example.com/me/profile"
    assert row.referrer == "/me/skills"
    assert row.user_id == auth.user_id("alice")
    assert row.session_id == tokens["session_id"]
    assert row.event_type == "form_submitted"
    assert row.ip_address == "127.0.0.0"  # the test client's address, host part removed
    assert row.user_agent == "pytest-agent/1.0"
    assert response.get_json()["event_data"] == data


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": "chat_message_sent"}, "event_type"),  # server-only
        ({"event_type": "drop_tables"}, "event_type"),
        ({}, "event_type"),
        ({"event_type": "page_view", "event_data": ["x"]}, "event_data"),
        ({"event_type": "page_view", "event_data": {"x": "y" * 9000}}, "event_data"),
        ({"event_type": "page_view", "event_data": {"a": [[[[[[[[[[[1]]]]]]]]]]]}}, "event_data"),
        ({"event_type": "page_view", "page_url": "u" * 1001}, "page_url"),
        ({"event_type": "page_view", "user_id": "someone"}, "user_id"),
    ],
)
def test_invalid_events(
    client: FlaskClient, auth: AuthActions, db: Database, body: dict[str, Any], field: str
) -> None:
    headers = auth.headers(auth.register("alice"))
    response = client.post(EVENTS, headers=headers, json=body)
    assert response.status_code == 422
    assert [e["field"] for e in problem(response)["errors"]] == [field]
    assert stored_events(db) == []


def test_events_need_a_signed_in_user(client: FlaskClient, auth: AuthActions) -> None:
    assert client.post(EVENTS, json={"event_type": "page_view"}).status_code == 401


def test_event_urls_that_are_not_web_addresses_are_dropped(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    headers = auth.headers(auth.register("alice"))
    response = client.post(
        EVENTS,
        headers=headers,
        json={"event_type": "page_view", "page_url": "javascript:alert(1)", "referrer": "x"},
    )
    assert response.status_code == 201
    (row,) = stored_events(db)
    assert row.page_url is None and row.referrer is None and row.event_data is None


@pytest.mark.parametrize(
    ("key", "personal"),
    [
        ("email", True),
        ("userEmail", True),
        ("phone_number", True),
        ("mobile", True),
        ("first_name", True),
        ("FirstName", True),
        ("full-name", True),
        ("name", True),
        ("surname", True),
        ("address", True),
        ("billingAddress", True),
        ("zip", True),
        ("date_of_birth", True),
        ("password", True),
        ("apiKey", True),
        ("feature", False),
        ("page", False),
        ("file_type", False),
        ("zipped", False),
        ("mailbox_size", False),
        ("step", False),
        ("status_code", False),
    ],
)
def test_pii_keys(key: str, personal: bool) -> None:
    assert is_pii_key(key) is personal


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("reach me at a.b+c@mail.example.org.", "reach me at [email]."),
        ("+44 20 7946 0958", "[phone]"),
        ("(604) 555-0199", "[phone]"),
        ("604.555.0199 ext", "[phone] ext"),
        ("+16045550199", "[phone]"),
        ("on 2024-01-15 at 10:30", "on 2024-01-15 at 10:30"),
        ("version 1.2.3, 42 items, 3.14159", "version 1.2.3, 42 items, 3.14159"),
        ("nul\x00byte", "nulbyte"),
    ],
)
def test_scrub_text(text: str, scrubbed: str) -> None:
    assert scrub_text(text) == scrubbed


def test_strip_pii_is_recursive_and_bounded() -> None:
    nested: Any = {"email": "a@b.co"}
    for _ in range(15):
        nested = {"level": nested}
    stripped = json.dumps(strip_pii(nested))
    assert "a@b.co" not in stripped and "[redacted]" in stripped
    assert strip_pii([{"Name": "Ann"}, "ann@x.io", 5, None, True]) == [
        {"Name": "[redacted]"},
        "[email]",
        5,
        None,
        True,
    ]


def test_url_and_address_helpers() -> None:
    assert strip_url("https://u:p@Host.example:8443/a/b?x=1#f") == "https://host.example:8443/a/b"
    assert strip_url("http://[::1]:8080/x?y") == "http://[::1]:8080/x"
    assert strip_url("/profile/jane@example.com") == "/profile/[email]"
    assert strip_url("ftp://host/file") is None
    assert strip_url("http://host:99999/") is None
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::"
    assert truncate_ip("not-an-ip") is None
