"""Fixtures: every database test runs on SQLite and on a real PostgreSQL server.

``backend`` is parametrised, so a test that asks for ``app``, ``db`` or ``client`` runs once
per back-end. PostgreSQL comes from ``PATHFINDER_TEST_PG_URL`` (``scripts/test.sh`` starts a
throw-away server and sets it); each test gets a fresh PostgreSQL schema, dropped afterwards,
and each SQLite test a fresh folder. Without the variable the PostgreSQL runs are skipped with
that reason, unless ``PATHFINDER_TEST_REQUIRE_PG`` is set, when they fail: CI never reports a
PostgreSQL run that did not happen as passed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder import create_app
from pathfinder.db import Database, get_database
from pathfinder.db.setup import init_database

PG_URL_ENV = "PATHFINDER_TEST_PG_URL"
REQUIRE_PG_ENV = "PATHFINDER_TEST_REQUIRE_PG"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_base_url() -> str | None:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get(REQUIRE_PG_ENV):
            pytest.fail(f"{REQUIRE_PG_ENV} is set but {PG_URL_ENV} is not", pytrace=False)
        pytest.skip(f"{PG_URL_ENV} is not set: PostgreSQL runs need a server (scripts/test.sh)")
    return url


@pytest.fixture(scope="session")
def pg_admin_engine() -> Iterator[sa.Engine]:
    """A connection pool to the test server for creating and dropping per-test schemas."""
    engine = sa.create_engine(_pg_base_url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to an empty database of the chosen back-end, removed after the test."""
    with empty_database(backend, tmp_path, request) as url:
        yield url


@contextmanager
def empty_database(backend: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to an empty database: a file under ``folder/instance`` or a fresh PostgreSQL
    schema, dropped on exit. A context manager so fixtures of any scope can share it."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'instance' / 'pathfinder.db'}"
        return
    admin: sa.Engine = request.getfixturevalue("pg_admin_engine")
    schema = f"t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    base = sa.engine.make_url(_pg_base_url())
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))


def make_app(database_url: str, instance_path: Path, **overrides: Any) -> Flask:
    """An app on ``database_url`` with test settings; does not touch the database."""
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance_path),
        "PROVISIONING_WAIT_SECONDS": 30,
        # Every answer and parsed request is checked against its route's contract.
        "CHECK_CONTRACTS": True,
        # Cheap argon2 parameters: the suite hashes hundreds of passwords.
        "PASSWORD_HASH_PROFILE": "fast",
        # Limits high enough for flows; tests of the limiter set their own.
        "RATELIMIT_LOGIN": "10000 per minute",
        "RATELIMIT_REGISTER": "10000 per minute",
        "RATELIMIT_REFRESH": "10000 per minute",
        "RATELIMIT_PASSWORD_RESET": "10000 per minute",
        "RATELIMIT_LOGIN_ACCOUNT": "10000 per minute",
        "RATELIMIT_PASSWORD_RESET_ACCOUNT": "10000 per minute",
        "RATELIMIT_SHARE_LINK": "10000 per minute",
        # Request audit rows written at once, so a test reads them right after its request;
        # tests/audit/test_request_rows.py covers the batched writer.
        "AUDIT_REQUEST_FLUSH_SECONDS": 0,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app whose database has been initialised with ``pathfinder db init``'s code."""
    application = make_app(database_url, tmp_path / "instance")
    database = get_database(application)
    init_database(database)
    yield application
    database.dispose()


@pytest.fixture
def db(app: Flask) -> Database:
    return get_database(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


DEFAULT_PASSWORD = "correct horse battery staple"


class AuthActions:
    """Register, sign in and build headers through the real HTTP API (flaskr's ``auth``)."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    def allow_self_registration(self) -> None:
        from pathfinder.flags.system import set_system_flag

        with get_database(self.app).transaction() as conn:
            set_system_flag(conn, "self_registration_enabled", True)

    def register(
        self, username: str, password: str = DEFAULT_PASSWORD, email: str | None = None
    ) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "email": email or f"{username}@example.com",
                "password": password,
            },
        )
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    def login(self, login: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/auth/login", json={"login": login, "password": password}
        )
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    @staticmethod
    def headers(tokens: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    def user_id(self, username: str) -> str:
        from pathfinder.auth.repo import find_user_by_login

        with get_database(self.app).transaction() as conn:
            row = find_user_by_login(conn, username)
        assert row is not None
        return str(row["id"])

    def set_role(self, username: str, role: str) -> None:
        from pathfinder.auth.repo import update_user

        user_id = self.user_id(username)
        with get_database(self.app).transaction() as conn:
            update_user(conn, user_id, role=role)


@pytest.fixture
def auth(app: Flask, client: FlaskClient) -> AuthActions:
    """Auth helper with self-registration switched on."""
    actions = AuthActions(app, client)
    actions.allow_self_registration()
    return actions
