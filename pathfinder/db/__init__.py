"""Database access: the per-app :class:`Database` handle and its Flask wiring."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from pathfinder.config import database_settings
from pathfinder.db.database import Database, TenantNotProvisioned

__all__ = ["Database", "TenantNotProvisioned", "get_database", "init_app"]

_EXTENSION_KEY = "pathfinder.database"
_create_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Register a lazily created :class:`Database` on ``app`` (no connection is opened),
    and give each request's connection back when the request ends."""
    from pathfinder.db import request_scope

    app.extensions[_EXTENSION_KEY] = None
    request_scope.init_app(app)


def get_database(app: Flask | None = None) -> Database:
    """The app's Database, created on first use from its config."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    database = app.extensions.get(_EXTENSION_KEY)
    if database is None:
        with _create_lock:  # two first requests at once must not build two engines
            database = app.extensions.get(_EXTENSION_KEY)
            if database is None:
                database = Database(database_settings(app.config))
                app.extensions[_EXTENSION_KEY] = database
    return database
