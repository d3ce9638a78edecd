"""Time every request and count it by route template, method and status.

The label is the route's *template* (``/api/v1/me/experiences/<career_experience_id>``),
never the path, so ids do not make a new series per request; a request no route matches is
``unmatched``. The hook is installed before the auth guard's, so a request refused by the
guard (401/403) is timed too.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from pathfinder.metrics.instruments import HTTP_LATENCY, HTTP_REQUESTS

UNMATCHED = "unmatched"


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    labels = (route, request.method, str(response.status_code))
    HTTP_REQUESTS.labels(*labels).inc()
    if started is not None:
        HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
