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
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'instance' / 'pathfinder.db'}"
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


def pg_url_with_schema(base: str, schema: str) -> str:
    """``base`` with its search_path pinned to ``schema`` (for subprocess tests)."""
    return f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
