"""Schemathesis against gunicorn on PostgreSQL, as a client sees the API: zero failures.

The schemathesis command line runs every check (``--checks all`` and our own
``documented_rules_only``, ``tests/api/fuzz_hooks.py``) over the examples, coverage,
fuzzing and stateful phases, first as a signed-in user, then as an admin, against
``pathfinder serve`` (gunicorn, two workers, ``CHECK_CONTRACTS`` on, so the server also
checks its own answers and a break is a 500). The stateful phase follows the document's
``links``: it creates resources and acts on them (read, change, delete, then read again).
The other phases draw path ids from resources made beforehand, mixed with generated ones.

How the checks are configured, and why (``docs/api.md``, "Fuzzing"):

* ``positive_data_acceptance`` also accepts 412 (a well-formed ``If-Match`` naming another
  version is a precondition outcome, like the 409 it accepts by default) and 422, which
  ``documented_rules_only`` then narrows: a 422 to a schema-valid request must name only
  rules the operation documents beyond its schema (``x-pathfinder-rules``).
* ``object_level_authorization`` needs a second account's credentials in schemathesis' own
  auth file format; cross-user access is covered by ``tests/api/test_route_matrix.py``,
  which calls every route with another user's resources. It finds nothing to do here.
* ``status_code_conformance`` passes any status: every operation documents a ``default``
  problem answer. ``content_type_conformance`` and ``response_schema_conformance`` are what
  hold errors to problem+json.

Bounded for CI: ``PATHFINDER_FUZZ_EXAMPLES`` (default 5) examples per operation and phase,
``PATHFINDER_FUZZ_STATEFUL_STEPS`` (default 10) steps per stateful scenario and a time
budget per role. ``docs/api.md`` gives the measured cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from pathfinder.db import get_database
from tests.api.foreign_resources import FOREIGN_RESOURCES
from tests.conftest import DEFAULT_PASSWORD, AuthActions, empty_database, make_app
from tests.live import live_server, prepare_database

pytestmark = [pytest.mark.fuzz, pytest.mark.postgres, pytest.mark.slow]

EXAMPLES = int(os.environ.get("PATHFINDER_FUZZ_EXAMPLES", "5"))
STATEFUL_STEPS = int(os.environ.get("PATHFINDER_FUZZ_STATEFUL_STEPS", "10"))
STATEFUL_SCENARIOS = int(os.environ.get("PATHFINDER_FUZZ_STATEFUL_SCENARIOS", "30"))
# A run over this many seconds (per role) is stopped and fails: the examples and steps
# above bound the work, this bounds a server that hangs.
TIMEOUT_SECONDS = int(os.environ.get("PATHFINDER_FUZZ_TIMEOUT", "1200"))
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
# The run signs in many times and sends wrong passwords on purpose: neither the rate
# limits nor the lockout (tested elsewhere) may stop it.
SERVER_SETTINGS = {
    "CHECK_CONTRACTS": "true",
    "LOCKOUT_THRESHOLD": "1000000",
    "RATELIMIT_LOGIN": "1000000 per minute",
    "RATELIMIT_LOGIN_ACCOUNT": "1000000 per minute",
    "RATELIMIT_REGISTER": "1000000 per minute",
    "RATELIMIT_REFRESH": "1000000 per minute",
    "RATELIMIT_PASSWORD_RESET": "1000000 per minute",
    "RATELIMIT_PASSWORD_RESET_ACCOUNT": "1000000 per minute",
}
# Who runs what. The admin takes every operation, public ones included; the user takes
# those whose least role is `user` (the document's `x-pathfinder-role`): an admin
# operation only answers a user 403, which tests/api/test_route_matrix.py checks for each.
ROLES = (
    ("user", "fuzz_user", ("--exclude-by", "/x-pathfinder-role != user")),
    ("admin", "fuzz_admin", ()),
)
# Drawn from the prepared resources this often; otherwise generated (unknown ids, 404).
KNOWN_ID_PROBABILITY = 0.8


def _made(client: FlaskClient, headers: dict[str, str], path: str, body: Any) -> Any:
    response = client.post(path, headers=headers, json=body)
    assert response.status_code == 201, (path, response.get_json())
    return response.get_json()


def _first(client: FlaskClient, headers: dict[str, str], path: str) -> str:
    return str(client.get(path, headers=headers).get_json()["items"][0]["id"])


def prepare_resources(database_url: str, instance: Path) -> dict[str, dict[str, list[str]]]:
    """The two accounts and, per role, real values for the path parameters it can reach.

    Made through the API in-process (the same database and instance the server uses): the
    user's own resources of every kind, and for the admin another user, a group, a flag with
    an override and an invitation.
    """
    app = make_app(database_url, instance)
    client = app.test_client()
    auth = AuthActions(app, client)
    auth.register("fuzz_user")
    auth.register("fuzz_admin")
    auth.set_role("fuzz_admin", "admin")
    auth.register("fuzz_target")
    tokens = auth.login("fuzz_user")
    headers = auth.headers(tokens)
    user = {
        name: [make(client, headers, tokens)]
        for name, make in FOREIGN_RESOURCES.items()
        if name != "session_id"  # ending the session in use would blind the run
    }
    admin_headers = auth.headers(auth.login("fuzz_admin"))
    flag = {"flag_key": "fuzz_flag", "name": "Fuzz", "flag_type": "boolean", "default_value": False}
    _made(client, admin_headers, "/api/v1/admin/flags", flag)
    target = auth.user_id("fuzz_target")
    override = {"user_id": target, "value": True, "reason": "fuzz"}
    invitation = {"invitations": [{"email": "fuzz.invitee@example.com"}]}
    admin = {
        "user_id": [target],
        "group_id": [
            str(_made(client, admin_headers, "/api/v1/admin/groups", {"name": "f"})["id"])
        ],
        "flag_key": ["fuzz_flag"],
        "override_id": [
            str(
                _made(client, admin_headers, "/api/v1/admin/flags/fuzz_flag/overrides", override)[
                    "id"
                ]
            )
        ],
        "invitation_id": [
            str(
                _made(client, admin_headers, "/api/v1/admin/invitations", invitation)["created"][0][
                    "id"
                ]
            )
        ],
        "ref_skill_id": [_first(client, admin_headers, "/api/v1/ref/skills?limit=1")],
        "career_path_id": [_first(client, admin_headers, "/api/v1/ref/career-paths?limit=1")],
    }
    get_database(app).dispose()
    return {"user": user, "admin": {**user, **admin}}


def _toml(value: Any) -> str:
    """A TOML value: JSON's strings, numbers and booleans are TOML's too."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def run_config(origin: str, username: str, known: Mapping[str, list[str]], reports: Path) -> str:
    """The schemathesis configuration file (TOML) of one role's run."""
    lines = [
        f"base-url = {_toml(origin)}",
        # One at a time: the coverage phase's generators hit a CPython 3.11 race in `ast`
        # ("AST constructor recursion depth mismatch") when several workers describe
        # strategies at once, a schemathesis error rather than a finding.
        "workers = 1",
        # A shared CI machine can be slow: a slow answer is not what this run looks for.
        "request-timeout = 60",
        f"hooks = {_toml(str(HOOKS))}",
        "",
        "[auth]",
        "auto-signup = false",
        "",
        "[auth.dynamic.openapi.bearerAuth]",
        'path = "/api/v1/auth/login"',
        f"payload = {_toml({'login': username, 'password': DEFAULT_PASSWORD})}",
        'extract_selector = "/access_token"',
        "",
        "[generation]",
        f"max-examples = {EXAMPLES}",
        "deterministic = true",
        'database = "none"',
        "",
        "[phases.examples]",
        "enabled = true",
        "[phases.coverage]",
        "enabled = true",
        "[phases.fuzzing]",
        "enabled = true",
        "[phases.stateful]",
        "enabled = true",
        f"max-steps = {STATEFUL_STEPS}",
        "[phases.stateful.generation]",
        f"max-examples = {STATEFUL_SCENARIOS}",
        "",
        "[checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429"]',
        "",
        "[reports]",
        f"directory = {_toml(str(reports))}",
        "[reports.junit]",
        "enabled = true",
        "",
    ]
    for name in known:
        lines += [f"[dictionaries.{name}]", f"values = {_toml(known[name])}", ""]
    lines.append("[parameters]")
    for name in known:
        binding = {"dictionary": name, "probability": KNOWN_ID_PROBABILITY}
        lines.append(f"{_toml('path.' + name)} = {_toml(binding)}")
    return "\n".join(lines) + "\n"


def run_schemathesis(base: str, config: Path, *filters: str) -> tuple[int, str, float]:
    """``st run`` over the served document; its exit code, output and duration."""
    started = time.monotonic()
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(config),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--no-color",
            *filters,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_schemathesis_finds_nothing(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    instance = tmp_path / "instance"
    with empty_database("postgresql", tmp_path, request) as database_url:
        prepare_database(database_url, instance)
        known = prepare_resources(database_url, instance)
        with live_server(database_url, instance, SERVER_SETTINGS, workers=2) as server:
            origin = server.base.removesuffix("/api/v1")
            outcomes = []
            for role, username, filters in ROLES:
                config = tmp_path / f"{role}.toml"
                reports = tmp_path / f"reports-{role}"
                config.write_text(run_config(origin, username, known[role], reports))
                code, output, seconds = run_schemathesis(server.base, config, *filters)
                (tmp_path / f"schemathesis-{role}.txt").write_text(output)
                summary = output[output.rfind("=== SUMMARY ===") :] or output[-3000:]
                print(f"\n--- schemathesis as {role}: exit {code}, {seconds:.0f} s\n{summary}")
                outcomes.append((role, code, output))
    failed = [
        f"as {role} (exit {code}):\n{output[-20000:]}" for role, code, output in outcomes if code
    ]
    assert failed == [], "\n\n".join(failed)
