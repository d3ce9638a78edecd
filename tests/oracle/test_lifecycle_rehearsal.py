"""Offline checks of the live Oracle module's own code, so a release window is not wasted.

The lifecycle script runs on SQLite here (same engine, same assertions), and the variables
that point the live test at a database are turned into URLs the oracledb dialect accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from pathfinder import create_app
from pathfinder.db import get_database
from tests.oracle.connection import (
    DSN_ENV,
    PASSWORD_ENV,
    SKIP_REASON,
    USER_ENV,
    OracleSettingsError,
    oracle_url,
)
from tests.oracle.lifecycle import catalog_names, run_lifecycle, unique_users

ADB_TLS = (
    "(description=(retry_count=20)(retry_delay=3)(address=(protocol=tcps)(port=1522)"
    "(host=adb.eu-frankfurt-1.oraclecloud.com))(connect_data=(service_name=abc_pf_low"
    ".adb.oraclecloud.com))(security=(ssl_server_dn_match=yes)))"
)


def connect_args(url: str) -> dict[str, object]:
    engine = sa.create_engine(url)
    return dict(engine.dialect.create_connect_args(engine.url)[1])


def test_lifecycle_script_runs_on_sqlite(tmp_path: Path) -> None:
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'pf.db'}", "INSTANCE_PATH": str(tmp_path)}
    )
    db = get_database(app)
    run = run_lifecycle(db, unique_users("rehearse"))
    assert run.created_shared and run.cleanup_errors == []
    for user in run.users:
        assert catalog_names(db, user) == set()
    with db.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    db.dispose()


def test_lifecycle_cleans_up_after_a_failure(tmp_path: Path) -> None:
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'pf.db'}", "INSTANCE_PATH": str(tmp_path)}
    )
    db = get_database(app)
    with pytest.raises(Exception, match="invalid|username"):
        run_lifecycle(db, ("fine_user", "Not Valid!"))
    with db.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    assert not (tmp_path / "tenants" / "fine_user.db").exists()
    db.dispose()


def test_unset_dsn_means_skip() -> None:
    assert oracle_url({}) is None
    assert oracle_url({DSN_ENV: "  "}) is None
    assert SKIP_REASON == (
        "PATHFINDER_TEST_ORACLE_DSN is not set: live Oracle tests need a database"
    )


def test_sqlalchemy_url_is_used_as_given() -> None:
    url = oracle_url({DSN_ENV: "oracle+oracledb://pf:s3cret@db:1521/?service_name=freepdb1"})
    assert url is not None
    args = connect_args(url)
    assert args["user"] == "pf" and args["password"] == "s3cret"
    assert "SERVICE_NAME=freepdb1" in str(args["dsn"])


def test_url_without_credentials_takes_them_from_the_environment() -> None:
    env = {
        DSN_ENV: "oracle+oracledb://@mydb_high",
        USER_ENV: "pf",
        PASSWORD_ENV: "p@ss/word",
        "PATHFINDER_TEST_ORACLE_CONFIG_DIR": "/opt/wallet",
        "PATHFINDER_TEST_ORACLE_WALLET_LOCATION": "/opt/wallet",
        "PATHFINDER_TEST_ORACLE_WALLET_PASSWORD": "pem pass",
    }
    args = connect_args(oracle_url(env) or "")
    assert args == {
        "dsn": "mydb_high",
        "user": "pf",
        "password": "p@ss/word",
        "config_dir": "/opt/wallet",
        "wallet_location": "/opt/wallet",
        "wallet_password": "pem pass",
    }


@pytest.mark.parametrize(
    "dsn", [ADB_TLS, "tcps://adb.eu-frankfurt-1.oraclecloud.com:1522/abc_pf_low?retry_count=3"]
)
def test_connect_string_with_user_and_password(dsn: str) -> None:
    url = oracle_url({DSN_ENV: dsn, USER_ENV: "PF_APP", PASSWORD_ENV: "x?y&z"})
    assert connect_args(url or "") == {"dsn": dsn, "user": "PF_APP", "password": "x?y&z"}


def test_connect_string_needs_user_and_password() -> None:
    with pytest.raises(OracleSettingsError, match=USER_ENV):
        oracle_url({DSN_ENV: ADB_TLS})


def test_other_drivers_are_refused() -> None:
    with pytest.raises(OracleSettingsError, match="oracle\\+oracledb"):
        oracle_url({DSN_ENV: "oracle+cx_oracle://pf:x@db/?service_name=s"})
