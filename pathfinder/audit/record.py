"""``record()``: one audit row, written in the change's own transaction, with no lock.

A change and the row describing it commit or roll back together because ``record`` writes
on the caller's ``Connection``, inside the caller's transaction: there is no second
connection, no queue, nothing that can commit one without the other. Appending is a single
INSERT: the database numbers the row (``seq``, an identity column) and the writer signs its
content (``row_hash``, :mod:`pathfinder.audit.hashing`); no row is locked that another
writer needs, so audited requests run side by side and cannot deadlock on the log. The
sealer (:mod:`pathfinder.audit.sealer`) later fixes each row's place in the Merkle tree.

On PostgreSQL and Oracle a rolled-back insert leaves its ``seq`` unused. Each such number is
logged (``pathfinder.audit`` logger, outside the database) when its transaction rolls back,
so a gap in the log can be told from a deletion: ``docs/audit.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.audit.events import EVENTS, UnknownAuditEvent
from pathfinder.audit.hashing import RowKeys, compute_row_hash, row_keys
from pathfinder.audit.pseudonymise import forget, forgotten_ids
from pathfinder.audit.sanitise import clean_text, sanitise_details
from pathfinder.auth.principal import Principal
from pathfinder.ids import new_id
from pathfinder.schema.shared.security import AUDIT_OUTCOMES, audit_log

if TYPE_CHECKING:
    from pathfinder.audit.middleware import RequestMeta

log = logging.getLogger("pathfinder.audit")

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

    Takes no lock: the row is one INSERT whose ``seq`` the database assigns, so writers in
    any number of processes never wait on each other here. Raises
    :class:`UnknownAuditEvent` for a name outside :data:`EVENTS`, ``ValueError`` for an
    invalid outcome or an over-long id.
    """
    row = prepare_row(
        event,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        target_display=target_display,
        outcome=outcome,
        details=details,
        request_meta=request_meta,
    )
    insert_row(conn, row)
    return str(row["row_id"])


def prepare_row(
    event: str,
    *,
    actor: Principal | Mapping[str, Any] | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    target_display: str | None = None,
    outcome: str = "success",
    details: Mapping[str, Any] | None = None,
    request_meta: RequestMeta | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The insert parameters of one row, checked, sanitised, stamped and signed.

    What :func:`record` writes; the request middleware prepares its row in the request and
    inserts it later, in a batch (:mod:`pathfinder.audit.request_rows`).
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
    forgotten = forgotten_ids()
    if forgotten:
        forget(fields, forgotten)
    return _signed(fields, row_keys())


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


# -- appending -----------------------------------------------------------------------------

# Built once: an audited write is hot, and rebuilding a 20-column INSERT with .values() costs
# more Python time than the HMAC does. ``seq`` is left out: the database assigns it.
_ROW_COLUMNS = tuple(c.name for c in audit_log.c if c.name != "seq")
_ROW_INSERT = audit_log.insert().values(
    {name: sa.bindparam(f"row_{name}", type_=audit_log.c[name].type) for name in _ROW_COLUMNS}
)
# Sequence numbers appended in the connection's open transaction (PostgreSQL and Oracle).
_PENDING_KEY = "pathfinder.audit.pending_seqs"


def _signed(fields: Mapping[str, Any], keys: RowKeys) -> dict[str, Any]:
    """Stamp ``fields`` (every column but id, seq, row_hash, created_at) and sign them."""
    row = dict(fields)
    row["id"] = new_id()
    row["created_at"] = datetime.now(UTC)
    row["row_hash"] = compute_row_hash(row, keys)
    return {f"row_{name}": row.get(name) for name in _ROW_COLUMNS}


def insert_row(conn: Connection, row: Mapping[str, Any]) -> None:
    """Insert one prepared row: one statement, one round trip, no lock but its own."""
    result = conn.execute(_ROW_INSERT, row)
    if conn.dialect.name != "sqlite" and conn.in_transaction():
        # SQLite gives a rolled-back number back (AUTOINCREMENT in the same transaction);
        # the others do not, so remember it in case this transaction rolls back.
        key = result.inserted_primary_key
        if key is not None and key[0] is not None:
            conn.info.setdefault(_PENDING_KEY, []).append(int(key[0]))


def insert_rows(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert prepared rows in one statement (the request rows' batch)."""
    if rows:
        conn.execute(_ROW_INSERT, list(rows))


@sa.event.listens_for(sa.engine.Engine, "commit")
def _forget_committed(conn: Connection) -> None:
    conn.info.pop(_PENDING_KEY, None)


@sa.event.listens_for(sa.engine.Engine, "rollback")
def _log_rolled_back(conn: Connection) -> None:
    pending = conn.info.pop(_PENDING_KEY, None)
    if pending:
        # The evidence that tells a rollback gap from a deletion (docs/audit.md).
        log.info(
            "audit seq rolled back with its transaction: %s",
            ",".join(str(seq) for seq in pending),
            extra={"audit_rolled_back_seqs": pending},
        )
