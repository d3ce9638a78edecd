"""A grantee reaches exactly what a share names, and nothing once it has ended.

Built on the route matrix's machinery (the app's URL map, the path-parameter factories of
``foreign_resources.py``), so a new route is swept without anyone remembering to add it:

1. an account grantee calling the candidate's own routes (every user-level route with a
   path parameter, filled with the candidate's resources) gets 404 everywhere, including
   for the share they accepted; the lists they can call hold none of the candidate's text;
2. through the share (account and link alike) every operation naming something outside it
   (another report, its experiences and comments) is 404, and no answer carries the
   candidate's other data or another grantee's private note;
3. the moment the share is revoked (account) or expires (link), every share operation,
   even on what it covered, answers 410.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.auth.policy import policy_of
from pathfinder.db import get_database
from pathfinder.schema.shared.cpa_sharing import shares
from tests.api.foreign_resources import FOREIGN_RESOURCES, SHARED_RESOURCES
from tests.api.test_route_matrix import routes
from tests.conftest import AuthActions
from tests.cpa.factories import API, create_experience, create_report
from tests.cpa.sharing_helpers import accept, invitation_token, share

ACCOUNT_PREFIX = "/api/v1/cpa/shared/<id:share_id>"
LINK_PREFIX = "/api/v1/cpa/links/<token:token>"
SECRETS = {
    "outside_challenge": "SECRET-OUTSIDE-REPORT-CHALLENGE",
    "private_note": "SECRET-OTHER-GRANTEE-PRIVATE-NOTE",
    "other_meeting": "SECRET-OTHER-MENTOR-MEETING",
    "career": "SECRET-CAREER-DESCRIPTION",
    "draft": "SECRET-DRAFT-CHALLENGE",
    "candidate_note": "SECRET-CANDIDATE-PRIVATE-NOTE",
}


def fill(rule: str, values: dict[str, str]) -> str:
    path = rule
    while "<" in path:
        start = path.index("<")
        end = path.index(">", start)
        name = path[start + 1 : end].split(":")[-1]
        path = path[:start] + values[name] + path[end + 1 :]
    return path


def names(rule: str) -> list[str]:
    out = []
    rest = rule
    while "<" in rest:
        start = rest.index("<")
        end = rest.index(">", start)
        out.append(rest[start + 1 : end].split(":")[-1])
        rest = rest[end + 1 :]
    return out


class World:
    """A candidate with a shared report A and an unshared report B, their other data, and
    three grantees: an account mentor on A, a link supervisor on A, a link mentor on all."""

    def __init__(self, app: Flask, client: FlaskClient, auth: AuthActions) -> None:
        self.app, self.client = app, client
        self.owner_tokens = auth.register("owner")
        self.owner = auth.headers(self.owner_tokens)
        self.grantee = auth.headers(auth.register("mentee_mentor"))
        c, o = client, self.owner
        self.report_a = create_report(c, o, "2024-01-01", "2024-06-30")["id"]
        self.exp_a = create_experience(c, o, self.report_a, "FR1", "2024-01-02")["id"]
        self.report_b = create_report(c, o, "2024-07-01", "2024-12-31")["id"]
        self.exp_b = create_experience(
            c, o, self.report_b, "FR2", "2024-07-02", challenge=SECRETS["outside_challenge"]
        )["id"]
        self.comment_b = self._comment(f"{API}/experiences/{self.exp_b}/comments", o, "on B")
        self._comment(
            f"{API}/experiences/{self.exp_a}/comments", o, SECRETS["candidate_note"], private=True
        )
        assert (
            c.post(
                "/api/v1/me/experiences",
                headers=o,
                json={
                    "title": "Analyst",
                    "company": "Acme",
                    "start_date": "2022-03-01",
                    "is_current": True,
                    "description": SECRETS["career"],
                },
            ).status_code
            == 201
        )
        assert (
            c.post(
                f"{API}/drafts",
                headers=o,
                json={
                    "sub_competency_code": "SG1",
                    "proficiency_level": 1,
                    "challenge": SECRETS["draft"],
                },
            ).status_code
            == 201
        )
        # The account mentor on A.
        self.account_share = share(
            c,
            o,
            report_id=self.report_a,
            role="mentor",
            scope="comment",
            grantee_kind="account",
            email="mentee_mentor@example.com",
        )["id"]
        accept(c, self.grantee, invitation_token(app, "mentee_mentor@example.com"))
        # The link supervisor on A, who writes a private note there.
        self.link = share(
            c,
            o,
            report_id=self.report_a,
            role="supervisor",
            scope="verify",
            grantee_kind="link",
            email="sup@example.com",
        )
        self.private_note = self._comment(
            f"{API}/links/{self.link['link_token']}/experiences/{self.exp_a}/comments",
            {},
            SECRETS["private_note"],
            private=True,
        )
        # Another mentor (whole record, link) whose meeting notes are not this mentor's.
        other = share(
            c, o, role="mentor", scope="comment", grantee_kind="link", email="m2@example.com"
        )
        recorded = c.post(
            f"{API}/links/{other['link_token']}/meetings",
            json={"meeting_date": "2024-02-01", "topics": SECRETS["other_meeting"]},
        )
        assert recorded.status_code == 201

    def _comment(self, path: str, headers: dict[str, str], body: str, private: bool = False) -> str:
        answer = self.client.post(path, headers=headers, json={"body": body, "private": private})
        assert answer.status_code == 201, answer.get_json()
        return str(answer.get_json()["id"])

    def leaks(self, text: str) -> list[str]:
        return [name for name, secret in SECRETS.items() if secret in text]


def _call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.open(path, method=method, headers=headers, json={})


def test_a_grantee_reaches_nothing_outside_the_share(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    world = World(app, client, auth)
    failures: list[str] = []
    foreign: dict[str, str] = {}
    swept = 0

    # 1. The candidate's own routes, called by the account grantee.
    for endpoint, method, rule in routes(app):
        policy = policy_of(app.view_functions[endpoint])
        if policy is None or policy.role != "user":
            continue
        if rule.startswith((ACCOUNT_PREFIX, LINK_PREFIX)):
            continue
        params = names(rule)
        if not params:
            if method == "GET":
                answer = _call(client, method, rule, world.grantee)
                leaked = world.leaks(answer.get_data(as_text=True))
                if leaked:
                    failures.append(f"GET {rule}: the grantee sees {leaked}")
            continue
        if any(name in SHARED_RESOURCES for name in params):
            continue
        for name in params:
            if name not in foreign:
                foreign[name] = FOREIGN_RESOURCES[name](client, world.owner, world.owner_tokens)
        swept += 1
        answer = _call(client, method, fill(rule, foreign), world.grantee)
        if answer.status_code != 404:
            failures.append(f"{method} {rule}: the candidate's resource gave {answer.status_code}")
    # The share itself is the candidate's resource, not the grantee's.
    for path in (
        f"{API}/shares/{world.account_share}",
        f"{API}/shares/{world.account_share}/access",
    ):
        if client.get(path, headers=world.grantee).status_code != 404:
            failures.append(f"GET {path}: the grantee reached the candidate's share")

    # 2. Through the share, by account and by link: outside is 404, inside never leaks.
    outside = {
        "report_id": world.report_b,
        "experience_id": world.exp_b,
        "comment_id": world.comment_b,
    }
    inside = {
        "report_id": world.report_a,
        "experience_id": world.exp_a,
        "comment_id": world.comment_b,
    }
    credentials = (
        (ACCOUNT_PREFIX, {"share_id": world.account_share}, world.grantee),
        (LINK_PREFIX, {"token": world.link["link_token"]}, {}),
    )
    share_routes = [
        (method, rule)
        for _, method, rule in routes(app)
        if rule.startswith((ACCOUNT_PREFIX, LINK_PREFIX))
    ]
    assert len(share_routes) >= 20
    for prefix, key, headers in credentials:
        for method, rule in share_routes:
            if not rule.startswith(prefix):
                continue
            params = [n for n in names(rule) if n not in key]
            if params:
                swept += 1
                answer = _call(client, method, fill(rule, {**key, **outside}), headers)
                if answer.status_code != 404:
                    failures.append(f"{method} {rule}: outside the share gave {answer.status_code}")
            if method == "GET":
                answer = _call(client, method, fill(rule, {**key, **inside}), headers)
                leaked = [
                    name
                    for name in world.leaks(answer.get_data(as_text=True))
                    # The link supervisor wrote the private note: it is theirs to see.
                    if not (name == "private_note" and prefix == LINK_PREFIX)
                ]
                if answer.status_code >= 500 or leaked:
                    failures.append(f"GET {rule}: {answer.status_code}, leaked {leaked}")
        # The other grantee's private note cannot be answered or resolved by the mentor.
    note = client.post(
        f"{API}/shared/{world.account_share}/comments/{world.private_note}/resolve",
        headers=world.grantee,
        json={"resolved": True},
    )
    if note.status_code != 404:
        failures.append(f"resolving another grantee's private note gave {note.status_code}")
    # And the candidate's own lists never show the grantee's private note either.
    thread = client.get(f"{API}/experiences/{world.exp_a}/comments", headers=world.owner)
    if SECRETS["private_note"] in thread.get_data(as_text=True):
        failures.append("the candidate was shown a grantee's private note")

    # 3. Revoked (account) and expired (link): every share operation is 410 at once.
    assert (
        client.post(f"{API}/shares/{world.account_share}/revoke", headers=world.owner).status_code
        == 200
    )
    with get_database(app).transaction() as conn:
        conn.execute(
            shares.update()
            .where(shares.c.token_hash != "")
            .where(shares.c.grantee_kind == "link", shares.c.role == "supervisor")
            .values(expires_at=sa.func.current_timestamp())
        )
    for prefix, key, headers in credentials:
        for method, rule in share_routes:
            if rule.startswith(prefix):
                answer = _call(client, method, fill(rule, {**key, **inside}), headers)
                if answer.status_code != 410:
                    failures.append(f"{method} {rule} after the share ended: {answer.status_code}")
    assert swept > 60
    assert failures == []
