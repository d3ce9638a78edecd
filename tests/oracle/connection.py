"""Where the live Oracle tests connect, read from the environment.

``PATHFINDER_TEST_ORACLE_DSN`` is either

- a SQLAlchemy URL, ``oracle+oracledb://user:password@host:port/?service_name=...`` (any
  python-oracledb ``connect()`` argument may follow as a query parameter), or
- a python-oracledb connect string: Easy Connect (``host:port/service``,
  ``tcps://host:1522/service?retry_count=20``), a full ``(DESCRIPTION=...)`` descriptor (the
  TLS connect string Autonomous Database shows), or a TNS alias from ``tnsnames.ora``; then
  ``PATHFINDER_TEST_ORACLE_USER`` and ``PATHFINDER_TEST_ORACLE_PASSWORD`` give the account.

For a wallet (mTLS), ``PATHFINDER_TEST_ORACLE_CONFIG_DIR`` (folder with ``tnsnames.ora``),
``PATHFINDER_TEST_ORACLE_WALLET_LOCATION`` (folder with ``ewallet.pem``) and
``PATHFINDER_TEST_ORACLE_WALLET_PASSWORD`` are passed to python-oracledb (thin mode).

Everything ends up in one SQLAlchemy URL, because that is all the application accepts
(``PATHFINDER_DATABASE_URL``): the same URL works for ``pathfinder`` commands.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

DSN_ENV = "PATHFINDER_TEST_ORACLE_DSN"
USER_ENV = "PATHFINDER_TEST_ORACLE_USER"
PASSWORD_ENV = "PATHFINDER_TEST_ORACLE_PASSWORD"
# Optional python-oracledb connect() arguments, by environment variable.
CONNECT_ARG_ENVS = {
    "config_dir": "PATHFINDER_TEST_ORACLE_CONFIG_DIR",
    "wallet_location": "PATHFINDER_TEST_ORACLE_WALLET_LOCATION",
    "wallet_password": "PATHFINDER_TEST_ORACLE_WALLET_PASSWORD",
}
SKIP_REASON = f"{DSN_ENV} is not set: live Oracle tests need a database"
DRIVER = "oracle+oracledb"


class OracleSettingsError(ValueError):
    """The variables are set but do not describe a usable connection."""


def oracle_url(env: Mapping[str, str]) -> str | None:
    """The SQLAlchemy URL the variables in ``env`` describe, or None when the DSN is unset."""
    dsn = env.get(DSN_ENV, "").strip()
    if not dsn:
        return None
    extra = {arg: env[name] for arg, name in CONNECT_ARG_ENVS.items() if env.get(name)}
    user = env.get(USER_ENV) or None
    password = env.get(PASSWORD_ENV) or None
    if dsn.lower().startswith("oracle"):
        url = sa.engine.make_url(dsn)
        if url.drivername != DRIVER:
            raise OracleSettingsError(
                f"{DSN_ENV} must use the thin driver {DRIVER}://, not {url.drivername}://"
            )
        url = url.set(
            username=url.username or user,
            password=url.password if url.password is not None else password,
        ).update_query_dict(extra)
    else:
        if not user or not password:
            raise OracleSettingsError(
                f"{DSN_ENV} is a connect string, so {USER_ENV} and {PASSWORD_ENV} must be set"
            )
        url = sa.engine.URL.create(
            DRIVER, username=user, password=password, query={"dsn": dsn, **extra}
        )
    if not url.username:
        raise OracleSettingsError(f"no user: put it in the URL of {DSN_ENV} or set {USER_ENV}")
    return url.render_as_string(hide_password=False)
