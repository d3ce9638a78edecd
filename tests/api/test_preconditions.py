"""``ETag`` / ``If-Match``: a write based on a stale read is a 412 and changes nothing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from pathfinder.api.contract import contract_of
from pathfinder.api.openapi import openapi_path
from tests.career.helpers import EXPERIENCES, create
from tests.conftest import AuthActions
from tests.live import live_server, prepare_database


def test_a_stale_tag_is_refused_and_changes_nothing(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    created = create(client, headers)
    url = f"{EXPERIENCES}/{created['id']}"
    read = client.get(url, headers=headers)
    tag = read.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"')
    assert client.get(url, headers=headers).headers["ETag"] == tag  # stable

    first = client.patch(url, headers={**headers, "If-Match": tag}, json={"title": "Tab one"})
    assert first.status_code == 200
    new_tag = first.headers["ETag"]
    assert new_tag != tag and client.get(url, headers=headers).headers["ETag"] == new_tag

    second = client.patch(url, headers={**headers, "If-Match": tag}, json={"title": "Tab two"})
    assert second.status_code == 412
    assert second.mimetype == "application/problem+json"
    assert second.get_json()["type"].endswith("precondition-failed")
    assert second.headers["ETag"] == new_tag
    assert client.get(url, headers=headers).get_json()["title"] == "Tab one"

    # Several tags, or *, as RFC 9110 allows; a weak tag never matches strongly.
    listed = client.patch(
        url, headers={**headers, "If-Match": f'"nope", {new_tag}'}, json={"title": "Listed"}
    )
    assert listed.status_code == 200
    weak = client.patch(
        url, headers={**headers, "If-Match": "W/" + listed.headers["ETag"]}, json={"title": "W"}
    )
    assert weak.status_code == 412
    anything = client.patch(url, headers={**headers, "If-Match": "*"}, json={"title": "Any"})
    assert anything.status_code == 200
    # Without If-Match the write is unconditional, as before.
    assert client.patch(url, headers=headers, json={"title": "Plain"}).status_code == 200


def test_if_match_on_a_missing_resource_is_a_404(client: FlaskClient, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("alice"))
    missing = client.patch(
        f"{EXPERIENCES}/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        headers={**headers, "If-Match": "*"},
        json={"title": "x"},
    )
    assert missing.status_code == 404


def test_preferences_and_profile_are_conditional_too(
    client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("alice"))
    for url, change in (
        ("/api/v1/me", {"first_name": "Alice"}),
        (
            "/api/v1/me/preferences",
            {"preferences": {"theme": "dark"}, "notification_settings": {}, "privacy_settings": {}},
        ),
    ):
        tag = client.get(url, headers=headers).headers["ETag"]
        method = client.patch if url == "/api/v1/me" else client.put
        assert method(url, headers={**headers, "If-Match": tag}, json=change).status_code == 200
        stale = method(url, headers={**headers, "If-Match": tag}, json=change)
        assert stale.status_code == 412, url


def test_every_patch_and_put_is_conditional_and_documented(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    writes = 0
    for rule in app.url_map.iter_rules():
        for method in {"PATCH", "PUT"} & set(rule.methods or ()):
            view = app.view_functions[rule.endpoint]
            assert contract_of(view) is not None
            path = openapi_path(rule)
            operation = document["paths"][path][method.lower()]
            names = [p["name"] for p in operation.get("parameters", [])]
            assert "If-Match" in names, path
            assert "412" in operation["responses"], path
            assert "ETag" in operation["responses"]["200"].get("headers", {}), path
            writes += 1
    assert writes >= 16


def test_two_writers_with_one_tag_through_gunicorn(database_url: str, tmp_path: Path) -> None:
    """Across workers, exactly one of several writes holding the same tag wins."""
    instance = tmp_path / "instance"
    prepare_database(database_url, instance)
    with live_server(database_url, instance, {"RATELIMIT_REGISTER": "1000 per minute"}) as server:
        status, tokens = server.call(
            "POST",
            "/auth/register",
            {"username": "tabs", "email": "tabs@example.com", "password": "a long passphrase 1"},
        )
        assert status == 201, tokens
        auth_header = {"Authorization": f"Bearer {tokens['access_token']}"}
        status, created = server.call(
            "POST",
            "/me/experiences",
            {
                "title": "Analyst",
                "company": "Initech",
                "employment_type": "full_time",
                "start_date": "2019-01-01",
                "end_date": "2020-01-01",
            },
            headers=auth_header,
        )
        assert status == 201, created
        url = f"/me/experiences/{created['id']}"
        tag = server.fetch("GET", url, None, auth_header)[1]["ETag"]
        start = threading.Barrier(6)
        results: list[tuple[int, Any]] = []

        def write(n: int) -> None:
            start.wait(30)
            results.append(
                server.call(
                    "PATCH", url, {"title": f"Writer {n}"}, {**auth_header, "If-Match": tag}
                )
            )

        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        final = server.call("GET", url, None, auth_header)[1]
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] + [412] * 5, statuses
    winner = next(body for s, body in results if s == 200)
    assert final["title"] == winner["title"]
