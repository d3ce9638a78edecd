"""Prometheus metrics: ``GET /metrics`` in the text exposition format.

* :mod:`~.instruments`: the counters, histograms and gauges this process updates (requests,
  the connection pool, provisioning and migrations);
* :mod:`~.http`: times every request, labelled by route template, method and status;
* :mod:`~.pool`: follows each engine's pool (connections checked out, overflow);
* :mod:`~.database`: what only the database knows, read at scrape time (job runs and
  failures, audit sealing lag, tenants by state and template version), so a scheduler or a
  DBA command in another process or on another host is counted too;
* :mod:`~.routes`: the endpoint, open to a bearer token or to internal addresses only.

Under gunicorn every worker is a process of its own: ``gunicorn.conf.py`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start, each worker writes its values there,
and a scrape of any worker adds them up (prometheus-client's multi-process mode).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Time requests (before any other hook can answer) and serve ``/metrics``."""
    from pathfinder.metrics import http, routes

    http.init_app(app)
    app.register_blueprint(routes.bp)
