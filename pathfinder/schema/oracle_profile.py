"""The Oracle server profiles DDL is compiled for when no Oracle server is connected.

SQLAlchemy's oracle dialect decides how ``Boolean`` and ``JSON`` render from the server
version it reads on connect (``initialize()``). Compiled offline, it has no version and
assumes the newest server (23ai: native BOOLEAN and JSON types). Production runs on
Autonomous Database, whose conservative baseline is 19c, so the committed ``ddl/`` and the
offline contract tests name the profile they use instead of inheriting that assumption
(``research/db-strategy.md`` §2 and §7).
"""

from __future__ import annotations

from typing import Literal, TypeVar

from sqlalchemy.dialects import oracle
from sqlalchemy.engine import Dialect

OracleProfile = Literal["19c", "23ai"]
ORACLE_PROFILES: tuple[OracleProfile, ...] = ("19c", "23ai")
# The profile the committed ddl/ is rendered with.
DEFAULT_ORACLE_PROFILE: OracleProfile = "19c"

PROFILE_DESCRIPTIONS: dict[OracleProfile, str] = {
    "19c": "19c (Autonomous Database baseline: Boolean as SMALLINT, generic JSON as BLOB)",
    "23ai": "23ai (native BOOLEAN and JSON types)",
}

D = TypeVar("D", bound=Dialect)


def apply_oracle_19c_profile(dialect: D) -> D:
    """Make an offline oracle ``dialect`` compile as it would once connected to 19c.

    These two flags are exactly what ``OracleDialect.initialize()`` sets from
    ``server_version_info`` (``>= (23,)`` for native BOOLEAN, ``>= (21,)`` for the JSON
    type), so 19c gets ``SMALLINT`` for ``Boolean`` and ``BLOB`` for ``JSON``. Both are
    private SQLAlchemy attributes: this is the one place that touches them, and
    ``tests/schema/test_oracle_ddl.py`` fails if a SQLAlchemy upgrade changes their meaning.
    The dialect is changed in place (it may be a mock engine's) and returned.
    """
    if dialect.name != "oracle":
        raise ValueError(f"the 19c profile applies to the oracle dialect, not {dialect.name!r}")
    for attribute in ("supports_native_boolean", "_supports_oracle_json"):
        if not hasattr(dialect, attribute):
            raise RuntimeError(
                f"SQLAlchemy's oracle dialect has no {attribute!r} any more: "
                "re-check research/db-strategy.md §2 before rendering Oracle DDL"
            )
    dialect.supports_native_boolean = False
    dialect._supports_oracle_json = False  # type: ignore[attr-defined]
    return dialect


def apply_oracle_profile(dialect: D, profile: OracleProfile) -> D:
    """Apply ``profile`` to an offline oracle dialect (23ai is the dialect's own default)."""
    if profile == "19c":
        return apply_oracle_19c_profile(dialect)
    if profile == "23ai":
        return dialect
    raise ValueError(f"unknown Oracle profile {profile!r}; expected one of {ORACLE_PROFILES}")


def oracle_dialect(profile: OracleProfile = DEFAULT_ORACLE_PROFILE) -> Dialect:
    """A fresh offline oracle dialect compiling for ``profile``."""
    return apply_oracle_profile(oracle.dialect(), profile)
