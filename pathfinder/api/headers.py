"""Security headers on every answer, set in one place.

* ``Cache-Control: no-store`` on every API answer that does not choose its own: answers
  carry tokens, personal data and decrypted fields, and no browser, proxy or CDN should
  keep them (the docs page's static assets keep their own caching).
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and a
  ``Content-Security-Policy`` that allows nothing for JSON (``default-src 'none'``) and only
  the app's own scripts, styles and images for the docs page (Swagger UI sets inline styles,
  hence ``style-src 'unsafe-inline'``; its start-up script is a file, so no inline script).
  ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` keep every page out of frames.
* ``Strict-Transport-Security`` in production mode (``HSTS_SECONDS``, 0 to leave it to the
  proxy): the API is only ever served over TLS there.

A header a view has already set is left alone.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def init_app(app: Flask, *, docs_path: str) -> None:
    """Add the headers to every answer of ``app``; ``docs_path`` is the docs page's URL."""

    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        on_docs = request.path == docs_path or request.path.startswith(docs_path + "/")
        headers.setdefault("Content-Security-Policy", DOCS_CSP if on_docs else API_CSP)
        if "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"
        seconds = int(current_app.config.get("HSTS_SECONDS", 63_072_000))
        if current_app.config.get("PRODUCTION") and seconds > 0:
            headers.setdefault("Strict-Transport-Security", f"max-age={seconds}; includeSubDomains")
        return response

    app.after_request(add_security_headers)
