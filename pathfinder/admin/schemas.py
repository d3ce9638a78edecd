"""Request bodies and queries of the admin, invitation, deletion and export routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pathfinder.admin.paging import PageQuery
from pathfinder.api.fields import Id
from pathfinder.api.validation import RequestModel, Rule
from pathfinder.auth.schemas import (
    Email,
    NewPassword,
    Password,
    Username,
    password_rules,
)
from pathfinder.profile.schemas import Phone
from pathfinder.schema.naming import USERNAME_MAX_LENGTH

Role = Literal["user", "admin", "site_admin"]
AccountStatus = Literal[
    "pending_verification", "active", "suspended", "locked", "pending_deletion", "deleted"
]
InvitationStatus = Literal["pending", "accepted", "expired", "revoked"]


# -- invitations --------------------------------------------------------------------------


class InvitationItem(RequestModel):
    """One invitation: who, with which role and group, valid for how many days."""

    rules = (Rule("feature_group_id", "an existing group"),)

    email: Email
    role: Role = "user"
    feature_group_id: Id | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=30)


class InvitationBatch(RequestModel):
    invitations: list[InvitationItem] = Field(min_length=1, max_length=100)


class InvitationListQuery(PageQuery):
    status: InvitationStatus | None = None
    email: str | None = Field(default=None, min_length=1, max_length=254)


class ResendRequest(RequestModel):
    expires_in_days: int | None = Field(default=None, ge=1, le=30)


class AcceptInvitation(RequestModel):
    """Registration through an invitation link: the e-mail address comes from the invitation."""

    rules = (
        *password_rules("password")[:2],
        Rule("password", "does not contain the invitation's e-mail address"),
    )

    username: Username
    password: NewPassword
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)


# -- groups -------------------------------------------------------------------------------


class GroupCreate(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    priority: int = Field(default=0, ge=-1000, le=1000)
    is_default: bool = False


class GroupUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    is_default: bool | None = None


class GroupMembers(RequestModel):
    user_ids: list[Id] = Field(min_length=1, max_length=100)

    @field_validator("user_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class GroupListQuery(PageQuery):
    pass


# -- users --------------------------------------------------------------------------------


class UserListQuery(PageQuery):
    """Search by username, e-mail or name (``q``, case-insensitive), filter by the rest."""

    q: str | None = Field(default=None, min_length=1, max_length=100)
    status: AccountStatus | None = None
    role: Role | None = None
    group_id: Id | None = None


class ReasonRequest(RequestModel):
    """Why an admin takes an action on an account (kept in the audit log)."""

    reason: str = Field(min_length=1, max_length=500)


class OptionalReason(RequestModel):
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class GroupAssignment(RequestModel):
    """``{"group_id": "..."}`` to assign, ``{"group_id": null}`` to fall back to the default."""

    rules = (Rule("group_id", "an existing group"),)

    group_id: Id | None


class AdminDeletion(RequestModel):
    """Immediate deletion: the username typed again, and why."""

    rules = (Rule("confirm_username", "the account's username (in any case)"),)

    confirm_username: str = Field(min_length=1, max_length=USERNAME_MAX_LENGTH)
    reason: str = Field(min_length=1, max_length=500)


class DeletionQueueQuery(PageQuery):
    pass


# -- the user's own account ---------------------------------------------------------------


class DeletionRequest(RequestModel):
    """Scheduling my account's deletion needs my password again."""

    password: Password


class PhoneVerification(RequestModel):
    """The number support reached the user on; it must be the account's current number."""

    # As a profile takes it: stripped, " 9756" was four characters against a pattern the
    # document applied to five (found by fuzzing).
    phone_number: Phone


TenantState = Literal["requested", "creating", "ready", "failed", "deprovisioning", "dropped"]


class TenantListQuery(PageQuery):
    """Filters of the provisioning registry list."""

    state: TenantState | None = None
    below_version: int | None = Field(
        default=None, ge=1, le=1000, description="Only users whose template is older."
    )
    q: str | None = Field(
        default=None, min_length=1, max_length=30, description="Usernames starting with this."
    )
