"""One ``request`` audit row per API request, and the request id every row can share.

Before the request: start a timer and make a request id (a ULID, returned to the client
as ``X-Request-Id`` so a support ticket can name the exact rows). The hook is put first in
the app's before-request list, ahead of the auth guard, so a request the guard refuses is
timed and identified too. After the request (last after-request hook, so the status is the
final one): note the status and elapsed time. At teardown: prepare the row, after the
request's own unit of work has committed or rolled back, and hand it to the writer.

What the row holds: principal (``current_principal()``), method, path, status, client
address, user agent, execution time. The query string is never stored: it may carry a
token (a reset link, an OAuth code), and a path segment bound to a URL variable whose name
looks secret (``/reset/<token>``) is stored as ``[redacted]``.

Failing to write the row is logged and never reaches the client: the response has been
computed by then, and an audit outage must not turn successful requests into errors. The
row is prepared in the request and inserted with others by the worker's writer
(:mod:`pathfinder.audit.request_rows`) within ``AUDIT_REQUEST_FLUSH_SECONDS``.
``/api/v1/health`` and ``/metrics`` are not logged (load balancers and Prometheus poll them
every few seconds), nor are ``OPTIONS`` requests (a browser's CORS preflight before each
cross-origin call: no credentials, no view runs, nothing changes), and nothing is written
when ``AUDIT_REQUESTS`` is false.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, g, has_request_context, request

from pathfinder.audit.record import prepare_row
from pathfinder.audit.request_rows import request_row_writer
from pathfinder.audit.sanitise import is_secret_key
from pathfinder.auth.principal import current_principal
from pathfinder.db import get_database
from pathfinder.ids import new_id

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
EXCLUDED_PATHS = frozenset({"/api/v1/health", "/metrics"})
USER_AGENT_LIMIT = 500
_STATE_KEY = "_pf_audit_request"
_RULE_VARIABLE_RE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


@dataclass(frozen=True)
class RequestMeta:
    """Request fields of an audit row, for callers building them outside a request."""

    request_id: str | None = None
    http_method: str | None = None
    request_path: str | None = None
    status_code: int | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    execution_ms: int | None = None

    def as_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class _RequestState:
    request_id: str
    started: float
    audited: bool
    status_code: int | None = None
    execution_ms: int | None = None


def init_app(app: Flask) -> None:
    """Time, identify and audit every request of ``app``."""
    # First before-request hook: runs even when a later one (the auth guard) refuses.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    # After-request hooks run in reverse order: index 0 runs last and sees the final status.
    app.after_request_funcs.setdefault(None, []).insert(0, _finish_request)
    app.teardown_request(_write_request_row)


def current_request_id() -> str | None:
    """This request's id (also in ``X-Request-Id``), or None outside a request."""
    if not has_request_context():
        return None
    state: _RequestState | None = g.get(_STATE_KEY)
    return state.request_id if state is not None else None


def current_request_fields() -> dict[str, Any]:
    """The request fields ``audit.record`` fills in when its caller does not give them."""
    if not has_request_context():
        return {}
    return {
        "request_id": current_request_id(),
        "http_method": request.method,
        "request_path": safe_path(),
        "ip_address": request.remote_addr,
        "user_agent": _user_agent(),
    }


def safe_path() -> str:
    """The request path with no query string and secret-named URL variables redacted."""
    rule = request.url_rule
    args = request.view_args or {}
    if rule is None or not any(is_secret_key(name) for name in args):
        return request.path

    def segment(match: re.Match[str]) -> str:
        name = match.group(1)
        if is_secret_key(name):
            return "[redacted]"
        return quote(str(args.get(name, "")), safe="")

    return (request.script_root or "") + _RULE_VARIABLE_RE.sub(segment, rule.rule)


def _user_agent() -> str | None:
    agent = request.user_agent.string
    return agent[:USER_AGENT_LIMIT] if agent else None


def _start_request() -> None:
    audited = bool(current_app.config.get("AUDIT_REQUESTS", True))
    g.setdefault(
        _STATE_KEY,
        _RequestState(
            request_id=new_id(),
            started=time.perf_counter(),
            audited=audited and request.path not in EXCLUDED_PATHS and request.method != "OPTIONS",
        ),
    )


def _finish_request(response: Response) -> Response:
    state: _RequestState | None = g.get(_STATE_KEY)
    if state is not None:
        state.status_code = response.status_code
        state.execution_ms = round((time.perf_counter() - state.started) * 1000)
        response.headers[REQUEST_ID_HEADER] = state.request_id
    return response


def _write_request_row(exc: BaseException | None) -> None:
    """Teardown: write the request's row; log, never raise, when that fails.

    Requests whose before-request hook never ran (a test request context pushed by hand)
    have no state and are not logged.
    """
    state: _RequestState | None = g.pop(_STATE_KEY, None)
    if state is None or not state.audited:
        return
    if state.status_code is None:  # the response was never made: an unhandled error
        state.status_code = 500
        state.execution_ms = round((time.perf_counter() - state.started) * 1000)
    try:
        _insert_request_row(state)
    except Exception as error:  # an audit outage must not fail the request
        log.error(
            "could not write the request audit row (request_id=%s): %s",
            state.request_id,
            type(error).__name__,
            exc_info=True,
        )


def _insert_request_row(state: _RequestState) -> None:
    rule = request.url_rule
    details: Mapping[str, Any] | None = {"route": rule.rule} if rule is not None else None
    status = state.status_code or 500
    row = prepare_row(
        "request",
        actor=current_principal(),
        outcome="success" if status < 400 else "failure",
        details=details,
        request_meta={
            "request_id": state.request_id,
            "http_method": request.method,
            "request_path": safe_path(),
            "status_code": status,
            "ip_address": request.remote_addr,
            "user_agent": _user_agent(),
            "execution_ms": state.execution_ms,
        },
    )
    # Batched per worker (pathfinder.audit.request_rows): the request's work has committed.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    request_row_writer(app, get_database()).add(row)
