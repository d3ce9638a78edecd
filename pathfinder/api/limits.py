"""Request size: a body larger than ``MAX_CONTENT_LENGTH`` is a 413 problem, never parsed.

Before, a 30 MB body was read and parsed as JSON by any route that takes one. Now:

* a declared ``Content-Length`` above the limit is refused before the auth guard and before
  any hook reads the body, on every route (a route that takes no body gets the same answer,
  so the limit is one rule, not a per-route accident);
* a body sent without a length (``Transfer-Encoding: chunked``) is read here, up to the
  limit, and refused when a byte follows. Werkzeug stops reading such a body at the limit
  but *silently*: the view would see a truncated document and report it as malformed.

The limit is Flask's own ``MAX_CONTENT_LENGTH`` setting (``PATHFINDER_MAX_CONTENT_LENGTH``),
default 1 MiB (``pathfinder.config``).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from pathfinder.api.errors import Problem, problem_response


class PayloadTooLarge(Problem):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


def body_limit() -> int | None:
    """The configured limit in bytes, or None when the operator turned it off."""
    value = current_app.config.get("MAX_CONTENT_LENGTH")
    return int(value) if value else None


def _too_large(limit: int | None) -> PayloadTooLarge:
    extras = {"max_bytes": limit} if limit else {}
    size = f"{limit:,} bytes" if limit else "the limit"
    return PayloadTooLarge(f"The request body is larger than {size}.", **extras)


def refuse_oversized_body() -> None:
    """``before_request``: a body above the limit is refused, a declared one unread."""
    limit = body_limit()
    if limit is None:
        return
    length = request.content_length
    if length is not None:
        if length > limit:
            raise _too_large(limit)
        return
    if request.environ.get("wsgi.input_terminated"):
        # A chunked body: read it (at most ``limit`` bytes, kept for the view and for form
        # parsing), then look for one byte more on the server's own stream.
        data = request.get_data(cache=True)
        if len(data) >= limit and request.environ["wsgi.input"].read(1):
            raise _too_large(limit)


def _handle_too_large(_error: RequestEntityTooLarge) -> Response:
    problem = _too_large(body_limit())
    return problem_response(problem.to_dict(), problem.status, problem.headers)


def init_app(app: Flask) -> None:
    """Check body sizes first (before the auth guard) and answer Werkzeug's 413 as ours."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized_body)
    app.register_error_handler(RequestEntityTooLarge, _handle_too_large)
