"""The shared tables: created and dropped for real on SQLite, compiled for Oracle and PostgreSQL.

Behaviour (CHECKs, computed columns, the statistics refresh) is exercised on a real SQLite
file, the embedded back-end. Oracle and PostgreSQL DDL is compiled offline here; the
PostgreSQL integration suite runs the same metadata against a live server.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import oracle, postgresql, sqlite
from sqlalchemy.dialects.oracle.base import RESERVED_WORDS as SA_ORACLE_RESERVED
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as SA_PG_RESERVED
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from pathfinder.ids import ID_LENGTH, new_id
from pathfinder.schema.naming import is_valid_username
from pathfinder.schema.shared import analytics, cpa, flags, identity, metadata, security
from pathfinder.schema.tenant import tenant_tables
from pathfinder.schema.types import JsonDocument, UtcDateTime

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

# Oracle SQL Language Reference, "Oracle SQL Reserved Words" (V$RESERVED_WORDS with
# RESERVED = 'Y'): SQLAlchemy's list misses some of them (ACCESS, FILE, SESSION, ...).
ORACLE_DOCUMENTED_RESERVED = frozenset(
    """
    access add all alter and any as asc audit between by char check cluster column
    column_value comment compress connect create current date decimal default delete desc
    distinct drop else exclusive exists file float for from grant group having identified
    immediate in increment index initial insert integer intersect into is level like lock
    long maxextents minus mlslabel mode modify nested_table_id noaudit nocompress not nowait
    null number of offline on online option or order pctfree prior public raw rename
    resource revoke row rowid rownum rows select session set share size smallint start
    successful synonym sysdate table then to trigger uid union unique update user validate
    values varchar varchar2 view whenever where with
    """.split()
)
RESERVED = (
    ORACLE_DOCUMENTED_RESERVED
    | {w.lower() for w in SA_ORACLE_RESERVED}
    | set(SA_PG_RESERVED)
    | set(sqlite.base.SQLiteIdentifierPreparer.reserved_words)
)
# PostgreSQL truncates longer names (Oracle allows 128): staying under 63 keeps every
# index and constraint name identical on both servers, which `verify` relies on.
MAX_NAME = 63
# External identifiers that are not ULIDs.
NON_ULID_ID_COLUMNS = {
    ("pf_sso_accounts", "provider_user_id"),
    ("pf_audit_checkpoints", "key_id"),  # a signing key's fingerprint
}
# The one key the database numbers: the audit log's order, so appending needs no lock.
DATABASE_NUMBERED = {("pf_audit_log", "seq")}


def _oracle_19c() -> Dialect:
    dialect = oracle.dialect()
    dialect.supports_native_boolean = False  # what initialize() sets before 23ai
    return dialect


def _postgresql_15() -> Dialect:
    dialect = postgresql.dialect()
    # What initialize() sets when connected to a server older than 18.
    dialect.server_version_info = (15, 0)
    dialect.supports_virtual_generated_columns = False
    return dialect


DIALECTS = {
    "oracle": oracle.dialect,
    "oracle19c": _oracle_19c,
    "postgresql": postgresql.dialect,
    "postgresql15": _postgresql_15,
    "sqlite": sqlite.dialect,
}


# --- fixtures and row builders -----------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'shared.db'}")

    @sa.event.listens_for(eng, "connect")
    def _foreign_keys_on(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys = ON")

    with eng.begin() as conn:
        metadata.create_all(conn)
    yield eng
    eng.dispose()


def _insert_user(conn: sa.Connection, username: str) -> str:
    user_id = new_id()
    conn.execute(
        identity.users.insert().values(
            id=user_id,
            username=username,
            email=f"{username}@example.org",
            email_normalized=f"{username}@example.org",
            email_verified=True,
            role="user",
            account_status="active",
            mfa_enabled=False,
            failed_login_count=0,
            total_logins=0,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    return user_id


def _insert_group(conn: sa.Connection, name: str) -> str:
    group_id = new_id()
    conn.execute(
        identity.user_groups.insert().values(
            id=group_id, name=name, priority=0, is_default=False, created_at=NOW, updated_at=NOW
        )
    )
    return group_id


def _insert_flag(conn: sa.Connection) -> str:
    flag_id = new_id()
    conn.execute(
        flags.feature_flags.insert().values(
            id=flag_id,
            flag_key="new_editor",
            name="New editor",
            flag_type="boolean",
            default_value=False,
            allowed_values=[True, False],
            rollout_percentage=0,
            is_system=False,
            enabled=True,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    return flag_id


def _override(flag_id: str, *, user_id: str | None = None, group_id: str | None = None) -> Any:
    return flags.user_feature_flags.insert().values(
        id=new_id(),
        flag_id=flag_id,
        user_id=user_id,
        group_id=group_id,
        value=True,
        created_at=NOW,
        updated_at=NOW,
    )


def _insert_experience(
    conn: sa.Connection, start: dt.date, end: dt.date | None, *, code: str = "FR1"
) -> str:
    user_id = _insert_user(conn, "candidate")
    conn.execute(
        cpa.frameworks.insert().values(
            framework_version="PER-2021",
            name="CPA Practical Experience Requirements",
            effective_from=dt.date(2021, 1, 1),
            rules={"breadth": {"level1": 8, "level2": 4}},
            created_at=NOW,
            updated_at=NOW,
        )
    )
    conn.execute(
        cpa.competencies.insert().values(
            framework_version="PER-2021",
            code="FR1",
            kind="technical",
            area_code="FR",
            area_name="Financial Reporting",
            name="Financial reporting needs and systems",
            aliases=[],
            guiding_questions=[],
            sort_order=1,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    report_id = new_id()
    conn.execute(
        cpa.reports.insert().values(
            id=report_id,
            user_id=user_id,
            route="EVR",
            framework_version="PER-2021",
            employer_name="Example LLP",
            position_title="Staff accountant",
            period_start=dt.date(2025, 1, 1),
            period_end=dt.date(2025, 6, 30),
            status="draft",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    experience_id = new_id()
    conn.execute(
        cpa.experiences.insert().values(
            id=experience_id,
            report_id=report_id,
            user_id=user_id,
            framework_version="PER-2021",
            sub_competency_code=code,
            experience_title="Month-end close",
            experience_start_date=start,
            experience_end_date=end,
            proficiency_level=1,
            character_count=0,
            word_count=0,
            approval_status="draft",
            version_number=1,
            is_current_version=True,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    return experience_id


def _rejected(engine: sa.Engine, statement: Any) -> None:
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(statement)


# --- creating and dropping -----------------------------------------------------------------


def test_create_all_creates_every_shared_table_and_the_stats_table(engine: sa.Engine) -> None:
    names = set(sa.inspect(engine).get_table_names())
    assert set(metadata.tables) <= names
    assert analytics.user_stats.name in names
    # The stats table is created by the metadata hook, not by the table pass.
    assert analytics.user_stats.name not in metadata.tables


def test_create_all_twice_is_a_no_op(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        metadata.create_all(conn)
    assert analytics.user_stats.name in sa.inspect(engine).get_table_names()


def test_drop_all_drops_everything_including_the_stats_table(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        metadata.drop_all(conn)
    assert sa.inspect(engine).get_table_names() == []
    with engine.begin() as conn:  # and again, with nothing left to drop
        metadata.drop_all(conn)


# --- CHECK constraints on SQLite ---------------------------------------------------------


def test_json_checks_reject_invalid_json(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        user_id = _insert_user(conn, "alice")
    row = {
        "user_id": user_id,
        "preferences": {"theme": "dark"},
        "notification_settings": {},
        "privacy_settings": {},
        "updated_at": NOW,
    }
    with engine.begin() as conn:
        conn.execute(identity.user_preferences.insert().values(**row))
        conn.execute(identity.user_preferences.delete())
    # Bypass the JSON type's serialisation to store text that is not JSON.
    bad = dict(row, preferences=sa.type_coerce("{not json", sa.Text()))
    _rejected(engine, identity.user_preferences.insert().values(**bad))
    audit = {
        "id": new_id(),
        "event_type": "auth.login",
        "outcome": "success",
        "details": sa.type_coerce("[1, 2", sa.Text()),
        "row_hash": "a" * 64,
        "created_at": NOW,
    }
    _rejected(engine, security.audit_log.insert().values(**audit))


def test_nullable_json_columns_accept_null(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            analytics.user_analytics.insert().values(
                id=new_id(), event_type="page_view", event_data=None, created_at=NOW
            )
        )


@pytest.mark.parametrize(
    "dialect_name, predicate",
    [("oracle", "IS JSON"), ("sqlite", "json_valid(")],
)
def test_every_json_column_has_a_validating_check(dialect_name: str, predicate: str) -> None:
    dialect = DIALECTS[dialect_name]()
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        for column in table.columns:
            if isinstance(column.type, JsonDocument):
                name = f"ck_{table.name}_{column.name}_json"
                assert re.search(rf"CONSTRAINT {name} CHECK \([^)]*{re.escape(predicate)}", ddl), (
                    f"{table.name}.{column.name} has no {predicate} check"
                )


def test_json_checks_are_left_to_jsonb_on_postgresql() -> None:
    ddl = str(CreateTable(identity.user_preferences).compile(dialect=postgresql.dialect()))
    assert "JSONB" in ddl
    assert "IS JSON" not in ddl and "json_valid" not in ddl


def test_flag_override_targets_exactly_one_user_or_group(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        flag_id = _insert_flag(conn)
        user_id = _insert_user(conn, "alice")
        group_a = _insert_group(conn, "beta")
        group_b = _insert_group(conn, "staff")
    _rejected(engine, _override(flag_id, user_id=user_id, group_id=group_a))
    _rejected(engine, _override(flag_id))
    with engine.begin() as conn:
        conn.execute(_override(flag_id, user_id=user_id))
        conn.execute(_override(flag_id, group_id=group_a))
        conn.execute(_override(flag_id, group_id=group_b))
    # One override per (flag, user) and per (flag, group).
    _rejected(engine, _override(flag_id, user_id=user_id))
    _rejected(engine, _override(flag_id, group_id=group_a))


def test_username_must_be_canonical(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _insert_user(conn, "alice")
    _rejected(
        engine,
        sa.update(identity.users).values(username="Alice"),
    )


@pytest.mark.parametrize(
    "start, end, days",
    [
        (dt.date(2025, 1, 1), dt.date(2025, 1, 31), 31),
        (dt.date(2025, 1, 1), dt.date(2025, 1, 1), 1),
        (dt.date(2024, 2, 1), dt.date(2024, 3, 1), 30),  # leap year
        (dt.date(2025, 1, 1), None, None),  # still going on
    ],
)
def test_duration_days_is_computed_inclusively(
    engine: sa.Engine, start: dt.date, end: dt.date | None, days: int | None
) -> None:
    with engine.begin() as conn:
        experience_id = _insert_experience(conn, start, end)
        duration = conn.scalar(
            sa.select(cpa.experiences.c.duration_days).where(cpa.experiences.c.id == experience_id)
        )
    assert duration == days


def test_experience_needs_a_known_competency_code(engine: sa.Engine) -> None:
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        _insert_experience(conn, dt.date(2025, 1, 1), None, code="XX9")


@pytest.mark.parametrize("hours", ["0", "-1", "24.01"])
def test_time_tracking_rejects_hours_outside_a_day(engine: sa.Engine, hours: str) -> None:
    with engine.begin() as conn:
        experience_id = _insert_experience(conn, dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    _rejected(engine, _time_entry(experience_id, dt.date(2025, 1, 2), hours))


def test_time_tracking_accepts_a_full_day_once_per_date(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        experience_id = _insert_experience(conn, dt.date(2025, 1, 1), dt.date(2025, 1, 31))
        conn.execute(_time_entry(experience_id, dt.date(2025, 1, 2), "24"))
        conn.execute(_time_entry(experience_id, dt.date(2025, 1, 3), "0.25"))
        total = conn.scalar(sa.select(sa.func.sum(cpa.experience_time_tracking.c.hours)))
    assert total == Decimal("24.25")
    _rejected(engine, _time_entry(experience_id, dt.date(2025, 1, 2), "1"))


def _time_entry(experience_id: str, day: dt.date, hours: str) -> Any:
    return cpa.experience_time_tracking.insert().values(
        id=new_id(),
        experience_id=experience_id,
        entry_date=day,
        hours=Decimal(hours),
        activity_category="direct_work",
        created_at=NOW,
        updated_at=NOW,
    )


# --- pf_mv_user_stats on SQLite ----------------------------------------------------------


def _event(user_id: str | None, at: dt.datetime) -> Any:
    return analytics.user_analytics.insert().values(
        id=new_id(), user_id=user_id, event_type="page_view", event_data={"p": "/"}, created_at=at
    )


def test_refresh_user_stats_counts_events_per_user(engine: sa.Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        alice = _insert_user(conn, "alice")
        _insert_user(conn, "bob")
        for at in (
            now - dt.timedelta(minutes=5),
            now - dt.timedelta(minutes=1),
            now - dt.timedelta(days=1),
            now - dt.timedelta(days=10),
            now - dt.timedelta(days=45),
        ):
            conn.execute(_event(alice, at))
        conn.execute(_event(None, now))  # anonymous: belongs to nobody
        analytics.refresh_user_stats(conn)
        stats = {row.username: row for row in conn.execute(sa.select(analytics.user_stats))}

    assert set(stats) == {"alice", "bob"}
    a = stats["alice"]
    assert a.user_id == alice
    assert (a.total_events, a.events_7d, a.events_30d) == (5, 3, 4)
    expected_days = {(now - dt.timedelta(minutes=m)).date() for m in (5, 1)} | {
        (now - dt.timedelta(days=d)).date() for d in (1, 10, 45)
    }
    assert a.active_days == len(expected_days)
    assert a.last_event_at == now - dt.timedelta(minutes=1)
    assert a.first_event_at == now - dt.timedelta(days=45)
    assert a.refreshed_at.tzinfo is dt.UTC
    b = stats["bob"]
    assert (b.total_events, b.active_days, b.events_30d, b.last_event_at) == (0, 0, 0, None)


def test_refresh_user_stats_replaces_the_snapshot_in_the_callers_transaction(
    engine: sa.Engine,
) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        alice = _insert_user(conn, "alice")
        conn.execute(_event(alice, now))
        analytics.refresh_user_stats(conn)
    total = sa.select(analytics.user_stats.c.total_events)
    with engine.connect() as conn:
        conn.execute(_event(alice, now))
        analytics.refresh_user_stats(conn)
        assert conn.scalar(total) == 2
        conn.rollback()
        assert conn.scalar(total) == 1


# --- DDL for Oracle and PostgreSQL, compiled offline ------------------------------------


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_every_table_and_index_compiles(dialect_name: str) -> None:
    dialect = DIALECTS[dialect_name]()
    for table in metadata.sorted_tables:
        assert str(CreateTable(table).compile(dialect=dialect))
        for index in table.indexes:
            assert str(CreateIndex(index).compile(dialect=dialect))
    base_name = dialect.name
    for ddl in analytics.user_stats_ddl(base_name) + analytics.user_stats_drop_ddl(base_name):
        assert str(ddl.compile(dialect=dialect))


@pytest.mark.parametrize(
    "url, marker",
    [
        ("oracle+oracledb://", "BUILD IMMEDIATE REFRESH COMPLETE ON DEMAND"),
        ("postgresql+psycopg://", "CREATE MATERIALIZED VIEW pf_mv_user_stats AS SELECT"),
    ],
)
def test_create_all_through_a_mock_engine_includes_the_view(url: str, marker: str) -> None:
    statements: list[Any] = []
    mock = sa.create_mock_engine(url, lambda sql, *args, **kw: statements.append(sql))
    metadata.create_all(mock, checkfirst=False)
    metadata.drop_all(mock, checkfirst=False)
    rendered = [str(sql.compile(dialect=mock.dialect)) for sql in statements]
    created = [i for i, text in enumerate(rendered) if marker in text]
    assert len(created) == 1
    # The view comes after its source tables and is dropped before them.
    first_drop = next(i for i, text in enumerate(rendered) if "DROP" in text)
    assert "DROP MATERIALIZED VIEW pf_mv_user_stats" in rendered[first_drop]
    assert rendered[created[0] + 1].startswith("CREATE UNIQUE INDEX ix_pf_mv_user_stats_user_id")
    assert created[0] < first_drop


def test_user_analytics_is_interval_partitioned_on_oracle_only() -> None:
    table = analytics.user_analytics
    ora = str(CreateTable(table).compile(dialect=oracle.dialect()))
    assert (
        "PARTITION BY RANGE (created_at) INTERVAL (NUMTODSINTERVAL(1, 'DAY')) "
        "(PARTITION p_start VALUES LESS THAN (TIMESTAMP '2026-01-01 00:00:00'))"
    ) in ora
    for index in table.indexes:
        assert str(CreateIndex(index).compile(dialect=oracle.dialect())).endswith(" LOCAL")
    pg = str(CreateTable(table).compile(dialect=postgresql.dialect()))
    assert "PARTITION" not in pg
    for other in metadata.sorted_tables:
        if other is not table:
            assert "PARTITION" not in str(CreateTable(other).compile(dialect=oracle.dialect()))


def test_duration_days_is_virtual_on_oracle_and_stored_on_postgresql() -> None:
    ora = str(CreateTable(cpa.experiences).compile(dialect=oracle.dialect()))
    assert re.search(r"duration_days INTEGER GENERATED ALWAYS AS \(.+\),", ora)
    assert "STORED" not in ora
    for dialect in (postgresql.dialect(), _postgresql_15()):  # no warning on either
        pg = str(CreateTable(cpa.experiences).compile(dialect=dialect))
        assert (
            "duration_days INTEGER GENERATED ALWAYS AS "
            "((experience_end_date - experience_start_date) + 1) STORED"
        ) in pg


def test_timestamps_are_timestamp_not_date_on_oracle() -> None:
    ddl = str(CreateTable(identity.users).compile(dialect=oracle.dialect()))
    assert "created_at TIMESTAMP NOT NULL" in ddl
    assert "locked_until DATE" not in ddl


# --- rules every shared table follows ----------------------------------------------------


def _all_tables() -> list[sa.Table]:
    return [*metadata.sorted_tables, analytics.user_stats]


def _object_names() -> list[str]:
    names: list[str] = []
    for table in _all_tables():
        names.append(table.name)
        names.extend(str(index.name) for index in table.indexes)
        names.extend(str(c.name) for c in table.constraints if c.name is not None)
    return names


def test_every_constraint_and_index_is_named_short_and_lower_case() -> None:
    for table in _all_tables():
        for item in [*table.constraints, *table.indexes]:
            assert item.name is not None, f"unnamed {type(item).__name__} on {table.name}"
    for name in _object_names():
        assert len(name) <= MAX_NAME, name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name


def test_index_and_constraint_names_are_unique_across_the_schema() -> None:
    seen: dict[str, str] = {}
    for table in _all_tables():
        # The two JSON checks of a column share one name; only one exists per database.
        names = {str(item.name) for item in [*table.constraints, *table.indexes]}
        for name in names:
            assert name not in seen, f"{name} is used by {seen[name]} and {table.name}"
            seen[name] = table.name


def test_no_table_or_column_name_is_a_reserved_word() -> None:
    for table in _all_tables():
        assert table.name not in RESERVED
        for column in table.columns:
            assert column.name.lower() not in RESERVED, f"{table.name}.{column.name}"
            assert column.name == column.name.lower()


def test_no_shared_name_can_be_read_as_a_per_user_object() -> None:
    probe = tenant_tables("template_probe")
    prefix = "pf_user_template_probe_"
    tails = {table.name[len(prefix) :] for table in probe.tables.values()}
    for table in probe.tables.values():
        tails |= {str(ix.name)[len(prefix) :] for ix in table.indexes}
        tails |= {str(c.name)[len(prefix) :] for c in table.constraints if c.name}
    parts = set(probe.tables)
    for name in _object_names():
        if not name.startswith("pf_user_"):
            continue
        rest = name[len("pf_user_") :]
        for part in parts:
            assert not rest.endswith(f"_{part}"), f"{name} ends with template part {part}"
        for tail in tails:
            if rest.endswith(f"_{tail}"):
                username = rest[: -len(tail) - 1]
                assert not is_valid_username(username), f"{name} = {username!r} + {tail!r}"


def test_ids_are_application_ulids() -> None:
    for table in _all_tables():
        for column in table.columns:
            if column.name == "id" or column.name.endswith("_id"):
                if (table.name, column.name) in NON_ULID_ID_COLUMNS:
                    continue
                assert isinstance(column.type, sa.String), f"{table.name}.{column.name}"
                assert column.type.length == ID_LENGTH, f"{table.name}.{column.name}"
            # No database-made keys: no SYS_GUID() default, no autoincrement integer.
            if (table.name, column.name) in DATABASE_NUMBERED:
                assert isinstance(column.server_default, sa.Identity)
                continue
            if column.primary_key and isinstance(column.type, sa.Integer):
                assert column.autoincrement is False, f"{table.name}.{column.name}"


def test_no_server_defaults_and_no_column_level_checks() -> None:
    for table in _all_tables():
        for column in table.columns:
            if (table.name, column.name) in DATABASE_NUMBERED:
                continue
            assert column.server_default is None or isinstance(
                column.server_default, sa.Computed
            ), f"{table.name}.{column.name}"
            assert not column.constraints, f"column-level constraint on {table.name}.{column.name}"


def test_every_timestamp_is_utc() -> None:
    for table in _all_tables():
        for column in table.columns:
            if isinstance(column.type, sa.DateTime):
                pytest.fail(f"{table.name}.{column.name} is a bare DateTime; use UtcDateTime")
            if column.name.endswith("_at"):
                assert isinstance(column.type, UtcDateTime), f"{table.name}.{column.name}"


def test_no_computed_column_asks_for_stored_persistence() -> None:
    for table in _all_tables():
        for column in table.columns:
            if column.computed is not None:
                assert column.computed.persisted is None, f"{table.name}.{column.name}"
