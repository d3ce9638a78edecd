"""Every mailed link leads somewhere: an API operation that works, or a documented page.

Before: invitations, e-mail verification and password resets linked to pages nothing served
(``/invitations/<token>``, ``/verify-email?token=``) on the API's own address. Each test
here sends every mail that carries a link, then follows what the mail says, as its reader
would: without a front end the API requests it gives, with one the page it links to (which
must be one of the documented pages) and the API operation that page calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import MethodNotAllowed, NotFound

from pathfinder import create_app
from pathfinder.config import ConfigurationError
from pathfinder.db import get_database
from pathfinder.db.setup import init_database
from pathfinder.mail.links import ACTIONS, FRONTEND_PAGES, requests_in
from pathfinder.schema.shared.messaging import outbox
from tests.conftest import DEFAULT_PASSWORD, AuthActions, make_app

API = "https://api.example.com"
FRONTEND = "https://app.example.com/pathfinder"
NEW_PASSWORD = "another long passphrase"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _app(database_url: str, tmp_path: Path, **config: Any) -> Iterator[Flask]:
    application = make_app(database_url, tmp_path / "instance", PUBLIC_BASE_URL=API, **config)
    database = get_database(application)
    init_database(database)
    yield application
    database.dispose()


@pytest.fixture
def api_only(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    yield from _app(database_url, tmp_path)


@pytest.fixture
def with_frontend(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    yield from _app(database_url, tmp_path, FRONTEND_BASE_URL=FRONTEND + "/")


def last_mail(app: Flask, recipient: str, template: str) -> str:
    with get_database(app).transaction() as conn:
        body = conn.execute(
            sa.select(outbox.c.body)
            .where(outbox.c.recipient == recipient, outbox.c.template == template)
            .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        ).scalar()
    assert body is not None, f"no {template} mail to {recipient}"
    return str(body)


def all_mails(app: Flask) -> list[dict[str, Any]]:
    with get_database(app).transaction() as conn:
        return [dict(r) for r in conn.execute(sa.select(outbox)).mappings()]


class Mailbox:
    """Triggers every mail that carries a link, through the API, for one reader each."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.auth = AuthActions(app, self.client)
        self.auth.allow_self_registration()
        self.auth.register("boss")
        self.auth.set_role("boss", "admin")
        self.boss = self.auth.headers(self.auth.login("boss"))

    def invitation(self) -> str:
        sent = self.client.post(
            "/api/v1/admin/invitations",
            headers=self.boss,
            json={"invitations": [{"email": "newcomer@example.com"}]},
        )
        assert sent.status_code == 201, sent.get_json()
        return last_mail(self.app, "newcomer@example.com", "invitation")

    def verification(self) -> tuple[str, dict[str, str]]:
        headers = self.auth.headers(self.auth.register("verifier"))
        assert self.post("/api/v1/auth/email/verification", headers).status_code == 202
        return last_mail(self.app, "verifier@example.com", "email_verification"), headers

    def reset(self) -> str:
        self.auth.register("forgetful")
        sent = self.post("/api/v1/auth/password/forgot", {}, {"email": "forgetful@example.com"})
        assert sent.status_code == 202
        return last_mail(self.app, "forgetful@example.com", "password_reset")

    def forced_reset(self) -> str:
        self.auth.register("forced")
        user_id = self.auth.user_id("forced")
        path = f"/api/v1/admin/users/{user_id}/password-reset"
        assert self.post(path, self.boss, {"reason": "lost laptop"}).status_code == 200
        return last_mail(self.app, "forced@example.com", "password_reset")

    def deletion(self) -> tuple[str, dict[str, str]]:
        headers = self.auth.headers(self.auth.register("leaver"))
        sent = self.post("/api/v1/me/deletion", headers, {"password": DEFAULT_PASSWORD})
        assert sent.status_code == 202, sent.get_json()
        return last_mail(self.app, "leaver@example.com", "account_deletion_scheduled"), headers

    def email_change(self) -> str:
        headers = self.auth.headers(self.auth.register("mover"))
        body = {"new_email": "moved@example.com", "password": DEFAULT_PASSWORD}
        assert self.post("/api/v1/me/email", headers, body).status_code == 202
        return last_mail(self.app, "moved@example.com", "email_change_confirm")

    def cpa_shares(self) -> tuple[str, str, dict[str, str]]:
        """A CPA candidate shares a report with an account (invitation) and by link."""
        from tests.cpa.factories import create_report
        from tests.cpa.sharing_helpers import share

        sharer = self.auth.headers(self.auth.register("sharer"))
        sharee = self.auth.headers(self.auth.register("sharee"))
        report = create_report(self.client, sharer, "2024-01-01", "2024-06-30")
        for kind, email in (("account", "sharee@example.com"), ("link", "holder@example.com")):
            share(
                self.client,
                sharer,
                report_id=report["id"],
                role="mentor",
                scope="read",
                grantee_kind=kind,
                email=email,
            )
        return (
            last_mail(self.app, "sharee@example.com", "cpa_share_granted"),
            last_mail(self.app, "holder@example.com", "cpa_share_granted"),
            sharee,
        )

    def post(self, path: str, headers: dict[str, str], body: Any = None) -> Any:
        return self.client.post(path, headers=headers, json=body)


def _route_exists(app: Flask, method: str, path: str) -> bool:
    try:
        app.url_map.bind("api.example.com").match(path, method=method)
    except (NotFound, MethodNotAllowed):
        return False
    return True


def follow_api_mail(
    app: Flask, body: str, headers: dict[str, str] | None = None, **fill: str
) -> list[int]:
    """Make every request a mail gives, with its JSON body; ``fill`` replaces ``<...>``.

    A link to one of this server's own pages (the console's) must open an HTML page.
    """
    client = app.test_client()
    document = next((json.loads(line) for line in body.splitlines() if line.startswith("{")), None)
    statuses = []
    requests = requests_in(body)
    assert requests, body
    for method, url in requests:
        parts = urlsplit(url)
        if url.startswith(f"{API}/console/"):
            assert method == "GET", url
            page = client.get(parts.path)
            assert page.status_code == 200 and page.mimetype == "text/html", url
            statuses.append(page.status_code)
            continue
        assert url.startswith(f"{API}/api/v1/"), url
        assert _route_exists(app, method, parts.path), f"{method} {url}: no such route"
        sent = None
        if method != "GET" and document is not None:
            sent = {k: fill.get(k, v) if v.startswith("<") else v for k, v in document.items()}
        answer = client.open(
            parts.path, method=method, query_string=parts.query, json=sent, headers=headers or {}
        )
        assert answer.status_code < 300, (method, url, answer.get_json())
        statuses.append(answer.status_code)
    return statuses


def test_without_a_front_end_each_mail_gives_api_requests_that_work(api_only: Flask) -> None:
    box = Mailbox(api_only)

    invitation = box.invitation()
    # The console's page for the invitation, the invitation, and the request accepting it.
    assert [url for _, url in requests_in(invitation)][0].startswith(f"{API}/console/join/")
    assert follow_api_mail(
        api_only, invitation, username="newcomer", password=DEFAULT_PASSWORD
    ) == [200, 200, 201]

    verification, headers = box.verification()
    assert follow_api_mail(api_only, verification) == [200]
    me = box.client.get("/api/v1/me", headers=headers).get_json()
    assert me["email_verified"] is True

    assert follow_api_mail(api_only, box.reset(), new_password=NEW_PASSWORD) == [204]
    box.auth.login("forgetful", NEW_PASSWORD)
    assert follow_api_mail(api_only, box.forced_reset(), new_password=NEW_PASSWORD) == [204]
    box.auth.login("forced", NEW_PASSWORD)

    assert follow_api_mail(api_only, box.email_change()) == [200]
    box.auth.login("moved@example.com")

    deletion, leaver = box.deletion()
    assert "Authorization: Bearer" in deletion
    assert follow_api_mail(api_only, deletion, headers=leaver) == [200, 200]
    status = box.client.get("/api/v1/me/deletion", headers=leaver).get_json()
    assert status["scheduled"] is False

    invited, linked, sharee = box.cpa_shares()
    assert "Authorization: Bearer" in invited
    assert follow_api_mail(api_only, invited, headers=sharee) == [200]
    assert follow_api_mail(api_only, linked) == [200]

    # Every link in every mail sent is to an API route of this server.
    for mail in all_mails(api_only):
        for method, url in requests_in(mail["body"]):
            path = urlsplit(url).path
            assert url.startswith(API) and _route_exists(api_only, method, path), mail


def _page_of(url: str) -> tuple[str, str | None]:
    """The documented page a front-end link points to, and its token (fails otherwise)."""
    assert url.startswith(FRONTEND + "/"), url
    rest = url.removeprefix(FRONTEND)
    for name, page in FRONTEND_PAGES.items():
        pattern = re.escape(page).replace(re.escape("{token}"), "(?P<token>[A-Za-z0-9_-]+)")
        match = re.fullmatch(pattern, rest)
        if match:
            return name, match.groupdict().get("token")
    raise AssertionError(f"{url} is not a documented front-end page")


def call_as_page(app: Flask, name: str, token: str | None, **fill: Any) -> int:
    """The API operation the page ``name`` calls, with the mail's token."""
    action = ACTIONS[name]
    headers = fill.pop("headers", {})
    body = {k: fill.get(k, v.replace("{token}", token or "")) for k, v in action.body.items()}
    path = "/api/v1" + action.api_path.replace("{token}", token or "")
    answer = app.test_client().open(path, method=action.method, json=body or None, headers=headers)
    assert answer.status_code < 300, answer.get_json()
    return answer.status_code


def single_link(body: str) -> str:
    links = re.findall(r"https?://\S+", body)
    assert len(links) == 1, body
    assert API not in body, body  # people are sent to the front end, not the API
    return links[0]


def test_with_a_front_end_each_mail_links_a_documented_page(with_frontend: Flask) -> None:
    box = Mailbox(with_frontend)
    name, token = _page_of(single_link(box.invitation()))
    assert name == "accept_invitation"
    created = call_as_page(
        with_frontend, name, token, username="newcomer", password=DEFAULT_PASSWORD
    )
    assert created == 201

    verification, _ = box.verification()
    name, token = _page_of(single_link(verification))
    assert (name, call_as_page(with_frontend, name, token)) == ("verify_email", 200)

    for mail in (box.reset(), box.forced_reset()):
        name, token = _page_of(single_link(mail))
        assert name == "reset_password"
        assert call_as_page(with_frontend, name, token, new_password=NEW_PASSWORD) == 204

    name, token = _page_of(single_link(box.email_change()))
    assert (name, call_as_page(with_frontend, name, token)) == ("confirm_email_change", 200)

    deletion, leaver = box.deletion()
    name, token = _page_of(single_link(deletion))
    assert (name, token) == ("cancel_deletion", None)
    assert call_as_page(with_frontend, name, None, headers=leaver) == 200

    invited, linked, sharee = box.cpa_shares()
    name, token = _page_of(single_link(invited))
    assert name == "accept_cpa_share"
    assert call_as_page(with_frontend, name, token, headers=sharee) == 200
    name, token = _page_of(single_link(linked))
    assert (name, call_as_page(with_frontend, name, token)) == ("open_cpa_link", 200)

    for mail in all_mails(with_frontend):
        for url in re.findall(r"https?://\S+", mail["body"]):
            _page_of(url)


def test_the_front_end_pages_are_documented() -> None:
    text = DOCS.read_text()
    for name, page in FRONTEND_PAGES.items():
        assert f"`{page}`" in text, f"docs/api.md does not list the {name} page {page}"
        action = ACTIONS[name]
        assert f"`{action.method} {action.api_path}`" in text, action


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("PUBLIC_BASE_URL", "api.example.com"),
        ("PUBLIC_BASE_URL", "ftp://api.example.com"),
        ("FRONTEND_BASE_URL", "https://app.example.com/?x=1"),
        ("FRONTEND_BASE_URL", "https://app.example.com/#top"),
    ],
)
def test_a_malformed_base_url_stops_start_up(tmp_path: Path, setting: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"PATHFINDER_{setting} must be an absolute"):
        create_app({"INSTANCE_PATH": str(tmp_path), setting: value})


def test_links_use_the_default_public_address(client: FlaskClient, auth: AuthActions) -> None:
    auth.register("plain")
    client.post("/api/v1/auth/password/forgot", json={"email": "plain@example.com"})
    body = last_mail(client.application, "plain@example.com", "password_reset")
    assert requests_in(body) == [("POST", "http://127.0.0.1:5000/api/v1/auth/password/reset")]
