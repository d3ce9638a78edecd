"""The provisioning lifecycle against a live Oracle database (opt-in).

Runs only when ``PATHFINDER_TEST_ORACLE_DSN`` is set (see ``tests/oracle/connection.py`` for
the variables; ``docs/dba.md`` for the runbook), and is otherwise *skipped* with that reason,
never reported as passed: until it has run against a server, Oracle support is proven only
offline (``tests/schema/test_oracle_ddl.py``). Use a dedicated schema: the run creates the
shared tables if they are missing and drops everything it created, but it does create and
drop tables there, and DDL on Oracle commits at once.

    export PATHFINDER_TEST_ORACLE_DSN='oracle+oracledb://pf_test:secret@db:1521/?service_name=pdb1'
    .venv/bin/pytest -m oracle tests/oracle -ra
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pathfinder import create_app
from pathfinder.db import Database, get_database
from pathfinder.schema.oracle_profile import oracle_dialect
from tests.oracle.connection import SKIP_REASON, oracle_url
from tests.oracle.lifecycle import catalog_names, run_lifecycle, unique_users

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def oracle_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = oracle_url(os.environ)
    if url is None:
        pytest.skip(SKIP_REASON)
    instance: Path = tmp_path_factory.mktemp("oracle_instance")
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "TESTING": True})
    database = get_database(app)
    assert database.dialect_name == "oracle"
    yield database
    database.dispose()


def test_server_answers_in_thin_mode(oracle_db: Database) -> None:
    import oracledb

    with oracle_db.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 FROM dual")).scalar() == 1
        conn.rollback()
    assert oracledb.is_thin_mode()


def test_connected_dialect_agrees_with_the_offline_profile(oracle_db: Database) -> None:
    """The committed ddl/ assumes the 19c profile; a 19c-22 server must compile the same."""
    with oracle_db.connect() as conn:
        conn.rollback()
    live = oracle_db.engine.dialect
    version = live.server_version_info
    assert version is not None and version >= (19,), version
    expected = oracle_dialect("19c" if version < (23,) else "23ai")
    table = sa.Table(
        "t", sa.MetaData(), sa.Column("flag", sa.Boolean()), sa.Column("doc", sa.JSON())
    )
    for column in table.c:
        assert column.type.compile(dialect=live) == column.type.compile(dialect=expected)
    assert live.max_identifier_length == 128


def test_provisioning_lifecycle(oracle_db: Database) -> None:
    run = run_lifecycle(oracle_db, unique_users("pfo"))
    assert run.cleanup_errors == []
    for user in run.users:
        assert catalog_names(oracle_db, user) == set()
