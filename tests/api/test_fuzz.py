"""Schemathesis fuzzes every operation of the OpenAPI document, as a user and as an admin.

Each operation gets ``PATHFINDER_FUZZ_EXAMPLES`` generated requests (default 8; the search is
derandomised, so a CI run is reproducible and a failure replays), sent in-process through
WSGI with a fresh session's bearer token. A failure is a 5xx, a status the document does not
declare, a wrong content type, or a body that breaks its schema; with ``CHECK_CONTRACTS`` on,
the app's own contract check runs too. Operations that end the caller's session or account
run last, so they do not blind the rest of the run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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


def _order(operation: Any) -> tuple[bool, str]:
    return (any(word in operation.path for word in LAST), operation.label)


@pytest.mark.parametrize("role", ["user", "admin"])
def test_fuzz_every_operation(app: Flask, auth: AuthActions, role: str) -> None:
    username = f"fuzz_{role}"
    auth.register(username)
    if role != "user":
        auth.set_role(username, role)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    assert len(operations) > 1
    failures: list[str] = []
    for operation in operations:
        headers = auth.headers(auth.login(username))

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:  # noqa: BLE001 - every failing operation is reported at once
            failures.append(f"{operation.label}: {exc}")
    assert failures == [], "\n\n".join(failures)
