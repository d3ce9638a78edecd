"""Reference data shared by every user: skills catalogue, career paths, retention policies.

These tables are curated by administrators and seeded by a separate task (never here, so
the schema can be created empty for tests). Keys (``normalized_name``, ``path_key``,
``policy_key``) are stable lower-case identifiers that code and seeds refer to.

``pf_data_retention_policies.table_pattern`` names one logical table (``experiences`` for a
per-user template table, or a shared table such as ``pf_user_sessions``). It is resolved
against the schema's Table objects, never used as a SQL LIKE pattern: the original deletion
code matched tables with an unescaped ``LIKE 'prefix_%'`` and could reach another user's
tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.types import JsonDocument, UtcDateTime, id_type, json_checks

RETENTION_ACTIONS = ("archive", "delete", "archive_then_delete")

skills_catalog = sa.Table(
    "pf_ref_skills_catalog",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    # Lower-cased, whitespace-collapsed name: the matching key, so "Python " and "python"
    # cannot both be catalogued.
    sa.Column("normalized_name", sa.String(100), nullable=False, unique=True),
    sa.Column("category", sa.String(50)),
    sa.Column("aliases", JsonDocument()),  # list of alternative spellings
    sa.Column("description", sa.String(1000)),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        sa.column("normalized_name") == sa.func.lower(sa.column("normalized_name")),
        name="norm",
    ),
    sa.Index(None, "category"),
    *json_checks("aliases"),
)

career_paths = sa.Table(
    "pf_ref_career_paths",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("path_key", sa.String(100), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.String(1000)),
    # Ordered list of stages: [{"title": ..., "typical_years": ..., "skills": [...]}, ...]
    sa.Column("stages", JsonDocument(), nullable=False),
    sa.Column("required_skills", JsonDocument()),
    sa.Column("typical_years", sa.Integer()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("path_key") == sa.func.lower(sa.column("path_key")), name="key"),
    sa.CheckConstraint(
        sa.or_(sa.column("typical_years").is_(None), sa.column("typical_years") >= 0),
        name="years",
    ),
    *json_checks("stages", "required_skills"),
)

data_retention_policies = sa.Table(
    "pf_data_retention_policies",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("policy_key", sa.String(100), nullable=False, unique=True),
    # One logical table name (see the module docstring), lower case.
    sa.Column("table_pattern", sa.String(128), nullable=False),
    # The timestamp column whose age is compared with retention_days.
    sa.Column("age_column", sa.String(64), nullable=False),
    sa.Column("retention_days", sa.Integer(), nullable=False),
    sa.Column("action", sa.String(30), nullable=False),
    # Where archived rows go (a logical table name); required unless the action is delete.
    sa.Column("archive_table", sa.String(128)),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("last_run", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        sa.column("table_pattern") == sa.func.lower(sa.column("table_pattern")), name="table"
    ),
    sa.CheckConstraint(sa.column("retention_days") > 0, name="days"),
    sa.CheckConstraint(sa.column("action").in_(RETENTION_ACTIONS), name="action"),
    sa.CheckConstraint(
        sa.or_(sa.column("action") == "delete", sa.column("archive_table").is_not(None)),
        name="archive",
    ),
)
