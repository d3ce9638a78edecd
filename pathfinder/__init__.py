"""Pathfinder: a career-data API where every user's data lives in tables of their own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from pathfinder.config import DEFAULTS, check_production, resolve_instance_path

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then ``PATHFINDER_*`` environment, then ``config``.

    Does no I/O: no connection is opened and no table is created here; setting up the
    database is the explicit ``pathfinder db init`` command.
    """
    app = Flask(__name__, instance_relative_config=False, static_folder=None)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("PATHFINDER")
    if config:
        app.config.from_mapping(config)
    app.instance_path = str(resolve_instance_path(app.config.get("INSTANCE_PATH")))
    app.config["INSTANCE_PATH"] = app.instance_path
    if app.config.get("PRODUCTION"):
        check_production(app.config)
    proxies = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if proxies > 0:
        # Behind N trusted proxies the client is the N-th X-Forwarded-For entry from the
        # right; anything further left is whatever the client claimed, and is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    from pathfinder import api, audit, cli, console, db, logs, mail, metrics
    from pathfinder.api import ratelimit
    from pathfinder.auth import guard
    from pathfinder.security import unreadable

    logs.init_app(app)
    metrics.init_app(app)  # before the guard: refused requests are timed too
    db.init_app(app)
    mail.init_app(app)
    ratelimit.init_app(app)
    guard.init_app(app)
    api.init_app(app)
    console.init_app(app)
    audit.init_app(app)
    unreadable.init_app(app)
    cli.init_app(app)
    return app
