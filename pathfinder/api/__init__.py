"""The HTTP API: problem+json errors and the blueprints under ``/api/v1``."""

from __future__ import annotations

from flask import Flask

API_PREFIX = "/api/v1"


def init_app(app: Flask) -> None:
    """Register error handlers and every blueprint."""
    from pathfinder import maintenance
    from pathfinder.admin import account_routes, tenant_routes
    from pathfinder.admin import routes as admin_routes
    from pathfinder.analytics import routes as analytics_routes
    from pathfinder.api import (
        cors,
        errors,
        headers,
        health,
        idempotency,
        limits,
        openapi,
        preconditions,
        validation,
    )
    from pathfinder.api.fields import IdConverter, TokenConverter
    from pathfinder.audit import routes as audit_routes
    from pathfinder.auth import routes as auth_routes
    from pathfinder.career import routes as career_routes
    from pathfinder.chat import routes as chat_routes
    from pathfinder.cpa import people_routes as cpa_people_routes
    from pathfinder.cpa import routes as cpa_routes
    from pathfinder.flags import routes as flags_routes
    from pathfinder.jobs import routes as jobs_routes
    from pathfinder.profile import routes as profile_routes
    from pathfinder.reference import routes as reference_routes
    from pathfinder.retention import routes as retention_routes
    from pathfinder.sso import routes as sso_routes

    # Before any blueprint: their rules are compiled with the converter as they are added.
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["token"] = TokenConverter
    app.url_map.converters["flag_key"] = flags_routes.FlagKeyConverter
    app.url_map.converters["username"] = tenant_routes.UsernameConverter
    app.url_map.converters["sso_provider"] = sso_routes.ProviderConverter
    errors.init_app(app)
    limits.init_app(app)
    idempotency.init_app(app)  # after the auth guard (create_app installs it first)
    app.json = validation.BoundedJSONProvider(app)
    app.before_request(validation.reject_nul_characters)
    app.register_blueprint(health.bp, url_prefix=API_PREFIX)
    app.register_blueprint(auth_routes.bp, url_prefix=f"{API_PREFIX}/auth")
    app.register_blueprint(sso_routes.bp, url_prefix=f"{API_PREFIX}/auth/sso")
    app.register_blueprint(profile_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(admin_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(account_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(tenant_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(flags_routes.bp, url_prefix=API_PREFIX)
    maintenance.init_app(app)  # after the auth guard: it needs the caller's role
    app.register_blueprint(chat_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(analytics_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(jobs_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(audit_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(career_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(cpa_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(cpa_people_routes.bp, url_prefix=API_PREFIX)
    app.register_blueprint(reference_routes.bp, url_prefix=API_PREFIX)
    app.before_request(validation.refuse_missing_body)  # after the guard and maintenance
    app.register_blueprint(retention_routes.bp, url_prefix=API_PREFIX)
    preconditions.init_app(app)  # wraps the PATCH/PUT views: after every blueprint
    openapi.init_app(app, url_prefix=API_PREFIX)
    headers.init_app(app, docs_path=f"{API_PREFIX}/docs")
    cors.init_app(app)
