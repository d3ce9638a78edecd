"""Request bodies of ``/admin/retention-policies``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pathfinder.api.validation import RequestModel, Rule

RetentionAction = Literal["archive", "delete", "archive_then_delete"]
# Ten years and a bit: the longest any policy needs (the audit log keeps seven).
MAX_RETENTION_DAYS = 36_500


class RetentionPolicyChange(RequestModel):
    """One policy's new settings; fields left out keep their value."""

    # Checked by the service against the stored policies (GET /admin/retention-policies).
    rules = (
        Rule("policy_key", "an existing policy's key"),
        Rule(
            "action",
            "one the policy's table accepts; `archive` and `archive_then_delete` only for a "
            "policy with an archive table",
        ),
    )

    policy_key: str = Field(min_length=1, max_length=100)
    retention_days: int | None = Field(default=None, ge=1, le=MAX_RETENTION_DAYS)
    action: RetentionAction | None = None
    is_active: bool | None = None


class RetentionPoliciesUpdate(RequestModel):
    """Changes to one or more existing policies, applied together or not at all."""

    policies: list[RetentionPolicyChange] = Field(min_length=1, max_length=50)
