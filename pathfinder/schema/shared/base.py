"""The shared MetaData and its naming convention."""

from __future__ import annotations

import sqlalchemy as sa

# Bump when a shared table changes, and add the step to docs/schema.md.
SHARED_SCHEMA_VERSION = 3

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)
