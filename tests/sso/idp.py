"""The test identity provider (``tests/oidc/provider.mjs``), driven over plain HTTP.

``scripts/test.sh`` installs ``oidc-provider`` from npm into a temporary folder, starts the
provider on a free loopback port and exports its URL as ``PATHFINDER_TEST_OIDC_URL``. Without
it the single sign-on tests skip with that reason (and fail when
``PATHFINDER_TEST_REQUIRE_OIDC`` says the provider should be there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests

OIDC_URL_ENV = "PATHFINDER_TEST_OIDC_URL"
REQUIRE_OIDC_ENV = "PATHFINDER_TEST_REQUIRE_OIDC"
CONFIG = json.loads((Path(__file__).parents[1] / "oidc" / "provider.json").read_text())
# Where the provider sends the browser back: the Flask test client's host.
APP_BASE = "http://localhost"


def idp_url() -> str:
    url = os.environ.get(OIDC_URL_ENV)
    if not url:
        if os.environ.get(REQUIRE_OIDC_ENV):
            pytest.fail(f"{REQUIRE_OIDC_ENV} is set but {OIDC_URL_ENV} is not", pytrace=False)
        pytest.skip(
            f"{OIDC_URL_ENV} is not set: single sign-on tests need the oidc-provider test IdP "
            "(scripts/test.sh starts it)"
        )
    try:
        requests.get(f"{url}/__test/health", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"the test IdP at {url} does not answer: {exc}", pytrace=False)
    return url


def client_config(client_id: str) -> dict[str, Any]:
    return next(c for c in CONFIG["clients"] if c["client_id"] == client_id)


class TestIdp:
    """Sign-in and consent at the provider, as a browser would do them, with ``requests``."""

    __test__ = False  # not a test class

    def __init__(self, base: str) -> None:
        self.base = base

    def authorize(
        self,
        authorization_url: str,
        *,
        login: str,
        amr: Sequence[str] = ("pwd",),
        consent: bool = True,
        edit: Callable[[str], str] | None = None,
    ) -> dict[str, str]:
        """From the authorization URL to the redirect back to the app: its query."""
        browser = requests.Session()
        url = edit(authorization_url) if edit else authorization_url
        response = browser.get(url, allow_redirects=False, timeout=10)
        for _ in range(12):
            assert response.status_code in (302, 303), (response.status_code, response.text)
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(APP_BASE + "/"):
                return dict(parse_qsl(urlsplit(location).query))
            if "/interaction/" not in location:
                response = browser.get(location, allow_redirects=False, timeout=10)
                continue
            prompt = browser.get(location, timeout=10).json()["prompt"]
            if prompt == "login":
                action, body = "login", {"login": login, "amr": list(amr)}
            elif consent:
                action, body = "confirm", {}
            else:
                action, body = "abort", {}
            response = browser.post(
                f"{location}/{action}", json=body, allow_redirects=False, timeout=10
            )
        raise AssertionError("the provider never sent the browser back")

    def rotate_keys(self) -> str:
        """Replace the provider's signing key; returns the new key id."""
        response = requests.post(f"{self.base}/__test/rotate-keys", timeout=10)
        response.raise_for_status()
        return str(response.json()["kid"])
