"""The HTTP API: problem+json errors and the blueprints under ``/api/v1``."""

from __future__ import annotations

from flask import Flask

API_PREFIX = "/api/v1"


def init_app(app: Flask) -> None:
    """Register error handlers and every blueprint."""
    from pathfinder.admin import routes as admin_routes
    from pathfinder.api import errors, health
    from pathfinder.audit import routes as audit_routes
    from pathfinder.auth import routes as auth_routes
    from pathfinder.jobs import routes as jobs_routes
    from pathfinder.profile import routes as profile_routes

    errors.init_app(app)
    app.register_blueprint(health.bp, url_prefix=API_PREFIX)
    app.register_blueprint(auth_routes.bp, url_prefix=f"{API_PREFIX}/auth")
    app.register_blueprint(profile_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(admin_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(jobs_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(audit_routes.bp, url_prefix=API_PREFIX)
