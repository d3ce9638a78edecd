"""Invitations: create (one, many or from CSV), list, revoke, resend, look up, and the jobs.

The token is 32 random bytes, handed to the mailer once and stored only as its SHA-256, so
neither the API nor the database can show it again; resending makes a new token (and a new
expiry) and the old link stops working. Accepting goes through the identity flow
(:mod:`pathfinder.auth.invitations`): the invited role and group are applied there, and a
conditional UPDATE makes the invitation single-use even under two concurrent accepts.

Only a site admin may invite someone as ``admin`` or ``site_admin``: an invitation grants a
role, and granting roles is a site-admin power (as ``PUT /admin/users/{id}/role`` is).
Audit rows name the invitation and its role, never the invited address.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, RowMapping

from pathfinder import audit
from pathfinder.admin import repo
from pathfinder.admin.paging import decode_cursor, page_of
from pathfinder.admin.schemas import (
    AcceptInvitation,
    InvitationItem,
    InvitationListQuery,
)
from pathfinder.admin.settings import setting
from pathfinder.api.errors import Conflict, Forbidden, NotFound
from pathfinder.api.validation import ValidationProblem, field_errors
from pathfinder.auth import repo as auth_repo
from pathfinder.auth import service as auth_service
from pathfinder.auth.invitations import register_with_invitation
from pathfinder.auth.principal import Principal
from pathfinder.auth.schemas import RegisterRequest
from pathfinder.db import Database, get_database
from pathfinder.ids import new_id
from pathfinder.mail import Message, get_mailer
from pathfinder.mail.links import action_text
from pathfinder.security.tokens import new_token, token_hash

MAX_PER_CALL = 100
MAX_CSV_BYTES = 64 * 1024
CSV_COLUMNS = ("email", "role", "group", "feature_group_id", "expires_in_days")
INVALID = "The invitation is invalid, expired, revoked or already used."


class InvalidInvitation(NotFound):
    slug = "invalid-invitation"
    title = "Invalid invitation"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def effective_status(row: RowMapping | dict[str, Any], now: datetime) -> str:
    """``expired`` for a pending invitation past its expiry, even before the job marks it;
    ``declined`` for one the invitee turned down (stored as revoked, with ``declined_at``)."""
    if row["status"] == "revoked" and row.get("declined_at") is not None:
        return "declined"
    if row["status"] == "pending" and row["expires_at"] <= now:
        return "expired"
    return str(row["status"])


def invitation_json(row: RowMapping | dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "role": row["role"],
        "feature_group_id": row["feature_group_id"],
        "status": effective_status(row, now),
        "invited_by": row["invited_by"],
        "expires_at": _iso(row["expires_at"]),
        "reminder_sent_at": _iso(row["reminder_sent_at"]),
        "accepted_at": _iso(row["accepted_at"]),
        "accepted_user_id": row["accepted_user_id"],
        "revoked_at": _iso(row["revoked_at"]),
        "declined_at": _iso(row.get("declined_at")),
        "created_at": _iso(row["created_at"]),
    }


def inviter_name(conn: Connection, user_id: str | None) -> str:
    """How the invitee sees who invited them: the inviter's name, else their username."""
    user = auth_repo.get_user(conn, user_id) if user_id else None
    if user is None or user["account_status"] == "deleted":
        return "Pathfinder"
    name = " ".join(p for p in (user["first_name"], user["last_name"]) if p)
    return name or str(user["username"])


def _invitation_link(token: str) -> str:
    return action_text("accept_invitation", token)


def _send_invitation(
    conn: Connection, email: str, token: str, inviter: str, expires_at: datetime
) -> None:
    get_mailer().queue(
        conn,
        Message(
            recipient=email,
            template="invitation",
            subject="You are invited to Pathfinder",
            body=(
                f"{inviter} invited you to Pathfinder.\n\n"
                f"Create your account before {expires_at:%Y-%m-%d %H:%M} UTC:"
                f"\n\n{_invitation_link(token)}\n\nThe invitation works once."
            ),
        ),
    )


def _check_role_grant(actor: Principal, role: str) -> None:
    if role != "user" and not actor.has_role("site_admin"):
        raise Forbidden(
            "Only a site admin can invite someone as admin or site admin.",
            slug="role-not-allowed",
        )


def _lifetime(days: int | None) -> timedelta:
    return timedelta(days=days if days is not None else int(setting("INVITATION_DEFAULT_DAYS")))


# -- creating -----------------------------------------------------------------------------


def skip_reasons(conn: Connection, emails: list[str], now: datetime) -> list[str | None]:
    """Why each (normalised) address would be skipped, or None when it would be invited.

    One rule for creating and for previewing a batch: repeated in the request, already
    registered, or already holding a live invitation.
    """
    registered = repo.registered_emails(conn, emails)
    invited = repo.live_invitation_emails(conn, emails, now)
    seen: set[str] = set()
    reasons: list[str | None] = []
    for normalized in emails:
        reasons.append(
            "duplicate_in_request"
            if normalized in seen
            else "already_registered"
            if normalized in registered
            else "already_invited"
            if normalized in invited
            else None
        )
        seen.add(normalized)
    return reasons


def preview_invitations(actor: Principal, items: list[InvitationItem]) -> dict[str, Any]:
    """What :func:`create_invitations` would do with ``items``, changing nothing: the rows
    it would invite and the ones it would skip, with the reason."""
    for item in items:
        _check_role_grant(actor, item.role)
    emails = [item.email.strip().casefold() for item in items]
    with get_database().transaction() as conn:
        reasons = skip_reasons(conn, emails, utcnow())
    invite = [
        {"index": n, "email": item.email, "role": item.role}
        for n, (item, reason) in enumerate(zip(items, reasons, strict=True))
        if reason is None
    ]
    skipped = [
        {"index": n, "email": item.email, "reason": reason}
        for n, (item, reason) in enumerate(zip(items, reasons, strict=True))
        if reason is not None
    ]
    return {"invite": invite, "skipped": skipped}


def create_invitations(actor: Principal, items: list[InvitationItem]) -> dict[str, Any]:
    """Create up to 100 invitations in one transaction and e-mail each its link.

    Addresses already registered, already holding a live invitation, or repeated in the
    request are skipped and reported (``skipped``); if nothing is left to create, 409.
    """
    for item in items:
        _check_role_grant(actor, item.role)
    now = utcnow()
    created: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with get_database().transaction() as conn:
        errors = [
            {"field": f"invitations.{n}.feature_group_id", "message": "no such group"}
            for n, item in enumerate(items)
            if item.feature_group_id is not None
            and repo.get_group(conn, item.feature_group_id) is None
        ]
        if errors:
            raise ValidationProblem("One or more fields are invalid.", errors=errors)
        emails = [item.email.strip().casefold() for item in items]
        reasons = skip_reasons(conn, emails, now)
        inviter = inviter_name(conn, actor.user_id)
        for n, (item, normalized, reason) in enumerate(zip(items, emails, reasons, strict=True)):
            if reason is not None:
                skipped.append({"index": n, "email": item.email, "reason": reason})
                continue
            token = new_token()
            row = {
                "id": new_id(),
                "email": item.email.strip(),
                "email_normalized": normalized,
                "role": item.role,
                "feature_group_id": item.feature_group_id,
                "token_hash": token_hash(token),
                "invited_by": actor.user_id,
                "status": "pending",
                "expires_at": now + _lifetime(item.expires_in_days),
                "accepted_at": None,
                "accepted_user_id": None,
                "reminder_sent_at": None,
                "revoked_at": None,
                "created_at": now,
                "updated_at": now,
            }
            repo.insert_invitation(conn, row)
            _send_invitation(conn, row["email"], token, inviter, row["expires_at"])
            audit.record(
                conn,
                "user_invited",
                actor=actor,
                target_type="invitation",
                target_id=row["id"],
                details={
                    "role": item.role,
                    "feature_group_id": item.feature_group_id,
                    "expires_at": row["expires_at"].isoformat(),
                },
            )
            created.append(invitation_json(row, now))
        if not created:
            raise Conflict("No invitation was created.", skipped=skipped)
    return {"created": created, "skipped": skipped}


def parse_csv(data: bytes) -> list[InvitationItem]:
    """Invitations from CSV text with a header row (``email`` required; ``role``,
    ``group`` (a group's name) or ``feature_group_id``, ``expires_in_days`` optional).

    Every row is checked like a JSON invitation; errors name the row (1 = first data row).
    Group names are resolved to ids by :func:`resolve_csv_groups`.
    """
    if len(data) > MAX_CSV_BYTES:
        raise ValidationProblem(
            f"The CSV file is larger than {MAX_CSV_BYTES // 1024} KiB.",
            errors=[{"field": "file", "message": "too large"}],
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationProblem(
            "The CSV file must be UTF-8 text.",
            errors=[{"field": "file", "message": "not UTF-8"}],
        ) from exc
    if "\x00" in text:
        raise ValidationProblem(
            "The CSV file contains the NUL character (U+0000).",
            errors=[{"field": "file", "message": "text may not contain the NUL character"}],
        )
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    unknown = sorted(set(header) - set(CSV_COLUMNS))
    if "email" not in header or unknown:
        raise ValidationProblem(
            "The CSV file needs a header row with an email column "
            f"(allowed columns: {', '.join(CSV_COLUMNS)}).",
            errors=[{"field": "file", "message": "bad header"}],
        )
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
    for record in reader:
        if None in record:
            raise ValidationProblem(
                "A CSV row has more fields than the header.",
                errors=[{"field": f"rows.{len(rows) + 1}", "message": "too many fields"}],
            )
        cleaned = {k: (v or "").strip() for k, v in record.items() if (v or "").strip()}
        if cleaned:
            rows.append(cleaned)
        if len(rows) > MAX_PER_CALL:
            raise ValidationProblem(
                f"At most {MAX_PER_CALL} invitations per upload.",
                errors=[{"field": "file", "message": "too many rows"}],
            )
    if not rows:
        raise ValidationProblem(
            "The CSV file has no invitations.", errors=[{"field": "file", "message": "empty"}]
        )
    return _csv_items(rows)


def _csv_items(rows: list[dict[str, str]]) -> list[InvitationItem]:
    with get_database().transaction() as conn:
        groups: dict[str, str | None] = {}
        for row in rows:
            name = row.get("group")
            if name and name not in groups:
                found = repo.group_by_name(conn, name)
                groups[name] = found["id"] if found else None
    items: list[InvitationItem] = []
    errors: list[dict[str, str]] = []
    for n, row in enumerate(rows, start=1):
        values: dict[str, Any] = {k: v for k, v in row.items() if k != "group"}
        name = row.get("group")
        if name:
            if groups.get(name) is None:
                errors.append({"field": f"rows.{n}.group", "message": "no group of that name"})
                continue
            values["feature_group_id"] = groups[name]
        try:
            items.append(InvitationItem.model_validate(values))
        except ValidationError as exc:
            errors.extend(
                {"field": f"rows.{n}.{e['field']}", "message": e["message"]}
                for e in field_errors(exc)
            )
    if errors:
        raise ValidationProblem("One or more CSV rows are invalid.", errors=errors)
    return items


# -- listing, revoking, resending ---------------------------------------------------------


def list_invitations(query: InvitationListQuery) -> dict[str, Any]:
    before = decode_cursor(query.cursor, 1)[0] if query.cursor else None
    now = utcnow()
    with get_database().transaction() as conn:
        rows = repo.list_invitations(
            conn,
            status=query.status,
            email=query.email,
            now=now,
            before=before,
            limit=query.limit + 1,
        )
    items, cursor = page_of(rows, query.limit, lambda r: [r["id"]])
    return {"items": [invitation_json(r, now) for r in items], "next_cursor": cursor}


def revoke_invitation(actor: Principal, invitation_id: str) -> dict[str, Any]:
    """Revoke a pending invitation; its link stops working at once."""
    now = utcnow()
    with get_database().transaction() as conn:
        row = repo.get_invitation(conn, invitation_id, lock=True)
        if row is None:
            raise NotFound("No such invitation.")
        if not repo.update_pending_invitation(
            conn, invitation_id, status="revoked", revoked_at=now, updated_at=now
        ):
            raise Conflict(f"The invitation is {row['status']}; only pending ones can be revoked.")
        audit.record(
            conn,
            "authn_token_revoked",
            actor=actor,
            target_type="invitation",
            target_id=invitation_id,
            details={"role": row["role"]},
        )
        updated = repo.get_invitation(conn, invitation_id)
    assert updated is not None  # noqa: S101 - locked above
    return invitation_json(updated, now)


def resend_invitation(
    actor: Principal, invitation_id: str, expires_in_days: int | None
) -> dict[str, Any]:
    """Send a pending or expired invitation again with a new token and a new expiry."""
    now = utcnow()
    with get_database().transaction() as conn:
        row = repo.get_invitation(conn, invitation_id, lock=True)
        if row is None:
            raise NotFound("No such invitation.")
        _check_role_grant(actor, row["role"])
        if row["status"] not in ("pending", "expired"):
            raise Conflict(f"The invitation is {row['status']}; it cannot be sent again.")
        if repo.registered_emails(conn, [row["email_normalized"]]):
            raise Conflict("That address has registered meanwhile.", slug="already-registered")
        token = new_token()
        expires_at = now + _lifetime(expires_in_days)
        if not repo.update_pending_invitation(
            conn,
            invitation_id,
            token_hash=token_hash(token),
            status="pending",
            expires_at=expires_at,
            reminder_sent_at=None,
            updated_at=now,
        ):
            raise Conflict("The invitation changed meanwhile; reload it.")
        _send_invitation(conn, row["email"], token, inviter_name(conn, actor.user_id), expires_at)
        audit.record(
            conn,
            "user_invited",
            actor=actor,
            target_type="invitation",
            target_id=invitation_id,
            details={"resend": True, "role": row["role"], "expires_at": expires_at.isoformat()},
        )
        updated = repo.get_invitation(conn, invitation_id)
    assert updated is not None  # noqa: S101 - locked above
    return invitation_json(updated, now)


# -- the invitee's side -------------------------------------------------------------------


def _usable(conn: Connection, token: str, now: datetime) -> RowMapping:
    row = repo.invitation_by_hash(conn, token_hash(token))
    if row is None or effective_status(row, now) != "pending":
        raise InvalidInvitation(INVALID)
    return row


def lookup(token: str) -> dict[str, Any]:
    """What the invitation page shows: the invited address and who invited, nothing more."""
    with get_database().transaction() as conn:
        row = _usable(conn, token, utcnow())
        return {"email": row["email"], "invited_by": inviter_name(conn, row["invited_by"])}


def decline(token: str) -> dict[str, Any]:
    """The invitee turns the invitation down: its link stops working, the inviter can see it.

    Closed like a revocation (status ``revoked``) with ``declined_at`` set, in one
    conditional UPDATE, so a decline racing an accept leaves exactly one of them applied.
    """
    now = utcnow()
    with get_database().transaction() as conn:
        row = _usable(conn, token, now)
        if not repo.update_pending_invitation(
            conn, row["id"], status="revoked", revoked_at=now, declined_at=now, updated_at=now
        ):
            raise InvalidInvitation(INVALID)
        audit.record(
            conn,
            "authn_token_revoked",
            target_type="invitation",
            target_id=row["id"],
            details={"declined": True, "role": row["role"]},
        )
    return {"status": "declined", "declined_at": now.isoformat()}


def accept(
    token: str, body: AcceptInvitation, meta: auth_service.RequestMeta
) -> auth_service.TokenPair:
    """Register with the invitation (its address, role and group) and sign in."""
    with get_database().transaction() as conn:
        row = _usable(conn, token, utcnow())
    request = RegisterRequest(
        username=body.username,
        email=row["email"],
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        invitation_token=token,
    )
    try:
        user_id = register_with_invitation(request, meta)
    except sa.exc.IntegrityError as exc:
        # Two accepts at once: the loser's INSERT hit the winner's row on the unique
        # address (PostgreSQL/Oracle wait for the winner's commit, then refuse).
        raise InvalidInvitation(INVALID) from exc
    return auth_service.complete_login(user_id, meta, method="invitation")


# -- jobs ---------------------------------------------------------------------------------


def send_invitation_reminders(db: Database, now: datetime) -> int:
    """E-mail one reminder to each pending invitation about to expire; returns how many.

    "About to expire" is within ``INVITATION_REMINDER_HOURS``. The reminder carries no link:
    the token was sent once and only its hash is kept; it points to the original e-mail and
    to the inviter, who can resend. Claiming the reminder is a conditional UPDATE, so
    overlapping runs never send two. Call inside the app's context (mailer, settings).
    """
    until = now + timedelta(hours=float(setting("INVITATION_REMINDER_HOURS")))
    batch = int(setting("ADMIN_JOB_BATCH_SIZE"))
    sent = 0
    while True:
        with db.transaction() as conn:
            rows = repo.invitations_due_reminder(conn, now, until, batch)
            for row in rows:
                if not repo.mark_reminded(conn, row["id"], now):
                    continue
                inviter = inviter_name(conn, row["invited_by"])
                get_mailer().queue(
                    conn,
                    Message(
                        recipient=row["email"],
                        template="invitation_reminder",
                        subject="Your Pathfinder invitation expires soon",
                        body=(
                            f"Your invitation to Pathfinder from {inviter} expires on "
                            f"{row['expires_at']:%Y-%m-%d %H:%M} UTC.\n\nUse the link in the "
                            "invitation e-mail to create your account. If you cannot find "
                            f"it, ask {inviter} to send the invitation again."
                        ),
                    ),
                )
                sent += 1
        if len(rows) < batch:
            return sent


def expire_invitations(db: Database, now: datetime) -> int:
    """Mark pending invitations past their expiry as ``expired``; returns how many."""
    with db.transaction() as conn:
        return repo.expire_invitations(conn, now)
