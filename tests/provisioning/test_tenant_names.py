"""One shared set of Table objects serves every user; the connection names the user's tables.

The rewrite must address exactly the bound user's tables, refuse to run unbound, and never
be reachable by a username (the template's name and its extensions are reserved).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfinder.db import Database
from pathfinder.db.tenant_names import TEMPLATE_PREFIX, UnboundTenantStatement
from pathfinder.ids import new_id
from pathfinder.provisioning import Provisioner
from pathfinder.provisioning.verify import verify_user
from pathfinder.schema.naming import TEMPLATE_USERNAME, InvalidUsername, normalize_username
from pathfinder.schema.tenant import tenant_tables


def _add_skill(db: Database, username: str, name: str) -> None:
    with db.tenant_transaction(username) as (conn, tables):
        now = datetime.now(UTC)
        conn.execute(
            tables.skills.insert().values(
                id=new_id(), name=name, is_primary=False, created_at=now, updated_at=now
            )
        )


def _skill_names(db: Database, username: str) -> list[str]:
    with db.tenant_transaction(username) as (conn, tables):
        return list(conn.execute(sa.select(tables.skills.c.name)).scalars())


def test_each_connection_reaches_only_its_users_tables(db: Database) -> None:
    Provisioner(db).provision("alice")
    Provisioner(db).provision("bob")
    _add_skill(db, "alice", "Python")
    _add_skill(db, "bob", "Rust")
    assert _skill_names(db, "alice") == ["Python"]
    assert _skill_names(db, "bob") == ["Rust"]
    # The same Table object served both: the name was put in by the connection.
    assert db.tables_for("alice").skills is db.tables_for("bob").skills
    assert TEMPLATE_PREFIX in db.tables_for("alice").skills.fullname


def test_the_sql_that_reaches_the_driver_names_the_bound_user(db: Database) -> None:
    Provisioner(db).provision("carol")
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    sa.event.listen(db.engine, "after_cursor_execute", record)
    try:
        _skill_names(db, "carol")
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", record)
    statement = next(s for s in seen if "skills" in s)
    assert "pf_user_carol_skills" in statement
    assert TEMPLATE_USERNAME not in statement


def test_a_template_statement_on_an_unbound_connection_is_refused(db: Database) -> None:
    tables = db.tables_for("dave")
    with db.connect() as conn, pytest.raises(UnboundTenantStatement):
        conn.execute(sa.select(tables.skills.c.id))


def test_no_username_can_be_or_contain_the_template_name() -> None:
    with pytest.raises(InvalidUsername):
        normalize_username(TEMPLATE_USERNAME)
    assert "__" in TEMPLATE_USERNAME  # what keeps it out of every real name


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9_]{2,29}", fullmatch=True))
def test_no_real_name_contains_the_replaced_prefix(raw: str) -> None:
    try:
        user = normalize_username(raw)
    except InvalidUsername:
        return
    tables = tenant_tables(user)
    names = [t.name for t in tables.tables.values()] + [str(ix.name) for _, ix in tables.indexes()]
    assert not any(TEMPLATE_PREFIX in name for name in names)


def test_users_whose_names_hold_the_old_sentinel_stay_apart(db: Database) -> None:
    """Deprovisioning one user runs real names on a bound connection: they must not move."""
    inner, outer = "pf_user_zqsentinelqz", "pf_user_pf_user_zqsentinelqz"
    Provisioner(db).provision(inner)
    Provisioner(db).provision(outer)
    _add_skill(db, outer, "Kept")
    assert Provisioner(db).deprovision(inner).outcome == "dropped"
    assert _skill_names(db, outer) == ["Kept"]
    assert verify_user(db, outer).clean


def test_a_binding_does_not_outlive_its_checkout(db: Database) -> None:
    Provisioner(db).provision("erin")
    with db.connect() as conn:
        with pytest.raises(sa.exc.ResourceClosedError):  # noqa: PT012 - closing inside is the point
            with db.attached(conn, "erin"):
                conn.close()
    with db.connect() as conn, pytest.raises(UnboundTenantStatement):
        conn.execute(sa.select(db.tables_for("erin").skills.c.id))
