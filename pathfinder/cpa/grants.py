"""Who is asking through a share, and what the share lets them do.

A grant is resolved on every request, inside the request's transaction, from the share
row as it is now: a share revoked or expired a millisecond ago grants nothing to the next
request (410), whatever the grantee holds. An account grantee names the share in the path
and must be the account that accepted it; a link grantee presents the link token, whose
SHA-256 is looked up among *link* shares only (an account invitation token opens nothing
here). Anything the share does not name is 404, exactly as another user's data is.

Every read and action through a grant is written twice in the same transaction: a row in
``pf_cpa_share_access`` (the candidate's "who saw what": sharer, grantee, role, scope,
action, target) and an audit log row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth.principal import Principal
from pathfinder.cpa import people_repo
from pathfinder.cpa.errors import ShareGone, ShareScope
from pathfinder.ids import new_id
from pathfinder.security.tokens import token_hash

# What each scope includes: verify and certify include comment, comment includes read.
SCOPE_INCLUDES: Mapping[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "comment": frozenset({"read", "comment"}),
    "verify": frozenset({"read", "comment", "verify"}),
    "certify": frozenset({"read", "comment", "certify"}),
}


def utc(value: datetime | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def share_state(row: Mapping[str, Any], now: datetime) -> str:
    """pending (invitation not accepted), active, expired or revoked."""
    if row["revoked_at"] is not None:
        return "revoked"
    expires = utc(row["expires_at"])
    if expires is not None and expires <= now:
        return "expired"
    if row["grantee_kind"] == "account" and row["accepted_at"] is None:
        return "pending"
    return "active"


@dataclass(frozen=True)
class Grant:
    """A live share and who is using it (an account, or the holder of a link)."""

    share: Mapping[str, Any]
    principal: Principal | None  # None for a link holder

    @property
    def share_id(self) -> str:
        return str(self.share["id"])

    @property
    def owner_id(self) -> str:
        """The candidate who shared."""
        return str(self.share["user_id"])

    @property
    def role(self) -> str:
        return str(self.share["role"])

    @property
    def scope(self) -> str:
        return str(self.share["scope"])

    @property
    def kind(self) -> str:
        return str(self.share["grantee_kind"])

    @property
    def grantee_user_id(self) -> str | None:
        return self.principal.user_id if self.principal is not None else None

    def allows(self, what: str) -> bool:
        return what in SCOPE_INCLUDES[self.scope]

    def require(self, what: str, detail: str | None = None) -> None:
        """403 when the share's scope does not include ``what``."""
        if not self.allows(what):
            raise ShareScope(
                detail or f"This share's scope is {self.scope!r}; it does not allow {what}.",
                scope=self.scope,
                needed=what,
            )

    def covers_report(self, report_id: str) -> bool:
        return self.share["report_id"] is None or self.share["report_id"] == report_id

    @property
    def whole_record(self) -> bool:
        return self.share["report_id"] is None


def _live(row: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    if row is None:
        raise NotFound("No such share.")
    state = share_state(row, now)
    if state == "revoked":
        raise ShareGone("The candidate revoked this share.", reason="revoked")
    if state == "expired":
        raise ShareGone("This share has expired.", reason="expired")
    if state == "pending":  # only reachable by id for an account that is not the grantee
        raise NotFound("No such share.")
    return dict(row)


def account_grant(conn: Connection, principal: Principal, share_id: str, now: datetime) -> Grant:
    """The share ``share_id`` accepted by the caller; 404 for anyone else's, 410 when ended."""
    row = people_repo.accepted_share(conn, principal.user_id, share_id)
    return Grant(_live(row, now), principal)


def link_grant(conn: Connection, token: str, now: datetime) -> Grant:
    """The link share whose token this is; 404 when none, 410 when revoked or expired."""
    return Grant(_live(people_repo.share_by_token(conn, token_hash(token), "link"), now), None)


def record_access(
    conn: Connection,
    grant: Grant,
    action: str,
    target_type: str,
    target_id: str | None,
    now: datetime,
    *,
    event: str = "sensitive_read",
) -> None:
    """The candidate's "who saw what" row and the audit row, in the caller's transaction."""
    people_repo.insert_access(
        conn,
        {
            "id": new_id(),
            "share_id": grant.share_id,
            "user_id": grant.owner_id,
            "grantee_user_id": grant.grantee_user_id,
            "grantee_kind": grant.kind,
            "role": grant.role,
            "scope": grant.scope,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "created_at": now,
        },
    )
    people_repo.touch_share(conn, grant.share_id, now)
    audit.record(
        conn,
        event,
        actor=grant.principal,
        target_type=target_type,
        target_id=target_id,
        details={
            "share_id": grant.share_id,
            "sharer_id": grant.owner_id,
            "grantee": grant.grantee_user_id or "link",
            "role": grant.role,
            "scope": grant.scope,
            "action": action,
        },
    )
