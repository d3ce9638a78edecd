"""Schemathesis fuzzes every operation of the OpenAPI document, as a user and as an admin.

Each operation gets ``PATHFINDER_FUZZ_EXAMPLES`` generated requests (default 8; the search is
derandomised, so a CI run is reproducible and a failure replays), sent in-process through
WSGI with a fresh session's bearer token. A failure is a 5xx, a status the document does not
declare, a wrong content type, or a body that breaks its schema; with ``CHECK_CONTRACTS`` on,
the app's own contract check runs too.

Path parameters name real resources of the caller (made through the API, as the route matrix
makes them), so the generated queries and bodies reach the code behind the 404 check; the
route matrix covers unknown and foreign ids. Operations that end the caller's session or
account run last, so they do not blind the rest of the run.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.foreign_resources import FOREIGN_RESOURCES
from tests.conftest import AuthActions

EXAMPLES = int(os.environ.get("PATHFINDER_FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Operations that end the caller's session, credentials or account: fuzzed after the rest.
LAST = ("logout", "password", "deletion", "sessions", "mfa", "suspend", "role")
# Operations that move or freeze the resources other operations are given: fuzzed late.
LATE = ("archive", "restore", "promote", "status", "submissions")


PATH_PARAMETER = re.compile(r"{([^}]+)}")


@schemathesis.serializer("text/csv")
def _csv(context: Any, value: Any) -> bytes:
    """The CSV upload is documented as text; generated text is sent as UTF-8."""
    return str(value).encode("utf-8", "surrogatepass")


def _order(operation: Any) -> tuple[bool, bool, bool, str]:
    """Reads and edits first, then moves, then deletions, then session and account enders."""
    path = operation.path
    return (
        any(word in path for word in LAST),
        operation.method.upper() == "DELETE",
        any(word in path for word in LATE),
        operation.label,
    )


def _made(client: FlaskClient, headers: dict[str, str], path: str, body: Any) -> Any:
    response = client.post(path, headers=headers, json=body)
    assert response.status_code == 201, (path, response.get_json())
    return response.get_json()


def _first(client: FlaskClient, headers: dict[str, str], path: str, key: str) -> str:
    return str(client.get(path, headers=headers).get_json()["items"][0][key])


def _admin_resources(
    client: FlaskClient, headers: dict[str, str], auth: AuthActions
) -> dict[str, str]:
    """Resources the admin routes act on: another user, a group, a flag and its override..."""
    auth.register("fuzz_target")
    target = auth.user_id("fuzz_target")
    flag = {"flag_key": "fuzz_flag", "name": "Fuzz", "flag_type": "boolean", "default_value": False}
    _made(client, headers, "/api/v1/admin/flags", flag)
    override = {"user_id": target, "value": True, "reason": "fuzz"}
    invitation = {"invitations": [{"email": "fuzz.invitee@example.com"}]}
    return {
        "user_id": target,
        "group_id": str(_made(client, headers, "/api/v1/admin/groups", {"name": "fuzz"})["id"]),
        "flag_key": "fuzz_flag",
        "override_id": str(
            _made(client, headers, "/api/v1/admin/flags/fuzz_flag/overrides", override)["id"]
        ),
        "invitation_id": str(
            _made(client, headers, "/api/v1/admin/invitations", invitation)["created"][0]["id"]
        ),
        "ref_skill_id": _first(client, headers, "/api/v1/ref/skills?limit=1", "id"),
        "career_path_id": _first(client, headers, "/api/v1/ref/career-paths?limit=1", "id"),
    }


def _resources(client: FlaskClient, auth: AuthActions, username: str, role: str) -> dict[str, str]:
    """A real value for each path parameter the caller can reach."""
    tokens = auth.login(username)
    headers = auth.headers(tokens)
    values = {name: make(client, headers, tokens) for name, make in FOREIGN_RESOURCES.items()}
    if role != "user":
        values.update(_admin_resources(client, headers, auth))
    return values


def _fuzz(operation: Any, headers: dict[str, str], known: dict[str, str]) -> None:
    """Send the operation's generated cases; raises on the first failing check."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(path_parameters=known or None))
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


@pytest.mark.parametrize("role", ["user", "admin"])
def test_fuzz_every_operation(
    app: Flask, client: FlaskClient, auth: AuthActions, role: str
) -> None:
    username = f"fuzz_{role}"
    # Generated wrong passwords and codes count towards the lockout; the fuzzer signs in
    # again before each operation, so the lock must not engage here.
    app.config["LOCKOUT_THRESHOLD"] = 10**6
    auth.register(username)
    if role != "user":
        auth.set_role(username, role)
    resources = _resources(client, auth, username, role)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    assert len(operations) > 100
    failures: list[str] = []
    for operation in operations:
        headers = auth.headers(auth.login(username))
        known = {
            name: resources[name]
            for name in PATH_PARAMETER.findall(operation.path)
            if name in resources
        }

        try:
            _fuzz(operation, headers, known)
        except Exception as exc:  # noqa: BLE001 - every failing operation is reported at once
            failures.append(f"{operation.label}: {exc}")
    assert failures == [], "\n\n".join(failures)
