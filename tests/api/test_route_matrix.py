"""Every route x every role: deny by default, and nobody reaches another user's things.

The test enumerates the app's URL map, so a new route without a declared policy, or with a
path parameter this file does not know how to fill, makes it fail until someone decides
what that route's access rules are.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.auth.policy import policy_of
from pathfinder.auth.principal import ROLE_RANK
from tests.api.foreign_resources import (
    FOREIGN_RESOURCES,
    SHARED_RESOURCES,
    UNKNOWN_ID,
    UNKNOWN_VALUES,
)
from tests.conftest import AuthActions

ROLES = ("user", "admin", "site_admin")
# A well-formed id that names nothing: role checks must answer before any lookup.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every route of the API."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods or ()):
            if method in METHODS:
                found.append((rule.endpoint, method, rule.rule))
    return sorted(found)


def test_every_route_declares_a_policy(app: Flask) -> None:
    missing = [
        endpoint
        for endpoint, _, _ in routes(app)
        if policy_of(app.view_functions[endpoint]) is None
    ]
    assert missing == [], f"routes without @public/@requires: {missing}"


class Matrix:
    """Tokens for each role and another user's resources, built once per test."""

    def __init__(self, auth: AuthActions, client: FlaskClient) -> None:
        self.auth = auth
        self.client = client
        for role in ROLES:
            auth.register(f"matrix_{role}")
            if role != "user":
                auth.set_role(f"matrix_{role}", role)
        self.other_tokens = auth.register("matrix_other")
        self.other_user_id = auth.user_id("matrix_other")
        self.foreign: dict[str, str] = {}

    def foreign_id(self, name: str, rule: str) -> str:
        """Another user's resource for path parameter ``name``, made once through the API."""
        if name not in self.foreign:
            factory = FOREIGN_RESOURCES.get(name)
            if factory is None:
                pytest.fail(f"{rule}: add a factory for <{name}> to tests/api/foreign_resources.py")
            headers = self.auth.headers(self.auth.login("matrix_other"))
            self.foreign[name] = factory(self.client, headers, self.other_tokens)
        return self.foreign[name]

    def headers(self, role: str | None) -> dict[str, str]:
        if role is None:
            return {}
        # A fresh session per call: some routes end the session they are called with.
        return self.auth.headers(self.auth.login(f"matrix_{role}"))

    def path(self, rule: str, *, foreign: bool) -> str:
        """Fill path parameters; ``foreign`` uses another user's resources."""
        path = rule
        while "<" in path:
            start = path.index("<")
            end = path.index(">", start)
            converter, _, name = path[start + 1 : end].rpartition(":")
            if name == "user_id":
                value = self.other_user_id  # admin routes act on other users by design
            elif foreign:
                value = self.foreign_id(name, rule)
            else:
                value = UNKNOWN_VALUES.get(converter, UNKNOWN_ID)
            path = path[:start] + value + path[end + 1 :]
        return path


def _names_shared(rule: str) -> bool:
    return any(re.search(f"<(?:[a-z]+:)?{name}>", rule) for name in SHARED_RESOURCES)


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.open(path, method=method, headers=headers, json={})


def test_route_role_matrix(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    matrix = Matrix(auth, client)
    failures: list[str] = []
    for endpoint, method, rule in routes(app):
        policy = policy_of(app.view_functions[endpoint])
        assert policy is not None
        path = matrix.path(rule, foreign=False)
        anonymous = call(client, method, path, {}).status_code
        if policy.public:
            if anonymous in (401, 403):
                failures.append(f"{method} {rule}: public but anonymous got {anonymous}")
            continue
        if anonymous != 401:
            failures.append(f"{method} {rule}: anonymous got {anonymous}, expected 401")
        for role in ROLES:
            status = call(client, method, path, matrix.headers(role)).status_code
            allowed = ROLE_RANK[role] >= ROLE_RANK[policy.role or "user"]
            if allowed and status in (401, 403):
                failures.append(f"{method} {rule}: {role} got {status}, expected access")
            if not allowed and status != 403:
                failures.append(f"{method} {rule}: {role} got {status}, expected 403")
        if policy.role == "user" and "<" in rule and not _names_shared(rule):
            foreign = call(client, method, matrix.path(rule, foreign=True), matrix.headers("user"))
            if foreign.status_code != 404:
                failures.append(
                    f"{method} {rule}: another user's resource gave {foreign.status_code}, "
                    "expected 404"
                )
    assert failures == []


def test_a_route_without_policy_is_denied(app: Flask) -> None:
    @app.get("/api/v1/forgotten")
    def forgotten() -> str:
        return "secret"

    response = app.test_client().get("/api/v1/forgotten")
    assert response.status_code == 403
    assert response.get_json()["type"].endswith("no-policy")
