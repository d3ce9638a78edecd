"""Response bodies of the admin routes and of the account lifecycle (invitations, deletion,
export), as declared in their ``@contract``.

They mirror the serialisers in :mod:`pathfinder.admin.users`, :mod:`~pathfinder.admin.groups`,
:mod:`~pathfinder.admin.invitations`, :mod:`~pathfinder.admin.deletion` and
:mod:`~pathfinder.admin.export` field for field: the OpenAPI document is generated from these
models, and with ``CHECK_CONTRACTS`` the test suite fails when a serialiser adds, drops or
retypes a field without the model following.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from pathfinder.admin.schemas import AccountStatus, Role
from pathfinder.api.contract import Page, ResponseModel

# What an invitation shows: its stored status, or expired/declined as derived from it.
InvitationState = Literal["pending", "accepted", "expired", "revoked", "declined"]

# -- users --------------------------------------------------------------------------------


class AdminUserSummary(ResponseModel):
    """An account as the admin list shows it: no secrets, no encrypted personal fields."""

    id: str
    username: str
    email: str
    first_name: str | None
    last_name: str | None
    role: Role
    account_status: AccountStatus
    feature_group_id: str | None = Field(description="The user's feature group; null: default.")
    email_verified: bool
    mfa_enabled: bool
    last_login: datetime | None
    deletion_scheduled_for: datetime | None = Field(
        description="When a scheduled deletion takes effect; null when none is scheduled."
    )
    created_at: datetime


class AdminUser(AdminUserSummary):
    """One account with its profile, activity, lockout and live session count."""

    feature_group_name: str | None
    timezone: str | None = Field(description="IANA time zone name, e.g. `America/Vancouver`.")
    language: str | None = Field(description="BCP 47 language tag, e.g. `en-CA`.")
    title: str | None
    company: str | None
    total_logins: int
    last_activity_at: datetime | None
    locked_until: datetime | None = Field(
        description="End of a lockout after failed sign-ins; null when not locked."
    )
    password_changed_at: datetime | None
    deletion_requested_at: datetime | None
    phone_verified: bool = Field(
        default=False, description="Support confirmed the account's phone number."
    )
    invited_by: str | None = Field(
        default=None, description="Who invited the account (their user id), if anyone."
    )
    invitation_accepted_at: datetime | None = Field(
        default=None, description="When the invitation was accepted (null: self-registered)."
    )
    live_sessions: int = Field(description="Signed-in devices (live session families).")
    updated_at: datetime


class AdminRoleChange(ResponseModel):
    id: str
    username: str
    role: Role
    previous_role: Role


class AdminPasswordReset(ResponseModel):
    id: str
    password_reset: bool = Field(description="Always true: the password no longer works.")
    sessions_ended: int = Field(description="Devices signed out.")


class AdminSessionsEnded(ResponseModel):
    id: str
    sessions_ended: int = Field(description="Devices signed out.")


class AdminDeletionReport(ResponseModel):
    """What an immediate erasure did."""

    deleted: bool
    pseudonym: str = Field(description="What the audit log now calls the erased user.")
    objects_dropped: int = Field(description="Per-user database objects dropped.")
    keys_destroyed: int = Field(description="Data key versions crypto-shredded.")
    audit_rows_pseudonymised: int


class AdminDeletionQueueEntry(ResponseModel):
    id: str
    username: str
    email: str
    role: Role
    account_status: AccountStatus
    requested_at: datetime | None
    scheduled_for: datetime | None


# -- invitations --------------------------------------------------------------------------


class AdminInvitation(ResponseModel):
    """An invitation as admins see it; its token is never shown (it went by e-mail)."""

    id: str
    email: str
    role: Role
    feature_group_id: str | None
    status: InvitationState = Field(
        description="`expired` also for a pending invitation past `expires_at`; `declined` "
        "when the invitee turned it down (a `status=revoked` filter lists those too)."
    )
    invited_by: str | None = Field(description="The inviting user's id.")
    expires_at: datetime
    reminder_sent_at: datetime | None
    accepted_at: datetime | None
    accepted_user_id: str | None
    revoked_at: datetime | None
    declined_at: datetime | None
    created_at: datetime


class AdminInvitationSkip(ResponseModel):
    """An address of the request that got no invitation, and why."""

    index: int = Field(description="Position in the request (0-based; CSV: 0 = first row).")
    email: str
    reason: Literal["duplicate_in_request", "already_registered", "already_invited"]


class AdminInvitationBatch(ResponseModel):
    created: list[AdminInvitation]
    skipped: list[AdminInvitationSkip]


class InvitationDeclined(ResponseModel):
    """The invitation is closed; its link no longer works."""

    status: Literal["declined"]
    declined_at: datetime


class InvitationPreview(ResponseModel):
    """What the invitee sees before accepting."""

    email: str = Field(description="The invited address (the account will use it).")
    invited_by: str = Field(description="The inviter's name, or their username.")


# -- groups -------------------------------------------------------------------------------


class AdminGroup(ResponseModel):
    id: str
    name: str
    description: str | None
    priority: int = Field(description="Higher wins when several groups override a flag.")
    is_default: bool = Field(description="New and unassigned users belong to it.")
    created_at: datetime
    updated_at: datetime


class AdminGroupDetail(AdminGroup):
    """A group with its member count (the list leaves the count out)."""

    members: int = Field(description="Accounts (not deleted) assigned to the group.")


class AdminGroupMembersAdded(ResponseModel):
    assigned: list[str] = Field(description="Ids of the users now in the group.")
    not_found: list[str] = Field(description="Ids that name no live account.")


# -- the user's own account ---------------------------------------------------------------


class AccountDeletionStatus(ResponseModel):
    scheduled: bool
    requested_at: datetime | None
    scheduled_for: datetime | None = Field(
        description="When the account is erased unless the deletion is cancelled."
    )


class AccountExportLink(ResponseModel):
    """A one-time download link for a GDPR export."""

    download_url: str = Field(description="Path of the download; it works once.")
    expires_at: datetime
    format: Literal["json", "zip"] = Field(
        description="`zip` (one JSON file inside) when the export is large."
    )
    size_bytes: int = Field(description="Size of the file, in bytes.")


class AdminUserPage(Page[AdminUserSummary]):
    """Accounts in username order."""


class AdminDeletionQueuePage(Page[AdminDeletionQueueEntry]):
    """Scheduled deletions, soonest first."""


class AdminInvitationPage(Page[AdminInvitation]):
    """Invitations, newest first."""


class AdminGroupPage(Page[AdminGroup]):
    """Groups in name order."""


# -- the provisioning registry -------------------------------------------------------------

TenantStateName = Literal["requested", "creating", "ready", "failed", "deprovisioning", "dropped"]


class AdminTenant(ResponseModel):
    """A user's row in the provisioning registry."""

    username: str
    state: TenantStateName
    template_version: int | None
    attempts: int
    last_error: str | None = Field(description="Why the last attempt failed; null when it did not.")
    requested_at: datetime
    updated_at: datetime
    ready_at: datetime | None


class AdminTenantPage(Page[AdminTenant]):
    """Registry rows by username."""


class AdminTenantObject(ResponseModel):
    object_name: str
    object_type: str
    template_part: str
    template_version: int


class AdminTenantDetail(AdminTenant):
    """A registry row with the exact objects the engine created (what it would drop)."""

    objects: list[AdminTenantObject]


class AdminTenantDrift(ResponseModel):
    """What differs between the user's catalog, the registry and the template."""

    username: str
    state: str | None
    template_version: int | None
    clean: bool
    findings: list[str] = Field(description="One line per difference; empty when clean.")
    missing_tables: list[str]
    extra_tables: list[str]
    missing_columns: list[str]
    extra_columns: list[str]
    missing_indexes: list[str]
    extra_indexes: list[str]
    missing_views: list[str]
    unregistered: list[str]
    registered_but_missing: list[str]
    notes: list[str]


class AdminTenantVersionCount(ResponseModel):
    template_version: int | None
    users: int


class AdminTenantMigrationStatus(ResponseModel):
    """How far ready users are from the latest template version."""

    latest_version: int
    ready_users: int
    pending_migration: int = Field(description="Ready users below the latest version.")
    progress_percent: float
    by_version: list[AdminTenantVersionCount]
    by_state: dict[str, int]
