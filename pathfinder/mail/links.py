"""What an e-mail asks its reader to do, and where its link points.

Mailed links used to point at pages nothing served (``/invitations/<token>``,
``/verify-email?token=``, on the API's own address). Each action a mail asks for is now
declared once here, with two ways to reach it:

* ``FRONTEND_BASE_URL`` set (a web front end serves people): the link is a page of that
  front end, one of :data:`FRONTEND_PAGES` (``docs/api.md``, "Links in e-mails", lists them
  as the contract the front end implements: each page calls the API operation beside it);
* unset (the API is used directly): the mail gives the API request itself, on
  ``PUBLIC_BASE_URL`` (the address clients reach the API at), and a link to a ``GET``
  operation that shows what the token is for, where one exists; where this server has a
  page of its own for the action (an invitation's ``/console/join/<token>``), that link
  comes first, for a reader with nothing but a browser.

Both settings are checked at start-up (:func:`check_base_urls`): an absolute http(s) URL
without query or fragment; a trailing slash is ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from pathfinder.config import ConfigurationError

API_PREFIX = "/api/v1"
# How a mail introduces a link to this server's own page, and to an operation to look at.
IN_A_BROWSER = "In a browser: "
SEE_IT = "See it: "
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"


@dataclass(frozen=True)
class MailAction:
    """One thing a mail asks for: the front-end page, and the API operation behind it.

    ``"{token}"`` in ``page``, ``api_path``, ``preview``, ``own_page`` or a ``body`` value
    is replaced by the mail's token; ``"<...>"`` body values are for the reader to fill in.
    ``own_page`` is a page this server serves (under ``PUBLIC_BASE_URL``) for the action.
    """

    page: str
    method: str
    api_path: str
    body: Mapping[str, str] = field(default_factory=dict)
    preview: str | None = None
    signed_in: bool = False
    own_page: str | None = None


ACTIONS: Mapping[str, MailAction] = {
    "accept_invitation": MailAction(
        page="/invitations/{token}",
        method="POST",
        api_path="/invitations/{token}/accept",
        body={"username": "<a username>", "password": "<a password>"},
        preview="/invitations/{token}",
        own_page="/console/join/{token}",
    ),
    "verify_email": MailAction(
        page="/verify-email?token={token}",
        method="POST",
        api_path="/auth/email/verify",
        body={"token": "{token}"},
    ),
    "reset_password": MailAction(
        page="/reset-password?token={token}",
        method="POST",
        api_path="/auth/password/reset",
        body={"token": "{token}", "new_password": "<your new password>"},
    ),
    "confirm_email_change": MailAction(
        page="/confirm-email?token={token}",
        method="POST",
        api_path="/auth/email/confirm",
        body={"token": "{token}"},
    ),
    "see_cpa_reports": MailAction(
        page="/cpa/reports",
        method="GET",
        api_path="/cpa/reports",
        signed_in=True,
    ),
    "cancel_deletion": MailAction(
        page="/account/deletion",
        method="DELETE",
        api_path="/me/deletion",
        preview="/me/deletion",
        signed_in=True,
    ),
    "accept_cpa_share": MailAction(
        page="/cpa/share-invitations?token={token}",
        method="POST",
        api_path="/cpa/share-invitations/accept",
        body={"token": "{token}"},
        signed_in=True,
    ),
    "open_cpa_link": MailAction(
        page="/cpa/links/{token}",
        method="GET",
        api_path="/cpa/links/{token}",
    ),
}
"""Every action a mail may ask for, by name."""

FRONTEND_PAGES: Mapping[str, str] = {name: action.page for name, action in ACTIONS.items()}
"""The front-end pages mails link to when ``FRONTEND_BASE_URL`` is set."""


def _base_url(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"PATHFINDER_{name} must be an absolute http(s) URL without query or fragment"
        )
    return text


def check_base_urls(config: Mapping[str, Any]) -> None:
    """Start-up check of ``PUBLIC_BASE_URL`` and ``FRONTEND_BASE_URL`` (raises when bad)."""
    _base_url("PUBLIC_BASE_URL", config.get("PUBLIC_BASE_URL"))
    _base_url("FRONTEND_BASE_URL", config.get("FRONTEND_BASE_URL"))


def public_base_url() -> str:
    """Where clients reach the API (scheme, host, optional path; no trailing slash)."""
    configured = _base_url("PUBLIC_BASE_URL", current_app.config.get("PUBLIC_BASE_URL"))
    return configured or DEFAULT_PUBLIC_BASE_URL


def frontend_base_url() -> str | None:
    """The web front end's base URL, or None when the API is used directly."""
    return _base_url("FRONTEND_BASE_URL", current_app.config.get("FRONTEND_BASE_URL"))


def _fill(template: str, token: str | None) -> str:
    return template.replace("{token}", token or "")


def action_text(name: str, token: str | None = None) -> str:
    """The lines a mail gives for action ``name``: a page link, or the API request."""
    action = ACTIONS[name]
    frontend = frontend_base_url()
    if frontend is not None:
        return f"{frontend}{_fill(action.page, token)}"
    api = f"{public_base_url()}{API_PREFIX}"
    lines = []
    if action.own_page is not None:
        lines += [f"{IN_A_BROWSER}{public_base_url()}{_fill(action.own_page, token)}", ""]
    if action.preview is not None:
        lines += [f"{SEE_IT}{api}{_fill(action.preview, token)}", ""]
    lines.append(f"{action.method} {api}{_fill(action.api_path, token)}")
    if action.signed_in:
        lines.append("Authorization: Bearer <your access token, from signing in>")
    if action.body:
        body = {key: _fill(value, token) for key, value in action.body.items()}
        lines += ["Content-Type: application/json", "", json.dumps(body)]
    return "\n".join(lines)


_REQUEST_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (\S+)$", re.MULTILINE)


def requests_in(body: str) -> list[tuple[str, str]]:
    """(method, URL) of each request or link a mail body gives, in order of appearance.

    An ``In a browser:`` or ``See it:`` link, or a bare URL, is a ``GET``. Kept beside
    :func:`action_text`, the format it reads, so the tests that follow every mailed link
    cannot drift from it.
    """
    found = []
    for line in body.splitlines():
        line = line.strip().removeprefix(SEE_IT).removeprefix(IN_A_BROWSER)
        match = _REQUEST_LINE.match(line)
        if match:
            found.append((match.group(1), match.group(2)))
        elif re.fullmatch(r"https?://\S+", line):
            found.append(("GET", line))
    return found
