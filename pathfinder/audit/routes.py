"""``GET /api/v1/admin/audit`` (admins) and ``GET /api/v1/me/security-events`` (anyone).

Both page by ``seq`` (newest first): ``next_cursor`` is the last ``seq`` returned, and asking
with ``cursor`` continues below it, so pages stay stable while new rows are appended.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import Field

from pathfinder.api.contract import contract
from pathfinder.api.fields import Id, IsoDateTime
from pathfinder.api.validation import RequestModel, parse_query
from pathfinder.audit import search
from pathfinder.audit.events import EVENTS
from pathfinder.audit.responses import AuditEventPage
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.schema.shared.security import audit_log

bp = Blueprint("audit", __name__)

# What a user sees of their own trail: security-relevant events, not every request.
SECURITY_EVENT_PREFIXES = ("authn_", "authz_", "session_", "crypt_", "privilege_", "user_", "data_")

CURSOR_DESCRIPTION = "The `next_cursor` of the previous page."
# The closed vocabulary as an enum: an unknown name is a 422 naming the parameter (it used to
# answer 200 with an empty list, which reads as "nothing happened"), and the document lists
# the names a client may filter on.
AuditEventType = Literal[tuple(sorted(EVENTS))]  # type: ignore[valid-type]


# The largest sequence number a 64-bit column holds: a larger cursor is refused by the
# schema rather than overflowing the query.
MAX_SEQ = 2**63 - 1


class AuditQuery(RequestModel):
    user_id: Id | None = Field(
        default=None, description="Events where this user is actor or target."
    )
    event_type: AuditEventType | None = None
    since: IsoDateTime | None = Field(default=None, description="Inclusive.")
    until: IsoDateTime | None = Field(default=None, description="Exclusive.")
    cursor: int | None = Field(default=None, ge=1, le=MAX_SEQ, description=CURSOR_DESCRIPTION)
    limit: int = Field(default=50, ge=1, le=100)


class SecurityEventQuery(RequestModel):
    cursor: int | None = Field(default=None, ge=1, le=MAX_SEQ, description=CURSOR_DESCRIPTION)
    limit: int = Field(default=50, ge=1, le=100)


@bp.get("/admin/audit")
@requires("admin")
@contract(query=AuditQuery, responses={200: AuditEventPage}, tags=("audit",))
def admin_audit() -> ResponseReturnValue:
    """The audit log, filtered by user, event type and time range."""
    params = parse_query(AuditQuery)
    where = search.AuditFilter(params.user_id, params.event_type, params.since, params.until)
    return jsonify(search.search(where, cursor=params.cursor, limit=params.limit)), 200


@bp.get("/me/security-events")
@requires("user")
@contract(query=SecurityEventQuery, responses={200: AuditEventPage}, tags=("audit",))
def my_security_events() -> ResponseReturnValue:
    """My recent security events: sign-ins, sessions, MFA and password changes, keys."""
    params = parse_query(SecurityEventQuery)
    me = caller().user_id
    query = sa.select(*search.columns()).where(
        sa.or_(audit_log.c.actor_id == me, audit_log.c.target_id == me),
        sa.or_(*(audit_log.c.event_type.startswith(p) for p in SECURITY_EVENT_PREFIXES)),
    )
    return jsonify(search.page(query, params.cursor, params.limit)), 200
