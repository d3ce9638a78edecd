"""``Idempotency-Key`` on the POSTs that create something: a retry gets the first answer.

A client that timed out on ``POST /me/experiences`` cannot know whether the experience was
made; retrying blindly makes two. With an ``Idempotency-Key`` header (the IETF
httpapi-idempotency-key draft) the first request with a key runs and its 2xx answer is kept;
the same key with the same request returns that answer again (``Idempotent-Replayed:
true``) without running anything; the same key with another request is a 422; a retry
while the first is still running is a 409 with ``Retry-After``. A failed first request
(4xx, 5xx) keeps nothing, so the corrected request may reuse its key.

Where it applies: POST operations whose contract declares a 201, called by a signed-in
user, except those that answer credentials (``auth`` and ``invitations`` tags: tokens, a
TOTP seed), which are never stored. Keys are scoped to the user and kept for
``IDEMPOTENCY_TTL_HOURS`` (24); the key is stored as its SHA-256 and the kept answer,
which holds the user's data in clear JSON, is sealed with the user's data key
(``pf_idempotency_keys.response_body`` is a registered encrypted column).

The stored row is written in transactions of its own around the view's: the view's change
commits first and its answer is kept right after. A process killed between the two leaves
the key ``in_progress``; after ``IDEMPOTENCY_STALE_SECONDS`` (300) such a key is released
and a retry runs again (the one case where a retry can repeat a change, stated in
docs/api.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request

from pathfinder.api.contract import Rule, contract_of
from pathfinder.api.errors import Conflict, Problem
from pathfinder.ids import new_id

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII, as the draft's sf-string allows; long enough for a UUID or a ULID chain.
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
# Answers that carry credentials are never stored.
EXCLUDED_TAGS = frozenset({"auth", "invitations"})
# Answer headers worth replaying (the body's type and where the new resource is).
KEPT_HEADERS = ("Content-Type", "Location")
_G_KEY = "_pathfinder_idempotency_row"
# Documented with the 422 of every operation that honours the header.
REUSE_RULE = Rule(HEADER, "a key already used with another request is refused: use a new one")


class IdempotencyKeyReused(Problem):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotencyKeyInvalid(Problem):
    status = 400
    slug = "idempotency-key-invalid"
    title = "Invalid idempotency key"


def applies_to(view: Callable[..., Any] | None, method: str) -> bool:
    """Whether ``Idempotency-Key`` is honoured on this operation."""
    declared = contract_of(view)
    return (
        method == "POST"
        and declared is not None
        and 201 in declared.responses
        and not (set(declared.tags) & EXCLUDED_TAGS)
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _request_hash() -> str:
    parts = (request.method, request.path, request.query_string.decode("latin-1"))
    head = "\0".join(parts).encode("utf-8")
    return _sha256(head + b"\0" + request.get_data(cache=True))


def _now() -> datetime:
    return datetime.now(UTC)


def _begin() -> Response | None:
    """Before the view: claim the key, or answer from what an earlier request left."""
    key = request.headers.get(HEADER)
    view = current_app.view_functions.get(request.endpoint or "")
    if key is None or not applies_to(view, request.method):
        return None
    from pathfinder.auth.principal import current_principal

    principal = current_principal()
    if principal is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise IdempotencyKeyInvalid(
            f"{HEADER} must be 1 to 255 visible ASCII characters (a UUID is a good choice)."
        )
    from pathfinder.db import get_database
    from pathfinder.schema.shared.identity import idempotency_keys as table

    db = get_database()
    key_hash = _sha256(key.encode("ascii"))
    fingerprint = _request_hash()
    now = _now()
    ttl = timedelta(hours=float(current_app.config.get("IDEMPOTENCY_TTL_HOURS", 24)))
    stale = timedelta(seconds=float(current_app.config.get("IDEMPOTENCY_STALE_SECONDS", 300)))
    owned = sa.and_(table.c.user_id == principal.user_id, table.c.key_hash == key_hash)
    with db.transaction() as conn:
        # An expired key, or one a killed process left running long ago, is free again.
        conn.execute(
            table.delete().where(
                owned,
                sa.or_(
                    table.c.expires_at <= now,
                    sa.and_(table.c.state == "in_progress", table.c.created_at <= now - stale),
                ),
            )
        )
    row_id = new_id()
    try:
        with db.transaction() as conn:
            conn.execute(
                table.insert().values(
                    id=row_id,
                    user_id=principal.user_id,
                    key_hash=key_hash,
                    request_hash=fingerprint,
                    state="in_progress",
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
    except sa.exc.IntegrityError:
        with db.transaction() as conn:
            found = conn.execute(sa.select(table).where(owned)).mappings().first()
            if found is None:  # released between the two statements: the client may retry
                raise _in_progress() from None
            if found["request_hash"] != fingerprint:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was used with another request; use a new key for a new "
                    "request.",
                    errors=[{"field": HEADER, "message": "already used with another request"}],
                ) from None
            if found["state"] != "completed":
                raise _in_progress() from None
            return _replay(conn, dict(found))
    setattr(g, _G_KEY, row_id)
    return None


def _in_progress() -> Conflict:
    return Conflict(
        f"A request with this {HEADER} is still being processed; retry shortly.",
        slug="idempotency-key-in-progress",
        headers={"Retry-After": "1"},
    )


def _replay(conn: sa.Connection, row: dict[str, Any]) -> Response:
    from pathfinder.security.fields import field_cipher

    opened = field_cipher(conn).open_row("pf_idempotency_keys", row, user_id=str(row["user_id"]))
    response = Response(opened["response_body"] or "", status=int(row["response_status"]))
    for name, value in (row["response_headers"] or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _finish(response: Response) -> Response:
    """After the view: keep a 2xx answer for replays; release the key after a failure."""
    row_id = g.pop(_G_KEY, None)
    if row_id is None:
        return response
    from pathfinder.db import get_database
    from pathfinder.schema.shared.identity import idempotency_keys as table
    from pathfinder.security.fields import FIRST_ROW_VERSION, field_cipher

    db = get_database()
    with db.transaction() as conn:
        if 200 <= response.status_code < 300 and not response.direct_passthrough:
            row = conn.execute(sa.select(table).where(table.c.id == row_id)).mappings().first()
            if row is None:
                return response
            sealed = field_cipher(conn).seal_row(
                "pf_idempotency_keys",
                {
                    "id": row_id,
                    "response_body": response.get_data(as_text=True),
                    "row_version": FIRST_ROW_VERSION,
                },
                user_id=str(row["user_id"]),
            )
            headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
            conn.execute(
                table.update()
                .where(table.c.id == row_id)
                .values(
                    state="completed",
                    response_status=response.status_code,
                    response_headers=headers,
                    response_body=sealed["response_body"],
                    row_version=FIRST_ROW_VERSION,
                )
            )
        else:
            conn.execute(table.delete().where(table.c.id == row_id))
    return response


def _release(exc: BaseException | None) -> None:
    """A request that ended without an answer (an exception past every handler) frees its key."""
    row_id = g.pop(_G_KEY, None)
    if row_id is None:
        return
    from pathfinder.db import get_database
    from pathfinder.schema.shared.identity import idempotency_keys as table

    with get_database().transaction() as conn:
        conn.execute(table.delete().where(table.c.id == row_id))


def delete_expired(conn: sa.Connection, now: datetime) -> int:
    """Remove keys past their lifetime (the cleanup job)."""
    from pathfinder.schema.shared.identity import idempotency_keys as table

    return int(conn.execute(table.delete().where(table.c.expires_at <= now)).rowcount or 0)


def describe(operation: dict[str, Any], view: Callable[..., Any], method: str) -> None:
    """Document the header and its answers on the operations that honour it."""
    if not applies_to(view, method.upper()):
        return
    operation.setdefault("parameters", []).append(
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": "Makes a retry safe: the same key and request return the first "
            "answer (with `Idempotent-Replayed: true`) instead of creating again; the same "
            "key with another request is a 422; kept 24 hours, per user.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        }
    )
    responses = operation.setdefault("responses", {})
    responses.setdefault(
        "409", {"description": "A request with the same `Idempotency-Key` is still running."}
    )


def init_app(app: Flask) -> None:
    """Install the hooks (after the auth guard, which names the caller)."""
    app.before_request(_begin)
    app.after_request(_finish)
    app.teardown_request(_release)
