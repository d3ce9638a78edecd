"""The engine's own tables: provisioning registry, its object list, template versions.

The registry is what makes provisioning exact: deprovisioning drops the objects listed in
``pf_tenant_objects`` and nothing else, and a no-op ``migrate`` reads ``template_version``
here instead of the database catalog.
"""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.types import UtcDateTime

PROVISIONING_STATES = ("requested", "creating", "ready", "failed", "deprovisioning", "dropped")
OBJECT_TYPES = ("table", "index", "view")

schema_meta = sa.Table(
    "pf_schema_meta",
    metadata,
    sa.Column("meta_key", sa.String(64), primary_key=True),
    sa.Column("meta_value", sa.String(200), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

template_versions = sa.Table(
    "pf_template_versions",
    metadata,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
)

tenant_provisioning = sa.Table(
    "pf_tenant_provisioning",
    metadata,
    sa.Column("username", sa.String(30), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),
    # Version of the tables that exist; NULL until the first full provisioning.
    sa.Column("template_version", sa.Integer()),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.String(1000)),
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("ready_at", UtcDateTime()),
    sa.CheckConstraint(sa.column("state").in_(PROVISIONING_STATES), name="state"),
    sa.Index(None, "state", "template_version"),
)

# One row per user ever provisioned, locked (SELECT ... FOR UPDATE) by whoever provisions,
# migrates or deprovisions that user on PostgreSQL and Oracle. A separate table, so the lock
# holder never blocks its own state updates on pf_tenant_provisioning.
tenant_locks = sa.Table(
    "pf_tenant_locks",
    metadata,
    sa.Column("username", sa.String(30), primary_key=True),
)

# Named locks for work that must not interleave across workers and nodes, beyond one user's
# provisioning: today the conditional writes of the API (If-Match), keyed by the SHA-256 of
# the resource's path. Held FOR UPDATE by a connection of its own (pathfinder.db.named_locks).
named_locks = sa.Table(
    "pf_named_locks",
    metadata,
    sa.Column("lock_key", sa.String(64), primary_key=True),
)

tenant_objects = sa.Table(
    "pf_tenant_objects",
    metadata,
    sa.Column(
        "username",
        sa.String(30),
        sa.ForeignKey(tenant_provisioning.c.username),
        primary_key=True,
    ),
    sa.Column("object_name", sa.String(128), primary_key=True),
    sa.Column("object_type", sa.String(10), nullable=False),
    # The template part the object implements: "experiences", "ix_exp_dates", ...
    sa.Column("template_part", sa.String(100), nullable=False),
    sa.Column("template_version", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("object_type").in_(OBJECT_TYPES), name="type"),
)
