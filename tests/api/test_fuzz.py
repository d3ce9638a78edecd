"""Schemathesis against gunicorn on PostgreSQL, as a client sees the API: zero failures.

The schemathesis command line runs every check (``--checks all`` and our own
``documented_rules_only``, ``tests/api/fuzz_hooks.py``) over the examples, coverage,
fuzzing and stateful phases, first as a signed-in user (the user's and the public
operations), then as a site admin (the administrators' operations), against
``pathfinder serve`` (gunicorn, two workers, ``CHECK_CONTRACTS`` on, so the server also
checks its own answers and a break is a 500). The examples phase sends the document's
examples; the stateful phase follows the document's ``links``: it creates resources and
acts on them (read, change, delete, then read again). The other phases draw path ids from
resources made beforehand, mixed with generated ones.

How the checks are configured, and why (``docs/api.md``, "Fuzzing"):

* ``positive_data_acceptance`` also accepts 410 (a resource that has ended, such as a
  revoked share's link, is refused like one that does not exist, whatever the request
  holds; ``negative_data_rejection`` counts it as a refusal too), 412 (a well-formed
  ``If-Match`` naming another version is a precondition outcome, like the 409 it accepts
  by default) and 422, which ``documented_rules_only`` then narrows: a 422 to a
  schema-valid request must name only rules the operation documents beyond its schema
  (``x-pathfinder-rules``).
* ``object_level_authorization`` needs a second account's credentials in schemathesis' own
  auth file format; cross-user access is covered by ``tests/api/test_route_matrix.py``,
  which calls every route with another user's resources. It finds nothing to do here.
* ``status_code_conformance`` passes any status: every operation documents a ``default``
  problem answer. ``content_type_conformance`` and ``response_schema_conformance`` are what
  hold errors to problem+json.
* Error feedback is off: with it, schemathesis rewrites the schemas it generates from after
  the server's error messages (a rule's "must not be null" makes the field "required"), then
  reports the server for accepting a body the document allows. The run tests the document.

Bounded for CI: ``PATHFINDER_FUZZ_EXAMPLES`` (default 5) examples per operation and phase,
``PATHFINDER_FUZZ_STATEFUL_STEPS`` (default 10) steps per stateful scenario, 30 scenarios
and a time limit per role; derandomised, so a run is reproducible and a failure replays.
``PATHFINDER_FUZZ_SEED`` runs with that seed instead (a longer campaign by hand:
``docs/api.md``, "Fuzzing"). ``docs/api.md`` gives the measured cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import get_database
from pathfinder.schema.shared.messaging import outbox
from tests.admin import link_token
from tests.api.foreign_resources import FOREIGN_RESOURCES
from tests.conftest import DEFAULT_PASSWORD, AuthActions, empty_database, make_app
from tests.live import live_server, prepare_database

pytestmark = [pytest.mark.fuzz, pytest.mark.postgres, pytest.mark.slow]

EXAMPLES = int(os.environ.get("PATHFINDER_FUZZ_EXAMPLES", "5"))
STATEFUL_STEPS = int(os.environ.get("PATHFINDER_FUZZ_STATEFUL_STEPS", "10"))
STATEFUL_SCENARIOS = int(os.environ.get("PATHFINDER_FUZZ_STATEFUL_SCENARIOS", "30"))
# Unset: derandomised (the same cases every run). A number: a random run with that seed.
SEED = os.environ.get("PATHFINDER_FUZZ_SEED")
# A run over this many seconds (per role) is stopped and fails: the examples and steps
# above bound the work (about a minute per role), this bounds a server that hangs.
TIMEOUT_SECONDS = int(os.environ.get("PATHFINDER_FUZZ_TIMEOUT", "600"))
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
    "RATELIMIT_SHARE_LINK": "1000000 per minute",
}
# Who runs what, by the least role the document gives each operation (`x-pathfinder-role`;
# public operations have `security: []`). The user takes the user's and the public ones,
# the admin (a site admin) the administrators'. Each operation runs once: a user's
# operation answers an admin as it answers any user, and an admin's answers a user 403,
# which tests/api/test_route_matrix.py checks for every route and role.
ROLES: dict[str, tuple[str, ...]] = {
    "user": ('/x-pathfinder-role == "admin"', '/x-pathfinder-role == "site_admin"'),
    "admin": ('/x-pathfinder-role == "user"', "/security == []"),
}
# Drawn from the prepared resources this often; otherwise generated (unknown ids, 404).
KNOWN_ID_PROBABILITY = 0.8
# Operations that remove what they are given (delete it, archive it, restore an archived
# one, promote a draft, revoke a share, decline an invitation, suspend a user or change
# their role) take resources of their own: given the others', the first to succeed would
# leave every later operation a 404.
SPENT = r"^(DELETE .*|POST .*/(archive|restore|promote|revoke|decline|suspend)|PUT .*/role)$"


def _made(client: FlaskClient, headers: dict[str, str], path: str, body: Any) -> Any:
    response = client.post(path, headers=headers, json=body)
    assert response.status_code == 201, (path, response.get_json())
    return response.get_json()


def _listed(client: FlaskClient, headers: dict[str, str], path: str, index: int) -> str:
    return str(client.get(path, headers=headers).get_json()["items"][index]["id"])


def _user_resources(
    client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]
) -> dict[str, str]:
    """One of the user's resources of every kind (those the route matrix makes)."""
    return {
        name: make(client, headers, tokens)
        for name, make in FOREIGN_RESOURCES.items()
        if name != "session_id"  # ending the session in use would blind the run
    }


def _admin_resources(
    client: FlaskClient,
    headers: dict[str, str],
    target_user: tuple[str, str],
    tag: str,
    index: int,
) -> dict[str, str]:
    """An admin's resources: ``target`` (another user's id and username), a group, a flag
    with an override on the target, an invitation, and the ``index``-th catalogue skill and
    career path."""
    target, username = target_user
    flag_key = f"fuzz_flag_{tag}"
    flag = {"flag_key": flag_key, "name": "Fuzz", "flag_type": "boolean", "default_value": False}
    _made(client, headers, "/api/v1/admin/flags", flag)
    override = {"user_id": target, "value": True, "reason": "fuzz"}
    invitation = {"invitations": [{"email": f"fuzz.{tag}@example.com"}]}
    return {
        "user_id": target,
        "username": username,
        "group_id": str(_made(client, headers, "/api/v1/admin/groups", {"name": tag})["id"]),
        "flag_key": flag_key,
        "override_id": str(
            _made(client, headers, f"/api/v1/admin/flags/{flag_key}/overrides", override)["id"]
        ),
        "invitation_id": str(
            _made(client, headers, "/api/v1/admin/invitations", invitation)["created"][0]["id"]
        ),
        "ref_skill_id": _listed(client, headers, "/api/v1/ref/skills?limit=2", index),
        "career_path_id": _listed(client, headers, "/api/v1/ref/career-paths?limit=2", index),
    }


def _link_share(name: str) -> dict[str, Any]:
    """A mentor's link to the whole CPA record, commenting allowed, for 30 days."""
    return {
        "report_id": None,
        "role": "mentor",
        "scope": "comment",
        "grantee_kind": "link",
        "email": f"{name}.mentor@example.com",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }


def _invitation_token(app: Any, recipient: str) -> str:
    """The token of the invitation mailed to ``recipient`` (the development outbox)."""
    with get_database(app).transaction() as conn:
        mailed = conn.execute(
            sa.select(outbox.c.body).where(
                outbox.c.recipient == recipient, outbox.c.template == "invitation"
            )
        ).scalar_one()
    return link_token(mailed, "invitations")


def prepare_resources(database_url: str, instance: Path) -> dict[str, dict[str, list[str]]]:
    """The two accounts and, per role, real values for the path parameters it can reach.

    Made through the API in-process (the same database and instance the server uses): for
    the user, resources of every kind and the tokens of a mailed invitation and an export
    download; for the admin, another user, a group, a flag with an override, an invitation
    and catalogue entries. Each parameter ``name`` gets two sets (:data:`SPENT`): ``name``
    for the operations that read and change, ``spent_name`` for those that remove.
    """
    app = make_app(database_url, instance)
    client = app.test_client()
    auth = AuthActions(app, client)
    auth.register("fuzz_user")
    auth.register("fuzz_admin")
    auth.set_role("fuzz_admin", "site_admin")
    tokens = auth.login("fuzz_user")
    headers = auth.headers(tokens)
    admin_headers = auth.headers(auth.login("fuzz_admin"))
    # The daily chat quota (a flag, 50 messages) would make every later message a 429.
    quota = client.patch(
        "/api/v1/admin/flags/chat_daily_message_limit",
        headers=admin_headers,
        json={"default_value": 1_000_000},
    )
    assert quota.status_code == 200, quota.get_json()
    user: dict[str, list[str]] = {}
    admin: dict[str, list[str]] = {}
    for index, tag in enumerate(("kept", "spent")):
        prefix = "spent_" if tag == "spent" else ""
        for name, value in _user_resources(client, headers, tokens).items():
            user[prefix + name] = [value]
        target = f"fuzz_target_{tag}"
        auth.register(target)
        made = _admin_resources(client, admin_headers, (auth.user_id(target), target), tag, index)
        for name, value in made.items():
            admin[prefix + name] = [value]
        # The public routes of links (the user's run takes the public operations): a mailed
        # invitation, an export download and a mentor's link to the user's CPA record.
        export = _made(client, headers, "/api/v1/me/export", None)
        share = _made(client, headers, "/api/v1/cpa/shares", _link_share(f"fuzz.{tag}"))
        user[prefix + "token"] = [
            _invitation_token(app, f"fuzz.{tag}@example.com"),
            link_token(export["download_url"], "exports"),
            str(share["link_token"]),
        ]
    get_database(app).dispose()
    return {"user": user, "admin": admin}


def _toml(value: Any) -> str:
    """A TOML value: JSON's strings, numbers and booleans are TOML's too."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def run_config(
    origin: str,
    username: str,
    known: Mapping[str, list[str]],
    excluded: tuple[str, ...],
    reports: Path,
) -> str:
    """The schemathesis configuration file (TOML) of one role's run.

    ``excluded``: filter expressions (``/x-pathfinder-role == "admin"``) of the operations
    this role leaves out.
    """
    lines = [
        f"base-url = {_toml(origin)}",
        *([f"seed = {int(SEED)}"] if SEED else []),
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
        f"deterministic = {'false' if SEED else 'true'}",
        'database = "none"',
        "",
        "[phases.examples]",
        "enabled = true",
        "[phases.coverage]",
        "enabled = true",
        "[phases.fuzzing]",
        "enabled = true",
        # Not learning from error messages (see the module): the run tests the document.
        "[phases.fuzzing.error-feedback]",
        "enabled = false",
        "[phases.stateful]",
        "enabled = true",
        f"max-steps = {STATEFUL_STEPS}",
        "[phases.stateful.generation]",
        f"max-examples = {STATEFUL_SCENARIOS}",
        "",
        "[checks.positive_data_acceptance]",
        "expected-statuses = "
        + _toml(["2xx", "3xx", "401", "403", "404", "409", "410", "412", "422", "429"]),
        "",
        # schemathesis' own list, and 410: a resource that has ended (a revoked share's
        # link) is refused as one that does not exist (404) is, whatever the request holds.
        "[checks.negative_data_rejection]",
        "expected-statuses = "
        + _toml(
            ["400", "401", "403", "404", "405", "406", "409", "410", "415", "422", "428", "429"]
            + ["5xx"]
        ),
        "",
        "[reports]",
        f"directory = {_toml(str(reports))}",
        "[reports.junit]",
        "enabled = true",
        "",
    ]
    for name in known:
        lines += [f"[dictionaries.{name}]", f"values = {_toml(known[name])}", ""]
    kept = [name for name in known if not name.startswith("spent_")]
    lines.append("[parameters]")
    for name in kept:
        binding = {"dictionary": name, "probability": KNOWN_ID_PROBABILITY}
        lines.append(f"{_toml('path.' + name)} = {_toml(binding)}")
    lines += ["", "[[operations]]", f"include-name-regex = {_toml(SPENT)}"]
    lines.append("[operations.parameters]")
    for name in kept:
        binding = {"dictionary": f"spent_{name}", "probability": KNOWN_ID_PROBABILITY}
        lines.append(f"{_toml('path.' + name)} = {_toml(binding)}")
    for expression in excluded:
        lines += ["", "[[operations]]", f"include-by = {_toml(expression)}", "enabled = false"]
    return "\n".join(lines) + "\n"


def run_schemathesis(base: str, config: Path) -> tuple[int, str, float]:
    """``st run`` over the served document; its exit code, output and duration."""
    started = time.monotonic()
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--no-color",
    ]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            cwd=config.parent,  # its cache (.schemathesis/) stays out of the work tree
        )
    except subprocess.TimeoutExpired as exc:
        output = "".join(
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (exc.stdout, exc.stderr)
        )
        return -1, f"{output}\nstopped after {TIMEOUT_SECONDS} s", time.monotonic() - started
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_schemathesis_finds_nothing(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    instance = tmp_path / "instance"
    with empty_database("postgresql", tmp_path, request) as database_url:
        prepare_database(database_url, instance)
        known = prepare_resources(database_url, instance)
        with live_server(database_url, instance, SERVER_SETTINGS, workers=2) as server:
            origin = server.base.removesuffix("/api/v1")
            outcomes = []
            for role, excluded in ROLES.items():
                config = tmp_path / f"{role}.toml"
                reports = tmp_path / f"reports-{role}"
                config.write_text(
                    run_config(origin, f"fuzz_{role}", known[role], excluded, reports)
                )
                code, output, seconds = run_schemathesis(server.base, config)
                (tmp_path / f"schemathesis-{role}.txt").write_text(output)
                summary = output[output.rfind("=== SUMMARY ===") :] or output[-3000:]
                print(f"\n--- schemathesis as {role}: exit {code}, {seconds:.0f} s\n{summary}")
                outcomes.append((role, code, output))
    failed = [
        f"as {role} (exit {code}):\n{output[-20000:]}" for role, code, output in outcomes if code
    ]
    assert failed == [], "\n\n".join(failed)
