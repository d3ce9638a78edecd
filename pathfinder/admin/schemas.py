"""Request bodies and queries of the admin, invitation, deletion and export routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pathfinder.admin.paging import PageQuery
from pathfinder.api.validation import RequestModel
from pathfinder.auth.schemas import check_email
from pathfinder.schema.naming import InvalidUsername, normalize_username

Role = Literal["user", "admin", "site_admin"]
AccountStatus = Literal[
    "pending_verification", "active", "suspended", "locked", "pending_deletion", "deleted"
]
InvitationStatus = Literal["pending", "accepted", "expired", "revoked"]


# -- invitations --------------------------------------------------------------------------


class InvitationItem(RequestModel):
    """One invitation: who, with which role and group, valid for how many days."""

    email: str = Field(max_length=254)
    role: Role = "user"
    feature_group_id: str | None = Field(default=None, min_length=26, max_length=26)
    expires_in_days: int | None = Field(default=None, ge=1, le=30)

    _email = field_validator("email")(check_email)


class InvitationBatch(RequestModel):
    invitations: list[InvitationItem] = Field(min_length=1, max_length=100)


class InvitationListQuery(PageQuery):
    status: InvitationStatus | None = None
    email: str | None = Field(default=None, min_length=1, max_length=254)


class ResendRequest(RequestModel):
    expires_in_days: int | None = Field(default=None, ge=1, le=30)


class AcceptInvitation(RequestModel):
    """Registration through an invitation link: the e-mail address comes from the invitation."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        try:
            return normalize_username(value)
        except InvalidUsername as exc:
            raise ValueError(str(exc)) from exc


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
    user_ids: list[str] = Field(min_length=1, max_length=100)

    @field_validator("user_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        if any(len(v) != 26 for v in value):
            raise ValueError("every user id is 26 characters")
        return list(dict.fromkeys(value))


class GroupListQuery(PageQuery):
    pass


# -- users --------------------------------------------------------------------------------


class UserListQuery(PageQuery):
    """Search by username, e-mail or name (``q``, case-insensitive), filter by the rest."""

    q: str | None = Field(default=None, min_length=1, max_length=100)
    status: AccountStatus | None = None
    role: Role | None = None
    group_id: str | None = Field(default=None, min_length=26, max_length=26)


class ReasonRequest(RequestModel):
    """Why an admin takes an action on an account (kept in the audit log)."""

    reason: str = Field(min_length=1, max_length=500)


class OptionalReason(RequestModel):
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class GroupAssignment(RequestModel):
    """``{"group_id": "..."}`` to assign, ``{"group_id": null}`` to fall back to the default."""

    group_id: str | None = Field(min_length=26, max_length=26)


class AdminDeletion(RequestModel):
    """Immediate deletion: the username typed again, and why."""

    confirm_username: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class DeletionQueueQuery(PageQuery):
    pass


# -- the user's own account ---------------------------------------------------------------


class DeletionRequest(RequestModel):
    """Scheduling my account's deletion needs my password again."""

    password: str = Field(min_length=1, max_length=256)


class PhoneVerification(RequestModel):
    """The number support reached the user on; it must be the account's current number."""

    phone_number: str = Field(max_length=32, pattern=r"^\+?[0-9 ()\-.]{5,32}$")


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
