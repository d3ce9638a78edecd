"""Which of a user's objects exist, in one catalog query per user and back-end.

The inspector answers one object per query (``has_table``, ``has_index``), which would cost
more than the DDL itself when provisioning; the engine asks once for all of a user's names.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_pg_class = sa.table(
    "pg_class", sa.column("relname"), sa.column("relnamespace"), schema="pg_catalog"
)
_pg_namespace = sa.table(
    "pg_namespace", sa.column("oid"), sa.column("nspname"), schema="pg_catalog"
)
_user_objects = sa.table("user_objects", sa.column("object_name"))


def existing_objects(conn: Connection, names: Collection[str], *, schema: str | None) -> set[str]:
    """The subset of ``names`` (tables, indexes, views) present in the catalog."""
    if not names:
        return set()
    dialect = conn.dialect.name
    wanted = list(names)
    if dialect == "sqlite":
        master = sa.table("sqlite_master", sa.column("name"), schema=schema)
        query = sa.select(master.c.name).where(master.c.name.in_(wanted))
        return set(conn.execute(query).scalars())
    if dialect == "postgresql":
        query = (
            sa.select(_pg_class.c.relname)
            .join(_pg_namespace, _pg_namespace.c.oid == _pg_class.c.relnamespace)
            .where(_pg_namespace.c.nspname == sa.func.current_schema())
            .where(_pg_class.c.relname.in_(wanted))
        )
        return set(conn.execute(query).scalars())
    if dialect == "oracle":
        # Unquoted identifiers are stored upper-case in Oracle's dictionary.
        by_upper = {name.upper(): name for name in wanted}
        query = sa.select(_user_objects.c.object_name).where(
            _user_objects.c.object_name.in_(list(by_upper))
        )
        return {by_upper[found] for found in conn.execute(query).scalars()}
    raise ValueError(f"no catalog query for dialect {dialect!r}")
