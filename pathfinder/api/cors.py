"""Cross-origin access for browser clients, through flask-cors, from an allow-list only.

A browser application served from another origin (``https://app.example.com``) may call the
API only when that origin is in ``CORS_ORIGINS``. Nothing is allowed by default: without the
setting no response carries a CORS header, so a page on another site cannot read answers.

* Origins are exact (``scheme://host[:port]``, no path, no trailing slash: what a browser
  sends in ``Origin``). ``*`` allows every origin; it is refused together with
  ``CORS_ALLOW_CREDENTIALS`` in production, because flask-cors then echoes any origin *with*
  credentials, which is every site on the Internet reading signed-in answers.
* Credentials (cookies, HTTP authentication) are off by default: the API reads a bearer
  token from ``Authorization``, which a browser sends on a cross-origin request whatever this
  setting says, so a browser client does not need them.
* Only the headers a client needs are allowed and exposed (:data:`ALLOW_HEADERS`,
  :data:`EXPOSE_HEADERS`); a preflight answer may be cached for ``CORS_MAX_AGE`` seconds.

Preflight ``OPTIONS`` requests are answered by Flask's automatic ``OPTIONS`` handling before
any view runs; the auth guard, maintenance check and request audit let them through (an
``OPTIONS`` request carries no credentials and changes nothing).
"""

from __future__ import annotations

import logging

from flask import Flask, Response
from flask_cors import CORS

from pathfinder.config import cors_origins, flag

log = logging.getLogger(__name__)

# Request headers a browser client may send on a cross-origin request.
ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Request-Id",
)
# Response headers a browser client may read (the CORS-safelisted ones need no listing):
# Retry-After on 429/503, Location of a created resource, ETag for conditional updates,
# X-Request-Id for a support ticket, Content-Disposition for a download's file name,
# Idempotent-Replayed to tell a replayed create from a new one.
EXPOSE_HEADERS = (
    "Content-Disposition",
    "ETag",
    "Idempotent-Replayed",
    "Location",
    "Retry-After",
    "X-Request-Id",
)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_MAX_AGE_SECONDS = 600


def init_app(app: Flask) -> None:
    """Install flask-cors for the allowed origins; with none, install nothing."""
    origins = cors_origins(app.config.get("CORS_ORIGINS"))
    if not origins:
        return
    credentials = flag(app.config.get("CORS_ALLOW_CREDENTIALS"))
    if "*" in origins and credentials:
        log.warning("CORS allows every origin with credentials; production refuses this")
    # Registered first so that it runs after flask-cors's own hook (Flask runs after-request
    # hooks in reverse order) and sees the Vary header flask-cors may have added.
    app.after_request(_vary_on_origin)
    # Every option is passed explicitly: flask-cors also reads CORS_* keys of the app's
    # config, and our settings (a comma-separated string) are not in its format.
    CORS(
        app,
        resources={r"/api/*": {}},
        origins="*" if "*" in origins else origins,
        methods=list(METHODS),
        allow_headers=list(ALLOW_HEADERS),
        expose_headers=list(EXPOSE_HEADERS),
        supports_credentials=credentials,
        max_age=int(app.config.get("CORS_MAX_AGE", DEFAULT_MAX_AGE_SECONDS)),
        # Only a request from an allowed origin gets CORS headers; flask-cors would
        # otherwise list every allowed origin on requests that send no Origin at all.
        always_send=False,
        send_wildcard=False,
        vary_header=True,
        automatic_options=True,
    )


def _vary_on_origin(response: Response) -> Response:
    """``Vary: Origin`` on every answer: whether CORS headers are present depends on it.

    flask-cors adds it only when several origins could match; with one allowed origin a
    shared cache could otherwise serve an answer without the headers to the allowed site.
    """
    vary = {part.strip().lower() for part in response.headers.get("Vary", "").split(",")}
    if "origin" not in vary:
        response.headers.add("Vary", "Origin")
    return response
