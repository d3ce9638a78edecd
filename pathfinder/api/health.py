"""``GET /api/v1/health``: is the service up, which database, which schema versions."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.auth.policy import public
from pathfinder.db import get_database
from pathfinder.db.setup import database_status
from pathfinder.schema.shared import SHARED_SCHEMA_VERSION
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION

bp = Blueprint("health", __name__)


@bp.get("/health")
@public
def health() -> ResponseReturnValue:
    """Report liveness and the database's state; 503 when the database does not answer.

    Public by design (load balancers call it); it reveals versions, never data or secrets.
    """
    status = database_status(get_database())
    ok = status.reachable and status.shared_schema_version is not None
    body = {
        "status": "ok" if ok else "degraded",
        "database": {
            "dialect": status.dialect,
            "reachable": status.reachable,
            "initialised": status.shared_schema_version is not None,
        },
        "shared_schema_version": status.shared_schema_version,
        "template_version": status.template_version,
        "code": {
            "shared_schema_version": SHARED_SCHEMA_VERSION,
            "template_version": LATEST_TEMPLATE_VERSION,
        },
    }
    return jsonify(body), 200 if ok else 503
