"""Response bodies of ``/admin/retention-policies``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from pathfinder.api.contract import ResponseModel


class RetentionPolicy(ResponseModel):
    """A retention policy: which table, how old, what happens to older rows."""

    policy_key: str
    table: str = Field(description="Logical table: a shared `pf_` table or a per-user part.")
    age_column: str
    retention_days: int
    action: Literal["archive", "delete", "archive_then_delete"]
    allowed_actions: list[str] = Field(
        description="Actions this table accepts (the audit log is only ever archived)."
    )
    archive_table: str | None
    is_active: bool
    last_run: datetime | None
    updated_at: datetime


class RetentionPolicyList(ResponseModel):
    items: list[RetentionPolicy]
