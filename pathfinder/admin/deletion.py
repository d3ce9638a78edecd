"""Account deletion: a cooling-off period, then erasure that touches nobody else.

``POST /me/deletion`` (password required) schedules the deletion
``DELETION_COOLING_OFF_DAYS`` (default 7) ahead and e-mails the owner how to cancel. The
account stays usable meanwhile, so ``DELETE /me/deletion`` can cancel it. When the period
ends, :func:`process_due_deletions` (the deletion job) calls :func:`delete_account`; a site
admin can call it at once. It exports nothing, and it is idempotent: a run that dies at any
step is finished by the next (the account is marked ``pending_deletion`` first, which is
what the job looks for), in this order:

1. mark the account ``pending_deletion`` and end every session (it can no longer sign in);
2. drop the user's tables through the provisioning engine, which drops exactly the
   objects its registry lists for that username: never a pattern, so ``john`` and
   ``john_doe`` cannot touch each other;
3. in one transaction: crypto-shred the user's data keys (every encrypted value anywhere,
   backups included, becomes noise); delete their personal rows in shared tables (sessions,
   preferences, linked accounts, codes, tokens, flag overrides, CPA data, analytics,
   invitations to their address, mail sent to them) and their provisioning registry rows
   (which name them); anonymise the ``pf_users`` row into a tombstone (status ``deleted``,
   random username and address, every personal field cleared: it stays so the destroyed
   key records and the foreign keys of other people's rows keep a target); write the
   audit rows of the deletion; then pseudonymise every audit row that names the user
   (:func:`pathfinder.audit.pseudonymise_user`) so the hash chain still verifies;
4. delete any stored export of theirs.

Every step selects by the user's id or exact username, never by a prefix or pattern.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.admin import repo
from pathfinder.admin.export import remove_user_exports
from pathfinder.admin.paging import decode_cursor, invalid_cursor, page_of
from pathfinder.admin.schemas import DeletionQueueQuery
from pathfinder.admin.settings import setting
from pathfinder.admin.users import check_authority, guard_last_site_admin, target_user
from pathfinder.api.errors import Conflict, NotFound
from pathfinder.api.validation import ValidationProblem
from pathfinder.auth import repo as auth_repo
from pathfinder.auth import service as auth_service
from pathfinder.auth.errors import InvalidCredentials, LastSiteAdmin
from pathfinder.auth.principal import Principal
from pathfinder.db import Database, get_database
from pathfinder.flags.evaluator import invalidate_on_commit
from pathfinder.mail import Message, get_mailer
from pathfinder.mail.links import action_text
from pathfinder.provisioning import Provisioner
from pathfinder.schema.shared import cpa, cpa_sharing
from pathfinder.schema.shared.analytics import user_analytics
from pathfinder.schema.shared.flags import user_feature_flags
from pathfinder.schema.shared.identity import (
    action_tokens,
    recovery_codes,
    sso_accounts,
    sso_flows,
    user_invitations,
    user_preferences,
    user_sessions,
    users,
)
from pathfinder.schema.shared.messaging import outbox
from pathfinder.schema.shared.system import tenant_locks, tenant_objects, tenant_provisioning
from pathfinder.security.keys import forget_user_keys
from pathfinder.security.shredding import shred_user_keys

log = logging.getLogger(__name__)


class DeletionNotScheduled(NotFound):
    slug = "deletion-not-scheduled"
    title = "No deletion is scheduled"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- the owner's side ---------------------------------------------------------------------


def deletion_status(principal: Principal) -> dict[str, Any]:
    with get_database().transaction() as conn:
        user = target_user(conn, principal.user_id)
    return {
        "scheduled": user["deletion_scheduled_for"] is not None,
        "requested_at": _iso(user["deletion_requested_at"]),
        "scheduled_for": _iso(user["deletion_scheduled_for"]),
    }


def schedule_deletion(principal: Principal, password: str) -> dict[str, Any]:
    """Schedule my account's deletion after the cooling-off period; e-mail how to cancel."""
    now = utcnow()
    when = now + timedelta(days=float(setting("DELETION_COOLING_OFF_DAYS")))
    with get_database().transaction() as conn:
        user = target_user(conn, principal.user_id, lock=True)
        if not auth_service.hasher().verify(user["password_hash"], password):
            failed = True
            audit.record(
                conn,
                "user_deletion_requested",
                actor=principal,
                target_type="user",
                target_id=principal.user_id,
                outcome="failure",
                details={"action": "schedule", "reason": "bad_password"},
            )
        else:
            failed = False
            if user["deletion_scheduled_for"] is not None:
                raise Conflict(
                    "A deletion is already scheduled; cancel it first to reschedule.",
                    slug="deletion-already-scheduled",
                    scheduled_for=_iso(user["deletion_scheduled_for"]),
                )
            guard_last_site_admin(conn, user)
            auth_repo.update_user(
                conn,
                principal.user_id,
                deletion_requested_at=now,
                deletion_scheduled_for=when,
                updated_at=now,
            )
            page = action_text("cancel_deletion")
            get_mailer().queue(
                conn,
                Message(
                    recipient=user["email"],
                    template="account_deletion_scheduled",
                    subject="Your Pathfinder account will be deleted",
                    body=(
                        f"You asked us to delete your Pathfinder account. It will be deleted "
                        f"for good on {when:%Y-%m-%d %H:%M} UTC, with every piece of data it "
                        f"holds.\n\nChanged your mind? Sign in and cancel before then:\n\n"
                        f"{page}\n\nIf you did not ask for this, sign in, cancel, and change "
                        "your password."
                    ),
                ),
            )
            audit.record(
                conn,
                "user_deletion_requested",
                actor=principal,
                target_type="user",
                target_id=principal.user_id,
                details={"action": "scheduled", "scheduled_for": when.isoformat()},
            )
    if failed:
        raise InvalidCredentials()
    return {"scheduled": True, "requested_at": now.isoformat(), "scheduled_for": when.isoformat()}


def cancel_deletion(principal: Principal) -> dict[str, Any]:
    """Cancel my scheduled deletion (404 when none is scheduled)."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = target_user(conn, principal.user_id, lock=True)
        if user["deletion_scheduled_for"] is None:
            raise DeletionNotScheduled("No deletion is scheduled for your account.")
        auth_repo.update_user(
            conn,
            principal.user_id,
            deletion_requested_at=None,
            deletion_scheduled_for=None,
            updated_at=now,
        )
        audit.record(
            conn,
            "user_deletion_requested",
            actor=principal,
            target_type="user",
            target_id=principal.user_id,
            details={"action": "cancelled"},
        )
    return {"scheduled": False, "requested_at": None, "scheduled_for": None}


# -- the admins' side ---------------------------------------------------------------------


def deletion_queue(query: DeletionQueueQuery) -> dict[str, Any]:
    """Accounts with a deletion scheduled, soonest first."""
    after: tuple[datetime, str] | None = None
    if query.cursor:
        when, last_id = decode_cursor(query.cursor, 2)
        try:
            after = (datetime.fromisoformat(str(when)), str(last_id))
        except ValueError:
            raise invalid_cursor() from None
    with get_database().transaction() as conn:
        rows = repo.deletion_queue(conn, after=after, limit=query.limit + 1)
    items, cursor = page_of(
        rows, query.limit, lambda r: [r["deletion_scheduled_for"].isoformat(), r["id"]]
    )
    return {
        "items": [
            {
                "id": r["id"],
                "username": r["username"],
                "email": r["email"],
                "role": r["role"],
                "account_status": r["account_status"],
                "requested_at": _iso(r["deletion_requested_at"]),
                "scheduled_for": _iso(r["deletion_scheduled_for"]),
            }
            for r in items
        ],
        "next_cursor": cursor,
    }


def delete_now(actor: Principal, user_id: str, confirm_username: str, reason: str) -> dict:
    """A site admin erases an account immediately (no cooling-off)."""
    db = get_database()
    with db.transaction() as conn:
        user = target_user(conn, user_id, lock=True)
        check_authority(actor, user)
        if confirm_username.strip().lower() != user["username"]:
            raise ValidationProblem(
                "Type the account's username to confirm.",
                errors=[{"field": "confirm_username", "message": "does not match the account"}],
            )
        guard_last_site_admin(conn, user)
    report = delete_account(db, user_id, actor=actor, mode="immediate", reason=reason)
    if report is None:
        raise NotFound("No such user.")
    return report.as_json()


# -- the erasure --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletionReport:
    pseudonym: str
    objects_dropped: int
    keys_destroyed: int
    audit_rows_pseudonymised: int

    def as_json(self) -> dict[str, Any]:
        return {
            "deleted": True,
            "pseudonym": self.pseudonym,
            "objects_dropped": self.objects_dropped,
            "keys_destroyed": self.keys_destroyed,
            "audit_rows_pseudonymised": self.audit_rows_pseudonymised,
        }


def delete_account(
    db: Database,
    user_id: str,
    *,
    actor: Principal | None,
    mode: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> DeletionReport | None:
    """Erase one account as the module docstring describes; None when there is none.

    Needs the app context (key store, audit keys, instance folder).
    """
    now = now or utcnow()
    # 1. Out of service: no sign-in, no session, and the job will finish what this starts.
    with db.transaction() as conn:
        user = auth_repo.get_user_for_update(conn, user_id)
        if user is None or user["account_status"] == "deleted":
            return None
        username, email = str(user["username"]), str(user["email_normalized"])
        auth_repo.update_user(
            conn,
            user_id,
            account_status="pending_deletion",
            deletion_requested_at=user["deletion_requested_at"] or now,
            deletion_scheduled_for=user["deletion_scheduled_for"] or now,
            updated_at=now,
        )
        auth_repo.revoke_user_sessions(conn, user_id, "account_deleted", now)
    # 2. The user's own tables, exactly as registered.
    dropped = Provisioner(db).deprovision(username).steps_run
    # 3. Keys, shared rows, the tombstone and the audit trail, all or nothing.
    with db.transaction() as conn:
        keys = shred_user_keys(conn, user_id)
        _delete_personal_rows(conn, user_id, username, email)
        _anonymise(conn, user_id, now)
        details: dict[str, Any] = {
            "mode": mode,
            "objects_dropped": dropped,
            "keys_destroyed": keys,
        }
        if reason is not None:
            details["reason"] = reason
        audit.record(
            conn,
            "tenant_deprovisioned",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details={"objects_dropped": dropped},
        )
        audit.record(
            conn,
            "crypt_key_destroyed",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details={"versions_destroyed": keys},
        )
        audit.record(
            conn,
            "user_deleted",
            actor=actor,
            target_type="user",
            target_id=user_id,
            details=details,
        )
        pseudonymised = audit.pseudonymise_user(conn, user_id)
        invalidate_on_commit(conn)
    forget_user_keys(user_id)  # a reader may have cached a key before the commit
    remove_user_exports(current_app.instance_path, user_id)
    return DeletionReport(audit.user_pseudonym(user_id), dropped, keys, pseudonymised)


def _delete_personal_rows(conn: Connection, user_id: str, username: str, email: str) -> None:
    """Rows in shared tables that are about this user and nobody else."""
    for table in (
        user_sessions,
        user_preferences,
        sso_accounts,
        sso_flows,
        recovery_codes,
        action_tokens,
        user_feature_flags,
    ):
        conn.execute(table.delete().where(table.c.user_id == user_id))
    # CPA: reports cascade to their write-ups, breakdowns, time, submissions and history;
    # the rest is deleted explicitly in child-first order so no foreign key depends on
    # the connection's ON DELETE handling.
    report_ids = sa.select(cpa.reports.c.id).where(cpa.reports.c.user_id == user_id)
    experience_ids = sa.select(cpa.experiences.c.id).where(cpa.experiences.c.user_id == user_id)
    submission_ids = sa.select(cpa.submissions.c.id).where(cpa.submissions.c.user_id == user_id)
    conn.execute(
        cpa.submission_history.delete().where(
            cpa.submission_history.c.submission_id.in_(submission_ids)
        )
    )
    conn.execute(cpa.submissions.delete().where(cpa.submissions.c.user_id == user_id))
    _delete_sharing_rows(conn, user_id)
    for child in (cpa.experience_breakdown, cpa.experience_time_tracking):
        conn.execute(child.delete().where(child.c.experience_id.in_(experience_ids)))
    conn.execute(
        cpa.experiences.update()
        .where(cpa.experiences.c.user_id == user_id)
        .values(previous_version_id=None)
    )
    conn.execute(cpa.experiences.delete().where(cpa.experiences.c.user_id == user_id))
    conn.execute(cpa.reports.delete().where(cpa.reports.c.id.in_(report_ids)))
    conn.execute(
        cpa.progress_milestones.delete().where(cpa.progress_milestones.c.user_id == user_id)
    )
    conn.execute(user_analytics.delete().where(user_analytics.c.user_id == user_id))
    inv = user_invitations.c
    conn.execute(
        user_invitations.delete().where(
            sa.or_(inv.accepted_user_id == user_id, inv.email_normalized == email)
        )
    )
    conn.execute(user_invitations.update().where(inv.invited_by == user_id).values(invited_by=None))
    conn.execute(outbox.delete().where(sa.func.lower(outbox.c.recipient) == email.lower()))
    # The provisioning registry names the user; deprovisioning left it "dropped" and empty.
    conn.execute(tenant_objects.delete().where(tenant_objects.c.username == username))
    conn.execute(
        tenant_provisioning.delete().where(
            tenant_provisioning.c.username == username, tenant_provisioning.c.state == "dropped"
        )
    )
    conn.execute(tenant_locks.delete().where(tenant_locks.c.username == username))


def _delete_sharing_rows(conn: Connection, user_id: str) -> None:
    """CPA sharing: what is about this user as a candidate goes; where they were a grantee,
    the candidate's record keeps what they wrote, without their account id."""
    for table in (
        cpa_sharing.comments,
        cpa_sharing.verifications,
        cpa_sharing.mentor_meetings,
        cpa_sharing.share_access,
        cpa_sharing.shares,
    ):
        conn.execute(table.delete().where(table.c.user_id == user_id))
    for table, column in (
        (cpa_sharing.shares, "grantee_user_id"),
        (cpa_sharing.share_access, "grantee_user_id"),
        (cpa_sharing.verifications, "decided_by_user_id"),
        (cpa_sharing.mentor_meetings, "author_user_id"),
        (cpa_sharing.comments, "author_user_id"),
    ):
        conn.execute(table.update().where(table.c[column] == user_id).values({column: None}))


def _anonymise(conn: Connection, user_id: str, now: datetime) -> None:
    """Turn the account row into a tombstone that identifies nobody."""
    # Random, not derived from the old name: nothing in the tombstone leads back to it.
    alias = f"deleted_{secrets.token_hex(11)}"
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(
            username=alias,
            email=f"{alias}@deleted.invalid",
            email_normalized=f"{alias}@deleted.invalid",
            email_verified=False,
            email_verified_at=None,
            password_hash=None,
            password_changed_at=None,
            role="user",
            account_status="deleted",
            first_name=None,
            last_name=None,
            phone_number=None,
            phone_verified=None,
            avatar_url=None,
            date_of_birth=None,
            timezone=None,
            language=None,
            bio=None,
            title=None,
            company=None,
            years_of_experience=None,
            mfa_enabled=False,
            mfa_secret=None,
            mfa_last_timestep=None,
            failed_login_count=0,
            last_failed_login_at=None,
            locked_until=None,
            last_login=None,
            total_logins=0,
            last_activity_at=None,
            feature_group_id=None,
            updated_at=now,
        )
    )


def process_due_deletions(db: Database, now: datetime) -> int:
    """The deletion job: erase every account whose cooling-off has ended; returns how many.

    One account failing does not stop the others (it is logged and retried next run). A
    site admin who became the last active one after scheduling is skipped. Call inside
    the app's context.
    """
    batch = int(setting("ADMIN_JOB_BATCH_SIZE"))
    deleted = 0
    failed: set[str] = set()
    while True:
        with db.transaction() as conn:
            due = [u for u in repo.due_deletions(conn, now, batch + len(failed)) if u not in failed]
        if not due:
            return deleted
        for user_id in due:
            try:
                with db.transaction() as conn:
                    user = auth_repo.get_user(conn, user_id)
                    if user is not None:
                        guard_last_site_admin(conn, user)
                if delete_account(db, user_id, actor=None, mode="scheduled", now=now):
                    deleted += 1
            except LastSiteAdmin:
                log.warning("deletion of %s skipped: last active site admin", user_id)
                failed.add(user_id)
            except Exception:  # noqa: BLE001 - one account must not stop the others
                log.exception("deletion of %s failed; the next run retries", user_id)
                failed.add(user_id)
