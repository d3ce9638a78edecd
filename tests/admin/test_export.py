"""GDPR export: everything about me, decrypted, downloadable once through an expiring link."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from pathfinder.admin.export import purge_expired_exports
from pathfinder.db import Database
from pathfinder.provisioning import registry
from pathfinder.security.keys import get_key_store
from pathfinder.security.rotation import UserRef
from tests.admin import admin, audit_events, problem
from tests.conftest import DEFAULT_PASSWORD, AuthActions
from tests.security import seed_user_data


def export(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/me/export", headers=headers)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def download(client: FlaskClient, link: dict[str, Any]) -> dict[str, Any]:
    # A WSGI server closes the streamed file after sending it; the test client leaves
    # that to the caller.
    with client.get(link["download_url"]) as response:
        return _read(response, link["format"])


def _read(response: Any, fmt: str) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    if fmt == "zip":
        assert response.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
            return dict(json.loads(archive.read("pathfinder-export.json")))
    assert response.mimetype == "application/json"
    return dict(json.loads(response.data))


def test_my_export_holds_everything_decrypted(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    tokens = auth.register("olga")
    auth.register("olga_two")  # another user's data must not appear
    olga = UserRef(auth.user_id("olga"), "olga")
    keys = get_key_store(app)
    values = seed_user_data(db, keys, olga, rows=2)
    seed_user_data(db, keys, UserRef(auth.user_id("olga_two"), "olga_two"), rows=1)
    headers = auth.headers(tokens)
    assert (
        client.put(
            "/api/v1/me/preferences", headers=headers, json={"preferences": {"theme": "dark"}}
        ).status_code
        == 200
    )

    link = export(client, headers)
    assert link["format"] == "json" and link["size_bytes"] > 0
    assert datetime.fromisoformat(link["expires_at"]) > datetime.now(UTC) + timedelta(hours=23)
    document = download(client, link)

    assert document["user_id"] == olga.id
    profile = document["profile"]
    assert profile["username"] == "olga" and profile["phone_number"].startswith("+1 604")
    assert "password_hash" not in profile and "mfa_secret" not in profile
    assert document["preferences"][0]["preferences"] == {"theme": "dark"}
    assert document["sessions"] and "refresh_token_hash" not in document["sessions"][0]
    assert document["linked_accounts"] and "access_token" not in document["linked_accounts"][0]

    # Every per-user table of the user's template version, whatever it holds.
    with db.transaction() as conn:
        version = registry.get_tenant(conn, "olga").template_version
    assert set(document["tables"]) == set(db.tables_for("olga", version).tables)
    exported: dict[tuple[str, str, str], str] = {}
    for table, rows in [*document["tables"].items(), *document["cpa"].items()]:
        for row in rows:
            for column, value in row.items():
                if (table, row.get("id"), column) in values:
                    exported[(table, row["id"], column)] = value
    exported[("pf_users", olga.id, "phone_number")] = profile["phone_number"]
    exported[("pf_users", olga.id, "date_of_birth")] = profile["date_of_birth"]
    exported[("pf_users", olga.id, "avatar_url")] = profile["avatar_url"]
    # Linked accounts' tokens and kept Idempotency-Key answers (a replay cache of answers
    # the user already had) are not part of the export.
    expected = {
        k: v
        for k, v in values.items()
        if k[0] not in ("pf_sso_accounts", "pf_idempotency_keys") and k[2] != "mfa_secret"
    }
    assert exported == expected  # plaintext, the very values written
    assert "olga_two" not in json.dumps(document)
    assert "pf2." not in json.dumps(document)  # nothing left sealed
    events = {e["event_type"] for e in document["audit_events"]}
    assert {"user_created", "authn_login_success"} <= events
    assert all(e["by_me"] for e in document["audit_events"] if e["event_type"] == "user_created")

    # Once only.
    again = client.get(link["download_url"])
    assert again.status_code == 404 and problem(again)["type"].endswith("export-unavailable")
    stages = [r["details"]["stage"] for r in audit_events(db, "data_export")]
    assert stages == ["created", "downloaded"]


def test_large_exports_are_zipped(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    app.config["EXPORT_ZIP_THRESHOLD_BYTES"] = 100
    headers = auth.headers(auth.register("pia"))
    link = export(client, headers)
    assert link["format"] == "zip"
    assert download(client, link)["profile"]["username"] == "pia"


def test_links_expire_and_unknown_links_fail(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    headers = auth.headers(auth.register("quinn"))
    app.config["EXPORT_LINK_HOURS"] = 0.5 / 3600  # half a second
    link = export(client, headers)
    time.sleep(0.7)
    assert client.get(link["download_url"]).status_code == 404
    assert client.get("/api/v1/exports/not-a-token").status_code == 404
    assert client.get("/api/v1/exports/..%2F..%2Fpathfinder.db").status_code == 404
    stale = export(client, headers)
    folder = Path(app.instance_path) / "exports"
    assert len(list(folder.iterdir())) == 2
    assert purge_expired_exports(app.instance_path, datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert list(folder.iterdir()) == []
    assert client.get(stale["download_url"]).status_code == 404


def test_two_downloads_at_once_get_one_file(app: Flask, auth: AuthActions) -> None:
    headers = auth.headers(auth.register("rita"))
    link = export(app.test_client(), headers)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def fetch() -> None:
        client = app.test_client()
        barrier.wait()
        with client.get(link["download_url"]) as response:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 404]


def test_admin_exports_on_request_and_deletion_removes_exports(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "boss")
    top = admin(auth, "top", "site_admin")
    sam_tokens = auth.register("sam")
    sam = auth.user_id("sam")
    url = f"/api/v1/admin/users/{sam}/export"
    assert client.post(url, headers=boss, json={}).status_code == 422
    made = client.post(url, headers=boss, json={"reason": "ticket 99: subject access request"})
    assert made.status_code == 201, made.get_json()
    assert download(client, made.get_json())["profile"]["username"] == "sam"
    row = [r for r in audit_events(db, "data_export") if r["details"]["stage"] == "created"][-1]
    assert row["actor_id"] == auth.user_id("boss") and row["target_id"] == sam
    assert row["details"]["on_behalf"] is True and row["details"]["reason"].startswith("ticket")
    refused = client.post(
        f"/api/v1/admin/users/{auth.user_id('top')}/export", headers=boss, json={"reason": "r"}
    )
    assert refused.status_code == 403
    assert (
        client.post(
            "/api/v1/admin/users/01J00000000000000000000000/export",
            headers=boss,
            json={"reason": "r"},
        ).status_code
        == 404
    )

    # A pending export does not outlive its owner.
    pending = export(client, auth.headers(sam_tokens))
    assert (
        client.post(
            "/api/v1/me/deletion",
            headers=auth.headers(sam_tokens),
            json={"password": DEFAULT_PASSWORD},
        ).status_code
        == 202
    )
    erased = client.delete(
        f"/api/v1/admin/users/{sam}",
        headers=top,
        json={"confirm_username": "sam", "reason": "request"},
    )
    assert erased.status_code == 200
    assert client.get(pending["download_url"]).status_code == 404
    assert list((Path(app.instance_path) / "exports").iterdir()) == []
