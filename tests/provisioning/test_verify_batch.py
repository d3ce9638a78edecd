"""The batched verify says exactly what ``verify_user`` says, user by user."""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.provisioning import Provisioner, registry
from pathfinder.provisioning.verify import verify_user
from pathfinder.provisioning.verify_batch import verify_users
from pathfinder.schema.ddl import AddColumn
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables


def _ddl(db: Database, username: str, sql: str) -> None:
    with db.connect() as conn, db.attached(conn, username), conn.begin():
        conn.exec_driver_sql(sql.format(s="tenant." if db.is_sqlite else ""))


def test_batched_verify_matches_verify_user_on_every_kind_of_drift(db: Database) -> None:
    provisioner = Provisioner(db)
    for name in ("clean", "extracol", "noindex", "notable", "behind", "unlisted", "dropped"):
        provisioner.provision(name, version=2 if name == "behind" else LATEST_TEMPLATE_VERSION)
    tables = tenant_tables("extracol", schema=db.tenant_schema)
    with db.connect() as conn, db.attached(conn, "extracol"), conn.begin():
        conn.execute(AddColumn(tables.skills, sa.Column("stray", sa.Integer())))
    _ddl(db, "noindex", "DROP INDEX {s}pf_user_noindex_ix_skill_name")
    _ddl(db, "notable", "DROP TABLE {s}pf_user_notable_chat_messages")
    with db.transaction() as conn:
        registry.unregister_object(conn, "unlisted", "pf_user_unlisted_ix_exp_dates")
    provisioner.deprovision("dropped")
    with db.transaction() as conn:
        registry.ensure_tenant_row(conn, "halfway")
        registry.set_state(conn, "halfway", "creating")
    names = ["clean", "extracol", "noindex", "notable", "behind", "unlisted", "dropped"]
    names += ["halfway", "nobody"]

    batched = verify_users(db, names)

    assert [d.username for d in batched] == names
    for drift in batched:
        one = verify_user(db, drift.username)
        assert drift.lines() == one.lines(), drift.username
        assert drift.clean == one.clean
    by_name = {d.username: d for d in batched}
    assert by_name["clean"].clean
    assert not by_name["extracol"].clean and not by_name["notable"].clean
    assert not by_name["unlisted"].clean and not by_name["behind"].clean
