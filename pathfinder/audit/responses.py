"""Response bodies of ``/api/v1/admin/audit`` and ``/api/v1/me/security-events``.

Declared here so the OpenAPI document lists the audit columns an answer exposes (the hash
chain and the pseudonymisable display fields are not among them), and the suite
(``CHECK_CONTRACTS``) fails when ``PUBLIC_COLUMNS`` in :mod:`pathfinder.audit.search` and
this model disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field

from pathfinder.api.contract import ResponseModel
from pathfinder.schema.shared.security import AUDIT_OUTCOMES

AuditOutcome = Literal["success", "failure"]

# Spelled out for type checkers; it must not drift from the table's CHECK.
if get_args(AuditOutcome) != AUDIT_OUTCOMES:
    raise RuntimeError("pathfinder.audit.responses is out of step with the pf_audit_log CHECK")


class AuditEvent(ResponseModel):
    """One row of the audit log."""

    seq: int = Field(
        description="Position in the hash chain; pages are ordered by it, newest first."
    )
    event_type: str = Field(description="e.g. `authn_login_success`, `user_updated`.")
    outcome: AuditOutcome
    actor_id: str | None = Field(description="Null for the system itself (jobs, CLI).")
    actor_role: str | None
    target_type: str | None
    target_id: str | None
    http_method: str | None
    request_path: str | None
    status_code: int | None
    ip_address: str | None = Field(description="Null once pseudonymised after account deletion.")
    user_agent: str | None = Field(description="Null once pseudonymised after account deletion.")
    details: dict[str, Any] | None
    created_at: datetime


class AuditEventPage(ResponseModel):
    """One page of audit events, newest first.

    Not :class:`~pathfinder.api.contract.Page`: the cursor here is the last ``seq`` (an
    integer), which the route takes back as ``cursor``.
    """

    items: list[AuditEvent]
    next_cursor: int | None = Field(
        description="The last `seq` of this page; pass it as `cursor` for the next page. "
        "Null on the last page."
    )
    limit: int = Field(description="The page size used.")
