"""Reading and changing the caller's profile; phone and birth date are encrypted fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth import repo
from pathfinder.auth.principal import Principal
from pathfinder.db import get_database
from pathfinder.profile.schemas import PreferencesUpdate, ProfileUpdate
from pathfinder.security import field_secrets
from pathfinder.security.fields import field_cipher, unreadable_fields

PUBLIC_FIELDS = (
    "id",
    "username",
    "email",
    "email_verified",
    "role",
    "account_status",
    "first_name",
    "last_name",
    "phone_number",
    "phone_verified",
    "avatar_url",
    "date_of_birth",
    "timezone",
    "language",
    "bio",
    "title",
    "company",
    "years_of_experience",
    "mfa_enabled",
    "last_login",
    "total_logins",
    "created_at",
)


def _serialise(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in PUBLIC_FIELDS:
        value = row.get(key)
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    out["phone_verified"] = bool(row.get("phone_verified"))
    out.update(unreadable_fields(row))
    return out


def get_profile(principal: Principal) -> dict[str, Any]:
    """The caller's profile with encrypted fields opened."""
    with get_database().transaction() as conn:
        row = repo.get_user(conn, principal.user_id)
        if row is None:
            raise NotFound("No such user.")
        opened = field_cipher(conn).open_row(
            "pf_users", row, user_id=principal.user_id, tolerant=True
        )
    return _serialise(opened)


def update_profile(principal: Principal, update: ProfileUpdate) -> dict[str, Any]:
    """Apply the fields present in ``update``; sealed before they reach the database."""
    changes: dict[str, Any] = update.model_dump(exclude_unset=True)
    if "date_of_birth" in changes and changes["date_of_birth"] is not None:
        changes["date_of_birth"] = changes["date_of_birth"].isoformat()
    now = datetime.now(UTC)
    with get_database().transaction() as conn:
        if changes:
            stored = repo.get_user_for_update(conn, principal.user_id)
            if stored is None:
                raise NotFound("No such user.")
            if "phone_number" in changes:
                # A new number is not the one anybody verified.
                changes["phone_verified"] = None
            sealed = field_secrets.reseal_user(conn, stored, changes)
            repo.update_user(conn, principal.user_id, **sealed, updated_at=now)
            audit.record(
                conn,
                "user_updated",
                actor=principal,
                target_type="user",
                target_id=principal.user_id,
                details={"fields": sorted(changes)},
            )
        row = repo.get_user(conn, principal.user_id)
        if row is None:
            raise NotFound("No such user.")
        opened = field_cipher(conn).open_row(
            "pf_users", row, user_id=principal.user_id, tolerant=True
        )
    return _serialise(opened)


def get_preferences(principal: Principal) -> dict[str, Any]:
    with get_database().transaction() as conn:
        row = repo.get_preferences(conn, principal.user_id)
    if row is None:
        return {"preferences": {}, "notification_settings": {}, "privacy_settings": {}}
    return {
        "preferences": row["preferences"],
        "notification_settings": row["notification_settings"],
        "privacy_settings": row["privacy_settings"],
        "updated_at": row["updated_at"].isoformat(),
    }


def put_preferences(principal: Principal, update: PreferencesUpdate) -> dict[str, Any]:
    """Replace the three preference documents."""
    with get_database().transaction() as conn:
        repo.put_preferences(conn, principal.user_id, update.model_dump(), datetime.now(UTC))
        audit.record(
            conn,
            "user_updated",
            actor=principal,
            target_type="preferences",
            target_id=principal.user_id,
        )
    return get_preferences(principal)
