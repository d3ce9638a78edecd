"""Pseudonymising a deleted user's audit rows, so the log keeps verifying.

Account deletion (the right to erasure) must remove what identifies the person from the
audit log without breaking its tamper evidence. Each pseudonymisable column enters the row's
HMAC as a keyed reference (:mod:`pathfinder.audit.hashing`): pseudonymising stores exactly
that reference in place of the clear value, so the hash input, the ``row_hash``, the leaf
and every signed tree head stay the same. No hash is recomputed and no checkpoint is
rewritten; the sealed log still verifies, and any other edit still does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.engine import Connection

from pathfinder.audit.hashing import RowKeys, is_token, row_keys
from pathfinder.schema.shared.security import audit_log


def user_pseudonym(user_id: str) -> str:
    """The pseudonym that replaces ``user_id`` in audit rows (same key, same answer)."""
    return row_keys().id_pseudonym(user_id)


def pseudonymise_user(conn: Connection, user_id: str, *, batch_size: int = 500) -> int:
    """Pseudonymise every audit row about ``user_id``; the log keeps verifying.

    For account deletion. In rows where the user acted: ``actor_id`` becomes the user's
    pseudonym and ``actor_display``, ``ip_address`` and ``user_agent`` become row-bound
    tokens. In rows where the user is the target: ``target_id`` and ``target_display`` do.
    Anywhere else the user's id appears (a request path segment, a details value) it
    becomes the pseudonym. Each replacement is the very value the row's hash was computed
    over (:mod:`pathfinder.audit.hashing`), so no hash changes and ``audit verify`` stays
    green; no other row and no other column is touched. Idempotent. Records one
    ``audit_pseudonymised`` row naming the pseudonym (never the id) with the count.

    Runs in the caller's transaction; returns the number of rows changed.
    """
    if not user_id or is_token(user_id):
        raise ValueError("pseudonymise_user needs a user's id")
    keys = row_keys()
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
    from pathfinder.audit.record import record

    record(
        conn,
        "audit_pseudonymised",
        target_type="user",
        target_id=pseudonym,
        details={"rows": changed},
    )
    return changed


_FORGOTTEN_KEY = "_pf_audit_forgotten"


def forgotten_ids() -> dict[str, str]:
    if not has_request_context():
        return {}
    forgotten: dict[str, str] = g.get(_FORGOTTEN_KEY) or {}
    return forgotten


def forget(fields: dict[str, Any], forgotten: Mapping[str, str]) -> None:
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
    row: Mapping[str, Any], user_id: str, pseudonym: str, keys: RowKeys
) -> dict[str, Any]:
    """The columns of ``row`` to overwrite, each with its own hash-input value."""
    row_id = str(row["id"])
    updates: dict[str, Any] = {}
    if row["actor_id"] == user_id:
        updates["actor_id"] = pseudonym
        for name in ("actor_display", "ip_address", "user_agent"):
            updates[name] = keys.field_ref(name, row_id, row[name])
    if row["target_id"] == user_id:
        updates["target_id"] = pseudonym
        updates["target_display"] = keys.field_ref("target_display", row_id, row["target_display"])
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
