"""The candidate's side of sharing: grant, list, revoke, and see who saw what.

A share names one report (or the whole PER record), a role and a scope, and ends at its
expiry or when the candidate revokes it; revocation is one UPDATE that the next request
through the share sees (:mod:`pathfinder.cpa.grants` reads the row on every request).

An account share is an invitation: a single-use token is mailed to the address and only
its hash is kept; it is accepted by a signed-in account whose e-mail is that address, and
from then on the account reaches the share by its id. A link share's token is mailed and
answered once to the candidate; only its hash is kept, it opens the share's routes under
``/cpa/links/{token}`` and nothing else. The grantee's address is encrypted with the
candidate's data key like the other CPA free text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import Conflict, NotFound
from pathfinder.auth.principal import Principal
from pathfinder.cpa import people_repo, repo
from pathfinder.cpa.errors import ShareGone, invalid
from pathfinder.cpa.grants import share_state, utc
from pathfinder.cpa.paging import CpaPageQuery, decode_cursor, page_body, paginate
from pathfinder.cpa.schemas import ShareCreate
from pathfinder.cpa.service import iso, owned_report, utcnow
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.mail import Message, get_mailer
from pathfinder.mail.links import action_text
from pathfinder.security.fields import FIRST_ROW_VERSION, field_cipher, unreadable_fields
from pathfinder.security.tokens import new_token, token_hash

TABLE = "pf_cpa_shares"
# A share is a standing grant to someone outside the account: it must end.
MAX_SHARE_DAYS = 400
ROLE_NAMES = {
    "mentor": "CPA mentor",
    "supervisor": "supervisor",
    "program_leader": "program leader",
}


def share_json(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A share as its candidate sees it (never its token)."""
    return {
        "id": row["id"],
        "report_id": row["report_id"],
        "role": row["role"],
        "scope": row["scope"],
        "grantee_kind": row["grantee_kind"],
        "grantee_email": row.get("grantee_email"),
        "grantee_user_id": row["grantee_user_id"],
        "state": share_state(row, now),
        "expires_at": iso(utc(row["expires_at"])),
        "accepted_at": iso(utc(row["accepted_at"])),
        "revoked_at": iso(utc(row["revoked_at"])),
        "last_used_at": iso(utc(row["last_used_at"])),
        "created_at": iso(utc(row["created_at"])),
        **unreadable_fields(row),
    }


def _owned_share(conn: Connection, principal: Principal, share_id: str) -> dict[str, Any]:
    row = people_repo.owned_share(conn, principal.user_id, share_id)
    if row is None:
        raise NotFound("No such share.")
    return field_cipher(conn).open_row(TABLE, row, user_id=principal.user_id, tolerant=True)


def share_exists(principal: Principal, share_id: str) -> None:
    with get_database().transaction() as conn:
        _owned_share(conn, principal, share_id)


def _check_scope(body: ShareCreate, report: Mapping[str, Any] | None) -> None:
    if body.scope == "verify" and body.role != "supervisor":
        raise invalid("scope", "verify is a supervisor's scope")
    if body.scope == "certify" and body.role != "program_leader":
        raise invalid("scope", "certify is a program leader's scope")
    if report is not None and body.scope == "verify" and report["route"] != "EVR":
        raise invalid("scope", "a supervisor verifies EVR reports; this report is PPR")
    if report is not None and body.scope == "certify" and report["route"] != "PPR":
        raise invalid("scope", "a program leader certifies PPR reports; this report is EVR")


def _share_mail(
    principal: Principal, body: ShareCreate, token: str, report: Mapping[str, Any] | None
) -> Message:
    what = (
        f"the report {report['position_title']} at {report['employer_name']}"
        if report is not None
        else "their whole CPA practical experience record"
    )
    role = ROLE_NAMES[body.role]
    if body.grantee_kind == "account":
        how = (
            "Sign in to Pathfinder with the account of this e-mail address and accept:\n\n"
            f"{action_text('accept_cpa_share', token)}\n"
        )
    else:
        how = (
            "Open it with this link (it is yours alone; do not forward it):\n\n"
            f"{action_text('open_cpa_link', token)}\n"
        )
    return Message(
        recipient=body.email,
        template="cpa_share_granted",
        subject=f"{principal.username} shared CPA experience with you",
        body=(
            f"{principal.username} asks you, as their {role}, to {body.scope} {what}.\n"
            f"The access ends on {body.expires_at.date().isoformat()} or when they revoke it.\n\n"
            f"{how}"
        ),
    )


def create_share(principal: Principal, body: ShareCreate) -> dict[str, Any]:
    """Grant a person access; mail them the invitation or the link (in this transaction)."""
    now = utcnow()
    expires = body.expires_at.astimezone(UTC)
    if expires <= now:
        raise invalid("expires_at", "must be in the future")
    if expires > now + timedelta(days=MAX_SHARE_DAYS):
        raise invalid("expires_at", f"must be within {MAX_SHARE_DAYS} days")
    token = new_token()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        report = owned_report(conn, principal, body.report_id) if body.report_id else None
        _check_scope(body, report)
        row = {
            "id": new_id(),
            "user_id": principal.user_id,
            "report_id": body.report_id,
            "role": body.role,
            "scope": body.scope,
            "grantee_kind": body.grantee_kind,
            "grantee_email": body.email.strip(),
            "row_version": FIRST_ROW_VERSION,
            "grantee_user_id": None,
            "token_hash": token_hash(token),
            "expires_at": expires,
            "accepted_at": None,
            "revoked_at": None,
            "last_used_at": None,
            "created_at": now,
            "updated_at": now,
        }
        sealed = field_cipher(conn).seal_row(TABLE, row, user_id=principal.user_id)
        people_repo.insert_share(conn, sealed)
        get_mailer().queue(conn, _share_mail(principal, body, token, report))
        audit.record(
            conn,
            "privilege_permissions_changed",
            actor=principal,
            target_type="cpa_share",
            target_id=row["id"],
            details={
                "action": "granted",
                "report_id": body.report_id,
                "role": body.role,
                "scope": body.scope,
                "grantee_kind": body.grantee_kind,
            },
        )
    answer = share_json(row, now)
    # The link is answered once, to the candidate, so it can be handed over another way too.
    answer["link_token"] = token if body.grantee_kind == "link" else None
    return answer


def list_shares(principal: Principal, query: CpaPageQuery) -> dict[str, Any]:
    """My shares, newest first, with their state now."""
    key = decode_cursor(query.cursor, 1)
    now = utcnow()
    with get_database().transaction() as conn:
        rows = people_repo.list_shares(
            conn, principal.user_id, limit=query.limit, before=key[0] if key else None
        )
        page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
        opened = field_cipher(conn).open_rows(TABLE, page, user_id=principal.user_id, tolerant=True)
    return page_body([share_json(r, now) for r in opened], cursor, query.limit)


def get_share(principal: Principal, share_id: str) -> dict[str, Any]:
    with get_database().transaction() as conn:
        row = _owned_share(conn, principal, share_id)
    return share_json(row, utcnow())


def revoke_share(principal: Principal, share_id: str) -> dict[str, Any]:
    """End a share now; the next request through it is refused (410)."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        row = _owned_share(conn, principal, share_id)
        if row["revoked_at"] is None and people_repo.revoke_share(conn, share_id, now):
            row = {**row, "revoked_at": now, "updated_at": now}
            audit.record(
                conn,
                "privilege_permissions_changed",
                actor=principal,
                target_type="cpa_share",
                target_id=share_id,
                details={"action": "revoked", "role": row["role"], "scope": row["scope"]},
            )
    return share_json(row, now)


def access_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "share_id": row["share_id"],
        "grantee_kind": row["grantee_kind"],
        "grantee_user_id": row["grantee_user_id"],
        "grantee_username": row["grantee_username"],
        "role": row["role"],
        "scope": row["scope"],
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "at": iso(utc(row["created_at"])),
    }


def list_access(
    principal: Principal, query: CpaPageQuery, share_id: str | None = None
) -> dict[str, Any]:
    """Who saw what through my shares (one share, or all), newest first."""
    key = decode_cursor(query.cursor, 1)
    with get_database().transaction() as conn:
        if share_id is not None:
            _owned_share(conn, principal, share_id)
        rows = people_repo.list_access(
            conn, principal.user_id, share_id, limit=query.limit, before=key[0] if key else None
        )
        page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
    return page_body([access_json(r) for r in page], cursor, query.limit)


# -- the grantee's side of an account share ----------------------------------------------------


def accept_invitation(principal: Principal, token: str) -> dict[str, Any]:
    """Accept a share mailed to my address; the token is spent."""
    now = utcnow()
    with get_database().transaction() as conn:
        row = people_repo.share_by_token(conn, token_hash(token), "account")
        if row is None or row["accepted_at"] is not None:
            raise NotFound("No such invitation, or it was accepted already.")
        state = share_state(row, now)
        if state in ("revoked", "expired"):
            raise ShareGone(f"This share was {state}.", reason=state)
        if row["user_id"] == principal.user_id:
            raise Conflict("You cannot accept your own share.", slug="cpa-share-own")
        opened = field_cipher(conn).open_row(TABLE, row, user_id=row["user_id"])
        email = people_repo.user_email_normalized(conn, principal.user_id)
        if str(opened["grantee_email"] or "").strip().casefold() != email:
            # Said the same way as an unknown token: the mail went to someone else.
            raise NotFound("No such invitation for the address of your account.")
        if not people_repo.accept_share(conn, row["id"], principal.user_id, now):
            raise NotFound("No such invitation, or it was accepted already.")
        audit.record(
            conn,
            "privilege_permissions_changed",
            actor=principal,
            target_type="cpa_share",
            target_id=row["id"],
            details={"action": "accepted", "sharer_id": row["user_id"]},
        )
        accepted = {**row, "grantee_user_id": principal.user_id, "accepted_at": now}
        sharer = people_repo.username(conn, row["user_id"])
    return granted_json(accepted, now, str(sharer))


def granted_json(row: Mapping[str, Any], now: datetime, sharer: str) -> dict[str, Any]:
    """A share as its grantee sees it: who shared what, how, until when."""
    return {
        "id": row["id"],
        "sharer_username": sharer,
        "report_id": row["report_id"],
        "role": row["role"],
        "scope": row["scope"],
        "grantee_kind": row["grantee_kind"],
        "state": share_state(row, now),
        "expires_at": iso(utc(row["expires_at"])),
    }


def shared_with_me(principal: Principal, query: CpaPageQuery) -> dict[str, Any]:
    """Shares I accepted, live or ended, newest first."""
    key = decode_cursor(query.cursor, 1)
    now = utcnow()
    with get_database().transaction() as conn:
        rows = people_repo.shares_granted_to(
            conn, principal.user_id, limit=query.limit, before=key[0] if key else None
        )
        page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
    return page_body([granted_json(r, now, r["sharer"]) for r in page], cursor, query.limit)
