"""Signing in with the test IdP through the API, as a browser and its front end would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from pathfinder.db import get_database
from pathfinder.schema.shared.security import audit_log
from tests.sso.idp import TestIdp

SSO = "/api/v1/auth/sso"


class SsoActions:
    def __init__(self, app: Flask, client: FlaskClient, idp: TestIdp) -> None:
        self.app = app
        self.client = client
        self.idp = idp

    def start(self, provider: str = "idp") -> str:
        """The provider's authorization URL the start redirects to."""
        response = self.client.get(f"{SSO}/{provider}/start")
        assert response.status_code == 302, response.get_data(as_text=True)
        return str(response.headers["Location"])

    def at_provider(
        self,
        url: str,
        login: str,
        *,
        amr: Sequence[str] = ("pwd",),
        edit: Callable[[str], str] | None = None,
        consent: bool = True,
    ) -> dict[str, str]:
        return self.idp.authorize(url, login=login, amr=amr, edit=edit, consent=consent)

    def callback(
        self, query: dict[str, str], provider: str = "idp", client: FlaskClient | None = None
    ) -> TestResponse:
        return (client or self.client).get(f"{SSO}/{provider}/callback?{urlencode(query)}")

    def sign_in(self, login: str, provider: str = "idp", **kwargs: Any) -> TestResponse:
        """Start, sign in and consent at the provider, and come back: the callback's answer."""
        return self.callback(self.at_provider(self.start(provider), login, **kwargs), provider)

    def register(self, login: str, username: str, **extra: Any) -> TestResponse:
        offer = self.sign_in(login)
        assert offer.status_code == 200, offer.get_json()
        body = offer.get_json()
        assert body["registration_required"] is True, body
        return self.client.post(
            f"{SSO}/register",
            json={"registration_token": body["registration_token"], "username": username, **extra},
        )

    def link(self, headers: dict[str, str], login: str, **body: Any) -> TestResponse:
        started = self.client.post(f"{SSO}/idp/link", headers=headers, json=body)
        assert started.status_code == 200, started.get_json()
        query = self.at_provider(started.get_json()["authorization_url"], login)
        return self.callback(query)

    def audit_rows(self, event: str) -> list[dict[str, Any]]:
        with get_database(self.app).transaction() as conn:
            rows = conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.event_type == event)
                .order_by(audit_log.c.seq)
            ).mappings()
            return [dict(r) for r in rows]
