"""``GET /api/v1/health``: is the service up, which database, which schema versions."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import ResponseModel, contract
from pathfinder.auth.policy import public
from pathfinder.db import get_database
from pathfinder.db.setup import database_status
from pathfinder.schema.shared import SHARED_SCHEMA_VERSION
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION

bp = Blueprint("health", __name__)


class DatabaseState(ResponseModel):
    dialect: str
    reachable: bool
    initialised: bool


class CodeVersions(ResponseModel):
    """The schema versions this code expects (compare with the database's)."""

    shared_schema_version: int
    template_version: int


class Health(ResponseModel):
    status: Literal["ok", "degraded"]
    database: DatabaseState
    shared_schema_version: int | None
    template_version: int | None
    code: CodeVersions


class ReadinessChecks(ResponseModel):
    database: bool
    key_provider: bool


class Readiness(ResponseModel):
    status: Literal["ready", "not_ready"]
    checks: ReadinessChecks


@bp.get("/health")
@public
@contract(responses={200: Health, 503: Health}, tags=("health",))
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


@bp.get("/ready")
@public
@contract(responses={200: Readiness, 503: Readiness}, tags=("health",))
def ready() -> ResponseReturnValue:
    """Readiness: the database answers with an initialised schema and the key provider works.

    A load balancer sends traffic only to instances that answer 200 here; `/health` is
    the liveness check (the process is up).
    """
    from flask import current_app

    from pathfinder.security.keys import key_provider_from_config

    status = database_status(get_database())
    checks: dict[str, object] = {
        "database": status.reachable and status.shared_schema_version is not None
    }
    try:
        provider = key_provider_from_config(current_app.config)
        probe = b"\x00" * 32
        version, wrapped = provider.wrap(probe, b"pathfinder-readiness")
        checks["key_provider"] = provider.unwrap(version, wrapped, b"pathfinder-readiness") == probe
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said plainly
        current_app.logger.warning("key provider not ready: %s", type(exc).__name__)
        checks["key_provider"] = False
    ok = all(bool(v) for v in checks.values())
    return jsonify({"status": "ready" if ok else "not_ready", "checks": checks}), 200 if ok else 503
