"""Helpers for the console tests: a browser-like client that keeps the cookie and the
form token, and signs in through the console's own form."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import DEFAULT_PASSWORD, AuthActions

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """The test client used as a browser: GET pages, POST their forms with the token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.client.get(path, **kwargs)
        found = TOKEN.search(response.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not self.token:
            self.get("/console/sign-in")
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def sign_in(self, login: str, password: str = DEFAULT_PASSWORD) -> Any:
        self.get("/console/sign-in")
        return self.post("/console/sign-in", {"login": login, "password": password})


def console_admin(
    auth: AuthActions, client: FlaskClient, username: str, role: str = "admin"
) -> Browser:
    """Register ``username`` with ``role`` and sign them in to the console."""
    auth.register(username)
    auth.set_role(username, role)
    browser = Browser(client)
    response = browser.sign_in(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    browser.get("/console/")
    return browser


def text_of(response: Any) -> str:
    return str(response.get_data(as_text=True))
