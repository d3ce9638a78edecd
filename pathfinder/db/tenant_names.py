"""One set of Table objects for every user; each connection names its own user's tables.

Per-user Table objects cost about 785 KiB a user, and SQLAlchemy keeps more than the objects
themselves: its statement cache pins them, and the dialect's identifier preparer memoises
every quoted name forever. Touching 10,000 users grew a worker from 92 to 410 MiB
(``bench/memory.py``), without bound. So the app builds a user's tables once, for the reserved
username :data:`~pathfinder.schema.naming.TEMPLATE_USERNAME`, and a ``before_cursor_execute``
hook puts the connection's user in place of ``pf_user_<template>_`` in the SQL text just
before it reaches the driver. Memory no longer depends on the number of users, and a
statement compiled for one user is a cache hit for the next.

Only validated usernames are written into SQL, and the template's names are unquoted
lower-case identifiers. Bound values never appear in the SQL text. The template username
holds ``__``, which no username may contain, so no real per-user name (which bound
connections also run: deprovisioning, migrations) can contain the replaced prefix. A template
statement on a connection bound to no user is an error, never a query on the template's
(non-existent) tables, and a binding never outlives the checkout of its pooled connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.schema.naming import TEMPLATE_USERNAME, TENANT_PREFIX, normalize_username

TEMPLATE_PREFIX = f"{TENANT_PREFIX}{TEMPLATE_USERNAME}_"
_BOUND_USER = "pathfinder.tenant_user"


class UnboundTenantStatement(RuntimeError):
    """A per-user statement ran on a connection that is bound to no user."""


def _rewrite(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    if TEMPLATE_PREFIX not in statement:
        return statement, parameters
    user = conn.info.get(_BOUND_USER)
    if user is None:
        raise UnboundTenantStatement(
            "a statement on per-user tables ran outside Database.tenant_transaction/attached"
        )
    return statement.replace(TEMPLATE_PREFIX, f"{TENANT_PREFIX}{user}_"), parameters


def _forget_binding(dbapi_connection: Any, record: Any) -> None:
    # The binding lives in the pooled connection's info; a block that ended without its
    # clean-up (the connection closed inside it) must not hand it to the next checkout.
    record.info.pop(_BOUND_USER, None)


def install(engine: sa.Engine) -> None:
    """Rewrite template names on every statement ``engine`` runs (once per engine)."""
    if not sa.event.contains(engine, "before_cursor_execute", _rewrite):
        sa.event.listen(engine, "before_cursor_execute", _rewrite, retval=True)
        sa.event.listen(engine, "checkin", _forget_binding)


@contextmanager
def bound_to(conn: Connection, username: str) -> Iterator[None]:
    """Statements on ``conn`` address ``username``'s tables until the block ends."""
    user = normalize_username(username)
    previous = conn.info.get(_BOUND_USER)
    if previous is not None and previous != user:
        raise RuntimeError(f"connection already bound to {previous!r}, not {user!r}")
    conn.info[_BOUND_USER] = user
    try:
        yield
    finally:
        if previous is None:
            conn.info.pop(_BOUND_USER, None)
