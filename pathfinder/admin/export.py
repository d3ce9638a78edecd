"""GDPR export: everything the platform holds about one user, downloadable once.

The document has the profile (encrypted fields opened), preferences, sessions (metadata,
never token hashes), linked sign-in providers (never their OAuth tokens), feature-flag
overrides, the invitation that brought them in, **every per-user table** (found by
iterating the user's Table objects at their provisioned template version, so a table
added by a later template version is exported without touching this code; encrypted
columns opened through the field registry), CPA PER/PERT data, product analytics events,
and the audit events where they are the actor or the target.

The file goes to ``<instance>/exports/`` (mode 0600) as JSON, or as a zip when the JSON is
larger than ``EXPORT_ZIP_THRESHOLD_BYTES``. Its link carries a 256-bit token; the file is
named after the token's SHA-256 (the token itself is stored nowhere), expires after
``EXPORT_LINK_HOURS`` and works once: the first download claims it with an atomic rename,
so two concurrent downloads cannot both get it, and the file is deleted as it is sent.
The instance folder must therefore be shared by the workers that serve the API.
"""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.admin.settings import setting
from pathfinder.admin.users import check_authority, target_user
from pathfinder.api.errors import NotFound
from pathfinder.auth import repo as auth_repo
from pathfinder.auth.principal import Principal
from pathfinder.db import Database, get_database
from pathfinder.provisioning.registry import get_tenant
from pathfinder.schema.shared import cpa, cpa_sharing
from pathfinder.schema.shared.analytics import user_analytics
from pathfinder.schema.shared.flags import feature_flags, user_feature_flags
from pathfinder.schema.shared.identity import (
    sso_accounts,
    user_invitations,
    user_preferences,
    user_sessions,
)
from pathfinder.schema.shared.security import audit_log
from pathfinder.security.fields import (
    ENCRYPTED_COLUMNS,
    UNREADABLE,
    field_cipher,
    unreadable_fields,
)
from pathfinder.security.tokens import new_token, token_hash

FORMAT_VERSION = 1
EXPORT_DIR = "exports"
# Columns that are credentials or key material, never exported even to their owner.
SECRET_USER_COLUMNS = ("password_hash", "mfa_secret", "mfa_last_timestep")
MEDIA_TYPES = {"json": "application/json", "zip": "application/zip"}


class ExportUnavailable(NotFound):
    slug = "export-unavailable"
    title = "Export not available"


@dataclass(frozen=True)
class ExportLink:
    token: str
    expires_at: datetime
    format: str
    size_bytes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "download_url": f"/api/v1/exports/{self.token}",
            "expires_at": self.expires_at.isoformat(),
            "format": self.format,
            "size_bytes": self.size_bytes,
        }


def utcnow() -> datetime:
    return datetime.now(UTC)


def _plain(value: Any) -> Any:
    """JSON for values the drivers return (instants, days, decimals, bytes)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot export a {type(value).__name__}")


def _rows(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(query).mappings()]


def _opened(conn: Connection, table: str, rows: Iterable[dict[str, Any]], user_id: str) -> list:
    rows = list(rows)
    if table not in ENCRYPTED_COLUMNS:
        return rows
    if rows and not set(ENCRYPTED_COLUMNS[table].columns) <= set(rows[0]):
        return rows  # a table from before its encrypted columns existed (not yet migrated)
    # An export gives everything it can: a value that does not open is null and named.
    opened = field_cipher(conn).open_rows(table, rows, user_id=user_id, tolerant=True)
    return [_named_unreadable(row) for row in opened]


def _named_unreadable(row: dict[str, Any]) -> dict[str, Any]:
    failed = row.pop(UNREADABLE, None)
    return {**row, **unreadable_fields({UNREADABLE: failed})} if failed else row


# -- building the document ----------------------------------------------------------------


def build_document(db: Database, user_id: str) -> dict[str, Any]:
    """Everything about ``user_id`` as one JSON-ready document (see the module docstring)."""
    with db.transaction() as conn:
        user = auth_repo.get_user(conn, user_id)
        if user is None or user["account_status"] == "deleted":
            raise NotFound("No such user.")
        document: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "generated_at": utcnow().isoformat(),
            "user_id": user_id,
        }
        profile = _named_unreadable(
            field_cipher(conn).open_row("pf_users", dict(user), user_id=user_id, tolerant=True)
        )
        document["profile"] = {k: v for k, v in profile.items() if k not in SECRET_USER_COLUMNS}
        document["preferences"] = _rows(
            conn, sa.select(user_preferences).where(user_preferences.c.user_id == user_id)
        )
        s = user_sessions.c
        document["sessions"] = _rows(
            conn,
            sa.select(
                s.id,
                s.family_id,
                s.created_at,
                s.last_activity_at,
                s.expires_at,
                s.revoked_at,
                s.revoked_reason,
                s.ip_address,
                s.user_agent,
            )
            .where(s.user_id == user_id)
            .order_by(s.created_at, s.id),
        )
        a = sso_accounts.c
        document["linked_accounts"] = _rows(
            conn,
            sa.select(
                a.id,
                a.provider,
                a.issuer,
                a.email,
                a.display_name,
                a.avatar_url,
                a.is_primary,
                a.profile_data,
                a.last_used_at,
                a.created_at,
            ).where(a.user_id == user_id),
        )
        o = user_feature_flags.c
        document["feature_flag_overrides"] = _rows(
            conn,
            sa.select(feature_flags.c.flag_key, o.value, o.reason, o.expires_at, o.created_at)
            .join(feature_flags, feature_flags.c.id == o.flag_id)
            .where(o.user_id == user_id),
        )
        inv = user_invitations.c
        document["invitation"] = _rows(
            conn,
            sa.select(inv.email, inv.role, inv.created_at, inv.accepted_at).where(
                inv.accepted_user_id == user_id
            ),
        )
        document["cpa"] = _cpa(conn, user_id)
        ev = user_analytics.c
        document["analytics_events"] = _rows(
            conn,
            sa.select(user_analytics).where(ev.user_id == user_id).order_by(ev.created_at, ev.id),
        )
        document["audit_events"] = _audit_events(conn, user_id)
        tenant = get_tenant(conn, user["username"])
    document["tables"] = _tenant_tables(db, user["username"], user_id, tenant)
    return document


def _cpa(conn: Connection, user_id: str) -> dict[str, Any]:
    """The user's CPA PER/PERT rows: reports, write-ups (opened), their children."""
    out: dict[str, Any] = {}
    for table in (cpa.reports, cpa.experiences, cpa.progress_milestones, cpa.submissions):
        rows = _rows(conn, sa.select(table).where(table.c.user_id == user_id).order_by(table.c.id))
        out[table.name] = _opened(conn, table.name, rows, user_id)
    experience_ids = [r["id"] for r in out[cpa.experiences.name]]
    submission_ids = [r["id"] for r in out[cpa.submissions.name]]
    for table in (cpa.experience_breakdown, cpa.experience_time_tracking):
        out[table.name] = (
            _rows(
                conn,
                sa.select(table)
                .where(table.c.experience_id.in_(experience_ids))
                .order_by(table.c.id),
            )
            if experience_ids
            else []
        )
    # The people around the candidate: shares, who saw what, decisions, meetings, comments.
    for table in (
        cpa_sharing.shares,
        cpa_sharing.share_access,
        cpa_sharing.verifications,
        cpa_sharing.mentor_meetings,
        cpa_sharing.comments,
    ):
        rows = _rows(conn, sa.select(table).where(table.c.user_id == user_id).order_by(table.c.id))
        out[table.name] = _opened(conn, table.name, rows, user_id)
    history = cpa.submission_history
    out[history.name] = (
        _rows(
            conn,
            sa.select(history)
            .where(history.c.submission_id.in_(submission_ids))
            .order_by(history.c.id),
        )
        if submission_ids
        else []
    )
    return out


def _audit_events(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    """Audit rows where the user acted or was acted on. Another actor's name is left out
    (it is that person's data); their role stays."""
    c = audit_log.c
    rows = _rows(
        conn,
        sa.select(
            c.seq,
            c.created_at,
            c.event_type,
            c.outcome,
            c.actor_id,
            c.actor_role,
            c.target_type,
            c.target_id,
            c.http_method,
            c.request_path,
            c.status_code,
            c.ip_address,
            c.user_agent,
            c.details,
        )
        .where(sa.or_(c.actor_id == user_id, c.target_id == user_id))
        .order_by(c.seq),
    )
    for row in rows:
        row["by_me"] = row.pop("actor_id") == user_id
        if not row["by_me"]:
            row["ip_address"] = row["user_agent"] = None
    return rows


def _tenant_tables(
    db: Database, username: str, user_id: str, tenant: Any
) -> dict[str, list[dict[str, Any]]]:
    """Every per-user table, generically: whatever the user's template version defines."""
    if tenant is None or tenant.state != "ready" or tenant.template_version is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    with db.tenant_transaction(username) as (conn, _latest):
        tables = db.tables_for(username, tenant.template_version)
        for logical, table in tables.tables.items():
            rows = _rows(conn, sa.select(table).order_by(*table.primary_key.columns))
            out[logical] = _opened(conn, logical, rows, user_id)
    return out


# -- files and links ----------------------------------------------------------------------


def export_dir(app_instance_path: str | None = None) -> Path:
    path = Path(app_instance_path or current_app.instance_path) / EXPORT_DIR
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, atomically (temp name, then rename)."""
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, path)


def create_export(
    db: Database, user_id: str, *, requested_by: Principal, reason: str | None = None
) -> ExportLink:
    """Build and store the export of ``user_id``; audited as ``data_export``."""
    now = utcnow()
    document = build_document(db, user_id)
    data = json.dumps(document, default=_plain, ensure_ascii=False).encode("utf-8")
    fmt = "json"
    if len(data) > int(setting("EXPORT_ZIP_THRESHOLD_BYTES")):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("pathfinder-export.json", data)
        data, fmt = buffer.getvalue(), "zip"
    token = new_token()
    digest = token_hash(token)
    expires_at = now + timedelta(hours=float(setting("EXPORT_LINK_HOURS")))
    folder = export_dir()
    _write_private(folder / f"{digest}.{fmt}", data)
    meta = {
        "user_id": user_id,
        "format": fmt,
        "size_bytes": len(data),
        "created_at": now.isoformat(),
        "expires_at": expires_at.isoformat(),
        "requested_by": requested_by.user_id,
    }
    try:
        with db.transaction() as conn:
            details: dict[str, Any] = {"stage": "created", "format": fmt, "bytes": len(data)}
            if requested_by.user_id != user_id:
                details["on_behalf"] = True
                details["reason"] = reason
            audit.record(
                conn,
                "data_export",
                actor=requested_by,
                target_type="user",
                target_id=user_id,
                details=details,
            )
    except Exception:
        (folder / f"{digest}.{fmt}").unlink(missing_ok=True)
        raise
    # The metadata file is written last: its presence is what makes the link work.
    _write_private(folder / f"{digest}.meta", json.dumps(meta).encode())
    return ExportLink(token, expires_at, fmt, len(data))


@dataclass
class Download:
    handle: IO[bytes]
    format: str
    user_id: str

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def claim_download(db: Database, token: str) -> Download:
    """Open an export once: the first caller claims it, later ones get 404."""
    digest = token_hash(token)  # hex: safe as a file name whatever the client sent
    folder = export_dir()
    meta_path = folder / f"{digest}.meta"
    claimed = folder / f"{digest}.claimed"
    try:
        os.rename(meta_path, claimed)  # atomic: exactly one concurrent caller succeeds
    except FileNotFoundError:
        raise ExportUnavailable("The link is invalid, expired or already used.") from None
    meta = json.loads(claimed.read_text())
    data_path = folder / f"{digest}.{meta['format']}"
    try:
        if datetime.fromisoformat(meta["expires_at"]) <= utcnow():
            data_path.unlink(missing_ok=True)
            raise ExportUnavailable("The link is invalid, expired or already used.")
        handle = open(data_path, "rb")  # closed by the response that streams it
        data_path.unlink()  # the open handle still reads it; nothing else can
    finally:
        claimed.unlink(missing_ok=True)
    with db.transaction() as conn:
        audit.record(
            conn,
            "data_export",
            target_type="user",
            target_id=meta["user_id"],
            details={"stage": "downloaded", "format": meta["format"]},
        )
    return Download(handle, meta["format"], meta["user_id"])


def _meta_files(folder: Path) -> Iterable[Path]:
    return [p for p in folder.iterdir() if p.suffix in (".meta", ".claimed")]


def purge_expired_exports(instance_path: str, now: datetime) -> int:
    """Delete exports whose link has expired; returns how many (for the jobs issue)."""
    folder = export_dir(instance_path)
    removed = 0
    for meta_path in _meta_files(folder):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if datetime.fromisoformat(meta["expires_at"]) <= now:
            (folder / f"{meta_path.stem}.{meta['format']}").unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            removed += 1
    return removed


def remove_user_exports(instance_path: str, user_id: str) -> int:
    """Delete every stored export of ``user_id`` (account deletion); returns how many."""
    folder = export_dir(instance_path)
    removed = 0
    for meta_path in _meta_files(folder):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("user_id") == user_id:
            (folder / f"{meta_path.stem}.{meta['format']}").unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            removed += 1
    return removed


def export_mine(principal: Principal) -> ExportLink:
    """The caller's own export (``POST /me/export``)."""
    return create_export(get_database(), principal.user_id, requested_by=principal)


def export_on_request(actor: Principal, user_id: str, reason: str) -> ExportLink:
    """An admin produces a user's export on that user's request (audited with the reason)."""
    db = get_database()
    with db.transaction() as conn:
        check_authority(actor, target_user(conn, user_id), allow_self=True)
    return create_export(db, user_id, requested_by=actor, reason=reason)
