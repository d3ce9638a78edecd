"""Every error leaves as RFC 9457 ``application/problem+json``, never as a stack trace.

Domain code raises :class:`Problem` (or a subclass) with a stable ``type``; plain HTTP
errors (404 for an unknown route, 405, ...) keep ``about:blank`` as RFC 9457 says; anything
unexpected is logged with its traceback and answered as a bare 500 problem.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:pathfinder:problem:"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error a client can act on: status, stable type slug, title, detail, extras."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if status is not None:
            self.status = status
        if slug is not None:
            self.slug = slug
        if title is not None:
            self.title = title
        self.headers = headers or {}
        self.extensions = extensions

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"{PROBLEM_TYPE_PREFIX}{self.slug}",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extensions)
        return body


class Unauthorized(Problem):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        headers = kwargs.pop("headers", None) or {"WWW-Authenticate": "Bearer"}
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(Problem):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(Problem):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(Problem):
    status = 409
    slug = "conflict"
    title = "Conflict"


class TooManyRequests(Problem):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(Problem):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"


def problem_response(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response:
    """Serialise a problem document with the right media type."""
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _handle_problem(error: Problem) -> Response:
    return problem_response(error.to_dict(), error.status, error.headers)


def _handle_http(error: HTTPException) -> Response:
    status = error.code or 500
    body = {"type": "about:blank", "title": error.name, "status": status}
    if error.description:
        body["detail"] = error.description
    headers = {k: v for k, v in error.get_headers() if k.lower() not in ("content-type",)}
    return problem_response(body, status, headers)


def _handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    body = {
        "type": f"{PROBLEM_TYPE_PREFIX}internal-error",
        "title": "Internal server error",
        "status": 500,
        "detail": "The server could not complete the request; it has been logged.",
    }
    return problem_response(body, 500)


def init_app(app: Flask) -> None:
    """Route every error through the problem+json handlers."""
    app.register_error_handler(Problem, _handle_problem)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
