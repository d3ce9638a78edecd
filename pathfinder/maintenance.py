"""Maintenance mode: with the ``maintenance_mode`` system flag on, non-admin routes answer 503.

Runs after the auth guard (so it knows who is calling). Always allowed through: admin and
site-admin routes, any route called by an admin or site admin (they check the service
before opening it again), the health check (load balancers must keep seeing the process
up), and the sign-in endpoints an admin needs to get a token. Everything else gets a
``503 maintenance`` problem with ``Retry-After`` (``MAINTENANCE_RETRY_AFTER_SECONDS``,
default 300).

The flag is read through the evaluator's per-process cache, so the check costs no query
while the cache is warm; switching maintenance on or off takes effect at once in the
process that made the change and within ``FLAG_CACHE_SECONDS`` in the others.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, current_app, request

from pathfinder.api.errors import ServiceUnavailable
from pathfinder.auth.policy import policy_of
from pathfinder.auth.principal import current_principal
from pathfinder.db import get_database
from pathfinder.flags.system import system_flag_from_engine

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER_SECONDS = 300
# Endpoints that stay open: health, and what an admin needs to sign in.
ALWAYS_OPEN = frozenset(
    {"health.health", "auth.login", "auth.login_mfa", "auth.refresh", "auth.logout"}
)


class UnderMaintenance(ServiceUnavailable):
    slug = "maintenance"
    title = "Down for maintenance"


def init_app(app: Flask) -> None:
    """Install the check; register it after the auth guard."""
    app.before_request(_check_maintenance)


def _check_maintenance() -> None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in ALWAYS_OPEN or request.method == "OPTIONS":
        # A preflight refused with 503 would hide the real answer's problem from a
        # browser; the request it announces gets the 503 instead.
        return
    if endpoint.startswith("console."):
        # The console serves admins only (its pages check the role themselves), and its
        # sign-in is how an admin reaches it: open during maintenance like admin routes.
        return
    view = current_app.view_functions.get(endpoint)
    policy = policy_of(view) if view is not None else None
    if policy is not None and policy.role in ("admin", "site_admin"):
        return
    principal = current_principal()
    if principal is not None and principal.has_role("admin"):
        return
    try:
        on = bool(system_flag_from_engine(get_database().engine, "maintenance_mode"))
    except sa.exc.SQLAlchemyError:
        # The database is not answering: the route will report that itself.
        log.warning("maintenance flag unreadable; letting the request through", exc_info=True)
        return
    if on:
        seconds = int(
            current_app.config.get("MAINTENANCE_RETRY_AFTER_SECONDS", DEFAULT_RETRY_AFTER_SECONDS)
        )
        raise UnderMaintenance(
            "Pathfinder is down for maintenance; please try again later.",
            headers={"Retry-After": str(seconds)},
            retry_after=seconds,
        )
