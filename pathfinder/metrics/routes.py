"""``GET /metrics``: Prometheus text format, for a bearer token or internal addresses only.

Prometheus cannot sign in, so the route is not behind the JWT guard (``@public``) and checks
access itself, before anything is collected:

* ``METRICS_TOKEN`` set: the scrape must send ``Authorization: Bearer <token>`` (compared in
  constant time), from any address;
* otherwise: the client address must be in ``METRICS_ALLOWED_NETWORKS`` (default loopback
  only; behind proxies the address is the one ``TRUSTED_PROXY_COUNT`` resolves).

``METRICS_ENABLED=false`` turns the route into a 404. Scrapes are not written to the audit
log (they would be one row every few seconds of nothing).
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from pathfinder.api.contract import Media, contract
from pathfinder.api.errors import Forbidden, NotFound, Unauthorized
from pathfinder.auth.policy import public
from pathfinder.db import get_database
from pathfinder.metrics.database import DatabaseCollector

METRICS_PATH = "/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

bp = Blueprint("metrics", __name__)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    text = str(current_app.config.get("METRICS_ALLOWED_NETWORKS") or "")
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    ]


def _check_access() -> None:
    if not current_app.config.get("METRICS_ENABLED", True):
        raise NotFound("No such resource.")
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), str(token).encode()
        ):
            raise Unauthorized("Send the metrics token as a bearer token.", slug="metrics-token")
        return
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        address = None
    if address is None or not any(address in network for network in _allowed_networks()):
        raise Forbidden(
            "Metrics are served to internal addresses only (METRICS_ALLOWED_NETWORKS) or "
            "with the metrics token.",
            slug="metrics-forbidden",
        )


def exposition() -> bytes:
    """This process's metrics (or every worker's, in multi-process mode) and the database's."""
    database = CollectorRegistry(auto_describe=True)
    database.register(DatabaseCollector(get_database()))
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
        return generate_latest(workers) + generate_latest(database)
    return generate_latest(REGISTRY) + generate_latest(database)


@bp.get(METRICS_PATH)
@public
@contract(
    responses={
        200: Media(
            "text/plain",
            "Prometheus text exposition format: requests, pool, jobs, tenants, audit sealing.",
        )
    },
    tags=("health",),
)
def metrics() -> ResponseReturnValue:
    """Prometheus metrics; a bearer metrics token or an internal address is required."""
    _check_access()
    return Response(exposition(), status=200, content_type=CONTENT_TYPE_LATEST)
