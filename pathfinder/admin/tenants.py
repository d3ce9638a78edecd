"""The provisioning registry seen over HTTP: the list, one user's objects, verify, repair
and the template migration's progress.

Every rule is the provisioning engine's (:mod:`pathfinder.provisioning`); this module only
reads its registry and calls ``verify_user`` and ``repair_user``, exactly as
``pathfinder tenants verify`` and ``pathfinder tenants repair`` do. A repair is recorded in
the audit log as a DBA action by the signed-in site admin.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pathfinder import audit
from pathfinder.admin.paging import decode_cursor, encode_cursor
from pathfinder.admin.schemas import TenantListQuery
from pathfinder.api.errors import NotFound
from pathfinder.auth.principal import Principal
from pathfinder.auth.service import provisioner_for
from pathfinder.db import get_database
from pathfinder.provisioning import registry
from pathfinder.provisioning.verify import Drift, repair_user, verify_user
from pathfinder.schema.naming import InvalidUsername, normalize_username
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def tenant_json(record: registry.TenantRecord) -> dict[str, Any]:
    return {
        "username": record.username,
        "state": record.state,
        "template_version": record.template_version,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "requested_at": _iso(record.requested_at),
        "updated_at": _iso(record.updated_at),
        "ready_at": _iso(record.ready_at),
    }


def drift_json(drift: Drift) -> dict[str, Any]:
    body = asdict(drift)
    body["clean"] = drift.clean
    body["findings"] = drift.lines()
    return body


def _username(raw: str) -> str:
    """A registry key from a path: an invalid name cannot be in the registry (404)."""
    try:
        return normalize_username(raw)
    except InvalidUsername as exc:
        raise NotFound("No such user in the provisioning registry.") from exc


def list_tenants(query: TenantListQuery) -> dict[str, Any]:
    """Registry rows by username, filtered by state, template version and name prefix."""
    after = str(decode_cursor(query.cursor, 1)[0]) if query.cursor else None
    with get_database().transaction() as conn:
        rows = registry.list_tenants(
            conn,
            states=[query.state] if query.state else None,
            below_version=query.below_version,
            after=after,
            limit=query.limit + 1,
            starting_with=query.q.lower() if query.q else None,
        )
    items = rows[: query.limit]
    next_cursor = encode_cursor(items[-1].username) if len(rows) > query.limit else None
    return {"items": [tenant_json(r) for r in items], "next_cursor": next_cursor}


def tenant_detail(raw_username: str) -> dict[str, Any]:
    """One user's registry row and the exact objects the engine created for them."""
    username = _username(raw_username)
    with get_database().transaction() as conn:
        record = registry.get_tenant(conn, username)
        if record is None:
            raise NotFound("No such user in the provisioning registry.")
        objects = registry.registered_objects(conn, username)
    return {
        **tenant_json(record),
        "objects": [
            {
                "object_name": o.object_name,
                "object_type": o.object_type,
                "template_part": o.template_part,
                "template_version": o.template_version,
            }
            for o in objects
        ],
    }


def _known(username: str) -> None:
    with get_database().transaction() as conn:
        if registry.get_tenant(conn, username) is None:
            raise NotFound("No such user in the provisioning registry.")


def verify(raw_username: str) -> dict[str, Any]:
    """Compare the user's catalog with the template and the registry (read only)."""
    username = _username(raw_username)
    _known(username)
    return drift_json(verify_user(get_database(), username))


def repair(actor: Principal, raw_username: str) -> dict[str, Any]:
    """Create what is missing and reconcile the registry; never drops anything. Audited as
    a DBA action of ``actor`` (what is left afterwards is in the answer)."""
    username = _username(raw_username)
    _known(username)
    database = get_database()
    try:
        drift = repair_user(database, username, provisioner_for(database))
    except Exception as exc:
        _record_repair(actor, username, "failure", {"error": type(exc).__name__})
        raise
    _record_repair(actor, username, "success", {"clean": drift.clean})
    return drift_json(drift)


def _record_repair(actor: Principal, username: str, outcome: str, details: dict[str, Any]) -> None:
    with get_database().transaction() as conn:
        audit.record(
            conn,
            "sys_dba_action",
            actor=actor,
            target_type="tenant",
            target_display=username,
            outcome=outcome,
            details={"command": "tenants repair", "via": "http", **details},
        )


def migration_status() -> dict[str, Any]:
    """The template migration's progress: ready users per version, how many are behind."""
    with get_database().transaction() as conn:
        by_version = registry.count_by_version(conn)
        by_state = registry.count_by_state(conn)
    ready = sum(by_version.values())
    behind = sum(n for v, n in by_version.items() if v is None or v < LATEST_TEMPLATE_VERSION)
    return {
        "latest_version": LATEST_TEMPLATE_VERSION,
        "ready_users": ready,
        "pending_migration": behind,
        "progress_percent": 100.0 if ready == 0 else round(100.0 * (ready - behind) / ready, 1),
        "by_version": [
            {"template_version": v, "users": n}
            for v, n in sorted(by_version.items(), key=lambda item: item[0] or 0)
        ],
        "by_state": dict(sorted(by_state.items())),
    }
