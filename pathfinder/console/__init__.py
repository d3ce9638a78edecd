"""The admin and DBA console: server-rendered pages under ``/console``.

Plain HTML forms and Jinja templates, served with their stylesheet by the app itself (no
build step, nothing from a CDN). Every page calls the same services as the JSON API, so
every rule (who may act on whom, what an invitation may grant, what a flag accepts) is the
services' and exists once.
"""

from __future__ import annotations

from flask import Flask

from pathfinder.console.blueprint import bp
from pathfinder.console.session import ConsoleSessionInterface

__all__ = ["init_app"]

CONSOLE_DEFAULTS = {
    # Signed out after this long without a request, and this long after signing in at most.
    "CONSOLE_IDLE_MINUTES": 30,
    "CONSOLE_ABSOLUTE_HOURS": 8,
}


def init_app(app: Flask) -> None:
    """Install the console's cookie session and register its pages."""
    for key, value in CONSOLE_DEFAULTS.items():
        app.config.setdefault(key, value)
    app.session_interface = ConsoleSessionInterface()
    from pathfinder.console import (  # noqa: F401 - each module adds its pages to bp
        audit_pages,
        dashboard,
        flag_pages,
        invitation_pages,
        job_pages,
        signin,
        tenant_pages,
        user_pages,
    )

    app.register_blueprint(bp)
