"""Role changes and the first site admin.

Roles go ``user`` < ``admin`` < ``site_admin``. Only a site admin changes roles, and the last
active site admin can never be demoted: the check locks the site admins' rows so two site
admins demoting each other at the same moment cannot both succeed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth import repo
from pathfinder.auth.errors import LastSiteAdmin
from pathfinder.auth.principal import Principal
from pathfinder.auth.service import RequestMeta, register
from pathfinder.db import get_database


def change_role(actor: Principal, user_id: str, role: str, meta: RequestMeta) -> dict[str, Any]:
    """Set ``user_id``'s role; refuses to leave the platform without a site admin."""
    now = datetime.now(UTC)
    with get_database().transaction() as conn:
        site_admins = repo.count_active_site_admins(conn, lock=True)
        user = repo.get_user_for_update(conn, user_id)
        if user is None or user["account_status"] == "deleted":
            raise NotFound("No such user.")
        old = user["role"]
        if old == "site_admin" and role != "site_admin" and site_admins <= 1:
            raise LastSiteAdmin("Promote another site admin before demoting this one.")
        if old != role:
            repo.update_user(conn, user_id, role=role, updated_at=now)
            audit.record(
                conn,
                "privilege_permissions_changed",
                actor=actor,
                target_type="user",
                target_id=user_id,
                details={"old_role": old, "new_role": role},
                request_meta=meta.as_audit(),
            )
    return {"id": user_id, "username": user["username"], "role": role, "previous_role": old}


def generate_password() -> str:
    """A 24-character random password for the first site admin (shown once)."""
    return secrets.token_urlsafe(18)


def create_site_admin(username: str, email: str, password: str) -> str:
    """Create a site admin with tables and keys, as registration does; returns the user id."""
    return register(
        username=username,
        email=email,
        password=password,
        meta=RequestMeta(ip_address=None, user_agent="pathfinder-cli"),
        role="site_admin",
        invited=True,
        via="cli",
    )
