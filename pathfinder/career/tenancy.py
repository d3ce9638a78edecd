"""The unit of work of every career request: one transaction on the caller's own tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from sqlalchemy.engine import Connection

from pathfinder.api.errors import Problem
from pathfinder.db import Database, TenantNotProvisioned, get_database
from pathfinder.schema.tenant import TenantTables


class TablesNotReady(Problem):
    """The user's tables are missing (provisioning failed or is still running)."""

    status = 503
    slug = "tables-not-ready"
    title = "Your data is not available yet"


def utc_today() -> date:
    """Today's date in UTC: the "today" a current role runs to in the summaries."""
    return datetime.now(UTC).date()


@contextmanager
def user_unit(
    username: str, db: Database | None = None
) -> Iterator[tuple[Connection, TenantTables]]:
    """One transaction over the shared tables and ``username``'s own tables.

    A user whose tables do not exist gets a 503 problem asking to retry, not a 500: it
    happens while provisioning is being repaired.
    """
    database = db or get_database()
    try:
        with database.tenant_transaction(username) as (conn, tables):
            yield conn, tables
    except TenantNotProvisioned:
        raise TablesNotReady(
            "Your data tables are not ready; try again shortly.", headers={"Retry-After": "30"}
        ) from None
