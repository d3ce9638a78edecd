"""Fixtures of the single sign-on tests: the test IdP and an app configured for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.db import get_database
from pathfinder.db.setup import init_database
from tests.conftest import AuthActions, make_app
from tests.sso.helpers import SsoActions
from tests.sso.idp import TestIdp, client_config, idp_url


@pytest.fixture(scope="session")
def idp() -> TestIdp:
    return TestIdp(idp_url())


def sso_config(idp: TestIdp, providers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Settings naming the test IdP as ``idp`` and ``idp-short`` (short-lived ID tokens)."""
    entries = {
        "idp": {"issuer": idp.base, "client_id": "pathfinder", "display_name": "Test IdP"},
        "idp-short": {"issuer": idp.base, "client_id": "pathfinder-short"},
    }
    for name, extra in providers.items():
        entries[name] = {**entries.get(name, {}), **extra}
    return {
        "SSO_PROVIDERS": entries,
        "SSO_CLIENT_SECRET_IDP": client_config("pathfinder")["client_secret"],
        "SSO_CLIENT_SECRET_IDP_SHORT": client_config("pathfinder-short")["client_secret"],
        "SSO_CALLBACK_BASE_URL": "http://localhost",
    }


@pytest.fixture
def make_sso_app(database_url: str, tmp_path: Path, idp: TestIdp) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's database, configured for the test IdP (``overrides``
    replace settings, ``providers`` amend provider entries)."""
    made: list[Flask] = []

    def build(providers: dict[str, dict[str, Any]] | None = None, **overrides: Any) -> Flask:
        config = {**sso_config(idp, providers or {}), **overrides}
        app = make_app(database_url, tmp_path / "instance", **config)
        if not made:
            init_database(get_database(app))
        made.append(app)
        return app

    yield build
    for app in made:
        get_database(app).dispose()


@pytest.fixture
def app(make_sso_app: Callable[..., Flask]) -> Flask:
    return make_sso_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def sso(app: Flask, client: FlaskClient, idp: TestIdp) -> SsoActions:
    return SsoActions(app, client, idp)


@pytest.fixture
def auth(app: Flask, client: FlaskClient) -> AuthActions:
    actions = AuthActions(app, client)
    actions.allow_self_registration()
    return actions
