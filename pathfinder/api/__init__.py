"""The HTTP API: problem+json errors and the blueprints under ``/api/v1``."""

from __future__ import annotations

from flask import Flask

API_PREFIX = "/api/v1"


def init_app(app: Flask) -> None:
    """Register error handlers and every blueprint."""
    from pathfinder.api import errors, health

    errors.init_app(app)
    app.register_blueprint(health.bp, url_prefix=API_PREFIX)
