"""Feature flags and their per-user or per-group overrides.

One evaluator (``pathfinder.flags``) reads these tables in a fixed order: flag enabled and
inside its active window -> user override -> group override -> percentage rollout ->
default. Values are JSON documents so boolean, string, number and JSON flags share one
column; ``flag_type`` says how the evaluator must read them.

An override targets exactly one user or one group. That rule is a table-level CHECK rather
than service code, because the original engine silently mixed both. Uniqueness per target
is enforced with expression indexes instead of UNIQUE (flag_id, user_id): Oracle treats two
rows (flag, NULL) as duplicates under a composite UNIQUE constraint, which would allow only
one group override per flag. The indexed expression is NULL for rows of the other kind, and
Oracle leaves all-NULL keys out of an index (PostgreSQL and SQLite treat NULLs as distinct).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import Grouping

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.shared.identity import user_groups, users
from pathfinder.schema.types import JsonDocument, UtcDateTime, id_type, json_checks

FLAG_TYPES = ("boolean", "string", "number", "json")

feature_flags = sa.Table(
    "pf_feature_flags",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # Stable key used in code (e.g. self_registration_enabled); lower case, never renamed.
    sa.Column("flag_key", sa.String(100), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(1000)),
    sa.Column("flag_type", sa.String(10), nullable=False),
    sa.Column("default_value", JsonDocument(), nullable=False),
    # For string/number flags: the values an override may take (NULL = any of the type).
    sa.Column("allowed_values", JsonDocument()),
    sa.Column("rollout_percentage", sa.Integer(), nullable=False),
    # System flags (maintenance_mode, self_registration_enabled, ...) cannot be deleted.
    sa.Column("is_system", sa.Boolean(), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("category", sa.String(50)),
    # Optional window outside which the flag evaluates to its default.
    sa.Column("active_from", UtcDateTime()),
    sa.Column("active_until", UtcDateTime()),
    sa.Column("created_by", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("updated_by", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("flag_key") == sa.func.lower(sa.column("flag_key")), name="key"),
    sa.CheckConstraint(sa.column("flag_type").in_(FLAG_TYPES), name="type"),
    sa.CheckConstraint(sa.column("rollout_percentage").between(0, 100), name="rollout"),
    sa.CheckConstraint(
        sa.or_(
            sa.column("active_from").is_(None),
            sa.column("active_until").is_(None),
            sa.column("active_until") > sa.column("active_from"),
        ),
        name="window",
    ),
    sa.Index(None, "category"),
    sa.Index(None, "created_by"),
    sa.Index(None, "updated_by"),
    *json_checks("default_value", "allowed_values"),
)

user_feature_flags = sa.Table(
    "pf_user_feature_flags",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column(
        "flag_id",
        id_type(),
        sa.ForeignKey(feature_flags.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE")),
    sa.Column("group_id", id_type(), sa.ForeignKey(user_groups.c.id, ondelete="CASCADE")),
    sa.Column("value", JsonDocument(), nullable=False),
    sa.Column("reason", sa.String(500)),
    sa.Column("created_by", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    # The evaluator ignores an override past this instant (the original engine did not).
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        sa.or_(
            sa.and_(sa.column("user_id").is_not(None), sa.column("group_id").is_(None)),
            sa.and_(sa.column("user_id").is_(None), sa.column("group_id").is_not(None)),
        ),
        name="target",
    ),
    sa.Index(None, "user_id"),
    sa.Index(None, "group_id"),
    # Deleting a flag cascades to its overrides; the per-target unique indexes below lead
    # with an expression, so without this one the cascade scans the table (shared schema 3).
    sa.Index(None, "flag_id"),
    sa.Index(None, "created_by"),
    *json_checks("value"),
)

# At most one override per (flag, user) and per (flag, group); see the module docstring for
# why these are expression indexes and not composite UNIQUE constraints. The parentheses
# (Grouping) are required by PostgreSQL around an expression in an index definition.
_c = user_feature_flags.c
sa.Index(
    "ix_pf_user_feature_flags_flag_user",
    Grouping(sa.case((_c.user_id.is_not(None), _c.flag_id))),
    _c.user_id,
    unique=True,
)
sa.Index(
    "ix_pf_user_feature_flags_flag_group",
    Grouping(sa.case((_c.group_id.is_not(None), _c.flag_id))),
    _c.group_id,
    unique=True,
)
del _c
