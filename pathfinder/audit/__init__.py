"""The audit log: ``record()`` inside the change's own transaction, pseudonymisation, verify.

A change and the row describing it commit or roll back together because ``record`` writes
on the caller's ``Connection``, inside the caller's transaction: there is no second
connection, no queue, nothing that can commit one without the other. Every row is linked
into the tamper-evident hash chain of :mod:`pathfinder.audit.chain`; ``pathfinder audit
verify`` (:mod:`pathfinder.audit.verify`) walks it. API requests get one ``request`` row
each from :mod:`pathfinder.audit.middleware`. Design and operations: ``docs/audit.md``.

Event names are a closed vocabulary (:data:`EVENTS`), taken from the OWASP Application
Logging Vocabulary where it has a name, so alerting can key on them; an unknown name is a
programming error and raises rather than writing a row nobody will ever search for.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, g, has_request_context
from sqlalchemy.engine import Connection

from pathfinder.audit.chain import (
    AuditChainError,
    ChainKeys,
    chain_keys,
    clean_text,
    is_token,
    sanitise_details,
)
from pathfinder.audit.chain import append as _append
from pathfinder.audit.verify import BrokenLink, VerifyReport, verify_chain
from pathfinder.auth.principal import Principal
from pathfinder.schema.shared.security import AUDIT_OUTCOMES, audit_log

if TYPE_CHECKING:
    from pathfinder.audit.middleware import RequestMeta

__all__ = [
    "EVENTS",
    "AuditChainError",
    "BrokenLink",
    "UnknownAuditEvent",
    "VerifyReport",
    "init_app",
    "pseudonymise_user",
    "record",
    "user_pseudonym",
    "verify_chain",
]

_OWASP: dict[str, str] = {
    # Authentication
    "authn_login_success": "a login succeeded",
    "authn_login_successafterfail": "a login succeeded after failed attempts",
    "authn_login_fail": "a login failed (unknown user, wrong password or code, locked)",
    "authn_login_fail_max": "a login failed and reached the failure limit",
    "authn_login_lock": "an account was locked (too many failures, suspicion, request)",
    "authn_password_change": "a password was changed (outcome failure: attempt refused)",
    "authn_password_change_fail": "a password change failed",
    "authn_impossible_travel": "logins from places too far apart in the time between",
    "authn_token_created": "a token was issued (refresh rotation, API token)",
    "authn_token_revoked": "a token was revoked",
    "authn_token_reuse": "a spent or revoked token was presented again",
    "authn_token_delete": "a token was deleted",
    # Authorisation
    "authz_fail": "access to a resource was refused",
    "authz_change": "a user's role or entitlements changed",
    "authz_admin": "an action by a privileged user",
    # Cryptography
    "crypt_decrypt_fail": "a value could not be decrypted",
    "crypt_encrypt_fail": "a value could not be encrypted",
    # Excessive use
    "excess_rate_limit_exceeded": "a rate limit was exceeded",
    # Uploads
    "upload_complete": "an upload completed",
    "upload_stored": "an upload was stored",
    "upload_validation": "an upload was validated (outcome says how)",
    "upload_delete": "an upload was deleted",
    # Input
    "input_validation_fail": "server-side validation refused input",
    "input_validation_discrete_fail": "a value outside a fixed list of choices was sent",
    # Malicious behaviour
    "malicious_excess_404": "many requests for things that do not exist",
    "malicious_extraneous": "unexpected input fields were sent",
    "malicious_attack_tool": "an attack tool was recognised",
    "malicious_cors": "a request from a forbidden origin",
    "malicious_direct_reference": "a direct reference to another user's object",
    # Privilege and sensitive data
    "privilege_permissions_changed": "permissions on an object changed",
    "sensitive_create": "sensitive data was created",
    "sensitive_read": "sensitive data was read",
    "sensitive_update": "sensitive data was updated",
    "sensitive_delete": "sensitive data was deleted",
    "sequence_fail": "a step of a flow was reached out of order",
    # Sessions
    "session_created": "a session started",
    "session_renewed": "a session was extended",
    "session_expired": "a session ended (logout, timeout, revocation)",
    "session_use_after_expire": "an ended session was used",
    # System
    "sys_startup": "the system started",
    "sys_shutdown": "the system stopped",
    "sys_restart": "the system restarted",
    "sys_crash": "the system crashed",
    "sys_monitor_disabled": "a monitor was disabled",
    "sys_monitor_enabled": "a monitor was enabled",
    # Users
    "user_created": "an account was created",
    "user_updated": "an account was changed",
    "user_archived": "an account was archived",
    "user_deleted": "an account was deleted",
}

# Pathfinder's own names, in the same <area>_<what> style, for events the vocabulary lacks.
_PATHFINDER: dict[str, str] = {
    "authn_login_unlock": "a locked account was unlocked (lock expired or by an admin)",
    "authn_password_reset_request": "a password reset was requested",
    "authn_password_reset": "a password was reset with a reset link",
    "authn_mfa_enabled": "MFA was enabled or its recovery codes regenerated",
    "authn_mfa_disabled": "MFA was disabled",
    "authn_email_verified": "an email address was verified",
    "user_suspended": "an account was suspended",
    "user_reactivated": "a suspended account was reactivated",
    "user_deletion_requested": "an account deletion was scheduled or cancelled (details.action)",
    "user_invited": "an invitation to register was issued",
    "session_revoked": "a session (family of refresh tokens) was revoked",
    "crypt_key_rotated": "a key was rotated (KEK re-wrap or data-key rotation)",
    "crypt_key_destroyed": "a user's data keys were destroyed (crypto-shredding)",
    "data_export": "a user's data was exported",
    "data_import": "data was imported",
    "sys_config_changed": "a system setting or feature flag changed",
    "sys_job_run": "a scheduled job ran",
    "tenant_provisioned": "a user's tables were created or migrated",
    "tenant_deprovisioned": "a user's tables were dropped",
    "audit_pseudonymised": "a deleted user's audit rows were pseudonymised",
    "request": "an API request (written by the request middleware)",
}

EVENTS: Mapping[str, str] = MappingProxyType({**_OWASP, **_PATHFINDER})
"""Every event name ``record`` accepts, with what it means."""

OWASP_EVENTS = frozenset(_OWASP)

# Column widths of pf_audit_log, read from the schema: caller- or client-controlled text is
# clipped to fit, application-made values that do not fit are refused.
_ID_LENGTH: int = audit_log.c.actor_id.type.length  # type: ignore[attr-defined]
_LIMITS: dict[str, int] = {
    name: audit_log.c[name].type.length  # type: ignore[attr-defined]
    for name in (
        "actor_display",
        "target_display",
        "http_method",
        "request_path",
        "ip_address",
        "user_agent",
    )
}
_ROLE_LENGTH: int = audit_log.c.actor_role.type.length  # type: ignore[attr-defined]
_TARGET_TYPE_LENGTH: int = audit_log.c.target_type.type.length  # type: ignore[attr-defined]
_REQUEST_KEYS = (
    "request_id",
    "http_method",
    "request_path",
    "status_code",
    "ip_address",
    "user_agent",
    "execution_ms",
)
# Short names accepted in request_meta for the same fields.
_REQUEST_ALIASES = {"method": "http_method", "path": "request_path", "ip": "ip_address"}
_ACTOR_KEYS = {"user_id": "id", "id": "id", "role": "role", "username": "display"}


class UnknownAuditEvent(ValueError):
    """``record`` was given an event name outside :data:`EVENTS`."""


def init_app(app: Flask) -> None:
    """Install the request audit middleware (one ``request`` row per API request)."""
    from pathfinder.audit import middleware

    middleware.init_app(app)


def record(
    conn: Connection,
    event: str,
    *,
    actor: Principal | Mapping[str, Any] | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    target_display: str | None = None,
    outcome: str = "success",
    details: Mapping[str, Any] | None = None,
    request_meta: RequestMeta | Mapping[str, Any] | None = None,
) -> str:
    """Append an audit row on ``conn``, inside the caller's transaction; return its id.

    ``actor`` is the :class:`Principal`, a mapping with ``user_id``/``role``/``username``
    (before a principal exists, e.g. at login), or None for the system or an anonymous
    caller. ``details`` are sanitised (secret-looking keys and credential-looking values
    become ``"[redacted]"``). ``request_meta`` gives request fields (``request_id``,
    ``http_method``, ``request_path``, ``status_code``, ``ip_address``, ``user_agent``,
    ``execution_ms``); any not given are taken from the current Flask request, if any.

    The chain head stays locked until the transaction ends: record late, just before
    commit. Raises :class:`UnknownAuditEvent` for a name outside :data:`EVENTS`,
    ``ValueError`` for an invalid outcome or an over-long id.
    """
    if event not in EVENTS:
        raise UnknownAuditEvent(f"unknown audit event {event!r}; add it to pathfinder.audit")
    if outcome not in AUDIT_OUTCOMES:
        raise ValueError(f"audit outcome must be one of {AUDIT_OUTCOMES}, not {outcome!r}")
    fields: dict[str, Any] = {"event_type": event, "outcome": outcome}
    fields.update(_actor_fields(actor))
    fields["target_type"] = _checked(target_type, _TARGET_TYPE_LENGTH, "target_type")
    fields["target_id"] = _checked(target_id, _ID_LENGTH, "target_id")
    fields["target_display"] = _text(target_display, "target_display")
    fields.update(_request_fields(request_meta))
    fields["details"] = sanitise_details(details)
    forgotten = _forgotten_ids()
    if forgotten:
        _forget(fields, forgotten)
    return _append(conn, fields, chain_keys())


def _actor_fields(actor: Principal | Mapping[str, Any] | None) -> dict[str, Any]:
    if actor is None:
        return {"actor_id": None, "actor_role": None, "actor_display": None}
    if isinstance(actor, Principal):
        values = {"id": actor.user_id, "role": actor.role, "display": actor.username}
    else:
        unknown = set(actor) - set(_ACTOR_KEYS)
        if unknown:
            raise ValueError(f"unknown actor keys {sorted(unknown)}")
        values = {_ACTOR_KEYS[k]: v for k, v in actor.items()}
    return {
        "actor_id": _checked(values.get("id"), _ID_LENGTH, "actor id"),
        "actor_role": _checked(values.get("role"), _ROLE_LENGTH, "actor role"),
        "actor_display": _text(values.get("display"), "actor_display"),
    }


def _request_fields(meta: RequestMeta | Mapping[str, Any] | None) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if meta is not None:
        items = meta.as_fields() if hasattr(meta, "as_fields") else dict(meta)
        for key, value in items.items():
            name = _REQUEST_ALIASES.get(key, key)
            if name not in _REQUEST_KEYS:
                raise ValueError(f"unknown request_meta key {key!r}")
            given[name] = value
    if len(given) < len(_REQUEST_KEYS):
        from pathfinder.audit.middleware import current_request_fields

        for key, value in current_request_fields().items():
            given.setdefault(key, value)
    fields: dict[str, Any] = {}
    fields["request_id"] = _checked(given.get("request_id"), _ID_LENGTH, "request_id")
    for name in ("http_method", "request_path", "ip_address", "user_agent"):
        fields[name] = _text(given.get(name), name)
    for name in ("status_code", "execution_ms"):
        value = given.get(name)
        fields[name] = None if value is None else max(0, int(value))
    return fields


def _text(value: Any, column: str) -> str | None:
    """Caller- or client-controlled text, clipped to its column; empty is NULL (as Oracle)."""
    if value is None:
        return None
    text = clean_text(str(value), _LIMITS[column])
    return text or None


def _checked(value: Any, limit: int, what: str) -> str | None:
    """Application-made values (ids, roles, types): too long is a bug, not something to clip."""
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) > limit:
        raise ValueError(f"audit {what} longer than {limit} characters")
    return text


# -- pseudonymisation ----------------------------------------------------------------------


def user_pseudonym(user_id: str) -> str:
    """The pseudonym that replaces ``user_id`` in audit rows (same key, same answer)."""
    return chain_keys().id_pseudonym(user_id)


def pseudonymise_user(conn: Connection, user_id: str, *, batch_size: int = 500) -> int:
    """Pseudonymise every audit row about ``user_id``; the chain keeps verifying.

    For account deletion. In rows where the user acted: ``actor_id`` becomes the user's
    pseudonym and ``actor_display``, ``ip_address`` and ``user_agent`` become row-bound
    tokens. In rows where the user is the target: ``target_id`` and ``target_display`` do.
    Anywhere else the user's id appears (a request path segment, a details value) it
    becomes the pseudonym. Each replacement is the very value the row's hash was computed
    over (:mod:`pathfinder.audit.chain`), so no hash changes and ``audit verify`` stays
    green; no other row and no other column is touched. Idempotent. Records one
    ``audit_pseudonymised`` row naming the pseudonym (never the id) with the count.

    Runs in the caller's transaction; returns the number of rows changed.
    """
    if not user_id or is_token(user_id):
        raise ValueError("pseudonymise_user needs a user's id")
    keys = chain_keys()
    pseudonym = keys.id_pseudonym(user_id)
    c = audit_log.c
    mentions = sa.or_(
        c.actor_id == user_id,
        c.target_id == user_id,
        c.request_path.contains(user_id, autoescape=True),
        sa.cast(c.details, sa.Text()).contains(user_id, autoescape=True),
    )
    changed = 0
    last_seq = 0
    while True:
        rows = (
            conn.execute(
                sa.select(audit_log)
                .where(mentions, c.seq > last_seq)
                .order_by(c.seq)
                .limit(batch_size)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        last_seq = int(rows[-1]["seq"])
        for row in rows:
            updates = _pseudonymised_values(row, user_id, pseudonym, keys)
            if updates:
                conn.execute(audit_log.update().where(c.id == row["id"]).values(**updates))
                changed += 1
    if has_request_context():
        # Rows this request writes from now on (its own request row included) must not
        # put the id back: record() swaps it for the pseudonym (_forget).
        g.setdefault(_FORGOTTEN_KEY, {})[user_id] = pseudonym
    record(
        conn,
        "audit_pseudonymised",
        target_type="user",
        target_id=pseudonym,
        details={"rows": changed},
    )
    return changed


_FORGOTTEN_KEY = "_pf_audit_forgotten"


def _forgotten_ids() -> dict[str, str]:
    if not has_request_context():
        return {}
    forgotten: dict[str, str] = g.get(_FORGOTTEN_KEY) or {}
    return forgotten


def _forget(fields: dict[str, Any], forgotten: Mapping[str, str]) -> None:
    """Write a pseudonymised user's later rows as pseudonymisation would leave them.

    The display, IP and user-agent of a forgotten actor (self-deletion) are not stored at
    all; the ids become the pseudonym, which is also their hash-input value.
    """
    if fields["actor_id"] in forgotten:
        fields["actor_id"] = forgotten[fields["actor_id"]]
        fields.update(actor_display=None, ip_address=None, user_agent=None)
    if fields["target_id"] in forgotten:
        fields["target_id"] = forgotten[fields["target_id"]]
        fields["target_display"] = None
    if fields["request_path"] is not None:
        fields["request_path"] = "/".join(
            forgotten.get(s, s) for s in fields["request_path"].split("/")
        )
    for old, new in forgotten.items():
        if fields["details"] is not None:
            fields["details"] = _replace_in(fields["details"], old, new)


def _pseudonymised_values(
    row: Mapping[str, Any], user_id: str, pseudonym: str, keys: ChainKeys
) -> dict[str, Any]:
    """The columns of ``row`` to overwrite, each with its own hash-input value."""
    seq = int(row["seq"])
    updates: dict[str, Any] = {}
    if row["actor_id"] == user_id:
        updates["actor_id"] = pseudonym
        for name in ("actor_display", "ip_address", "user_agent"):
            updates[name] = keys.field_ref(name, seq, row[name])
    if row["target_id"] == user_id:
        updates["target_id"] = pseudonym
        updates["target_display"] = keys.field_ref("target_display", seq, row["target_display"])
    path = row["request_path"]
    if path is not None and user_id in path.split("/"):
        updates["request_path"] = "/".join(
            pseudonym if s == user_id else s for s in path.split("/")
        )
    if row["details"] is not None:
        replaced = _replace_in(row["details"], user_id, pseudonym)
        if replaced != row["details"]:
            updates["details"] = replaced
    return {k: v for k, v in updates.items() if v != row[k]}


def _replace_in(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, dict):
        return {k: _replace_in(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_in(v, old, new) for v in value]
    return value
