"""The shared ``pf_`` tables: one MetaData for every table all users share.

Importing this package registers every shared table on :data:`metadata`. Modules are split
by domain; each defines its tables at import time with the same naming convention, so every
index and constraint has an explicit, deterministic name (needed by ``verify``, by reviewers
reading ``ddl/shared`` and by Oracle, whose generated SYS_C names differ per database).
"""

from __future__ import annotations

# Import order is dependency order for foreign keys.
from pathfinder.schema.shared import (
    analytics,  # noqa: E402,F401
    cpa,  # noqa: E402,F401
    cpa_sharing,  # noqa: E402,F401
    flags,  # noqa: E402,F401
    identity,  # noqa: E402,F401
    jobs,  # noqa: E402,F401
    messaging,  # noqa: E402,F401
    reference,  # noqa: E402,F401
    security,  # noqa: E402,F401
    system,  # noqa: E402,F401,I001
)
from pathfinder.schema.shared.base import SHARED_SCHEMA_VERSION, metadata

__all__ = ["SHARED_SCHEMA_VERSION", "metadata"]
