"""The Oracle DDL contract, proven offline (no Oracle server can run here).

Every statement Pathfinder would send to Oracle is compiled with SQLAlchemy's oracle dialect
under two server profiles: 19c (the Autonomous Database baseline the committed ``ddl/`` is
rendered for) and 23ai (the dialect's own offline default). On top of "it compiles", the
tests check what Oracle would reject or silently change and the other back-ends accept:
identifiers over 128 bytes, reserved words, names that would need quoting (and so become
case-sensitive), unnamed constraints (SYS_C names differ per database), LOB columns in
indexes, a column list indexed twice (ORA-01408), ON DELETE actions Oracle lacks, DATE where
an instant is meant, and the constructs ``research/db-strategy.md`` §2 measured as broken.

Compiling is not executing: ``tests/oracle`` runs the lifecycle on a live server when
``PATHFINDER_TEST_ORACLE_DSN`` is set, and until it has, Oracle support is unverified.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.oracle.base import RESERVED_WORDS

from pathfinder import create_app
from pathfinder.db import get_database
from pathfinder.db.setup import database_status, init_database
from pathfinder.provisioning import Provisioner, registry
from pathfinder.provisioning.catalog import existing_objects
from pathfinder.provisioning.verify import repair_user, verify_user
from pathfinder.schema.naming import USERNAME_MAX_LENGTH, is_valid_username
from pathfinder.schema.oracle_profile import (
    ORACLE_PROFILES,
    apply_oracle_19c_profile,
    oracle_dialect,
)
from pathfinder.schema.render import (
    Statement,
    migration_statements,
    render_dialect,
    shared_statements,
    template_statements,
)
from pathfinder.schema.shared import metadata
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, TenantTables, tenant_tables
from pathfinder.schema.types import UtcDateTime

# The longest username the validator accepts: every derived name is at its longest.
MAX_USERNAME = "max_length_username_abcdefghij"
ORACLE_MAX_IDENTIFIER_BYTES = 128
# VARCHAR2 above this needs MAX_STRING_SIZE=EXTENDED, which a database may not have.
ORACLE_MAX_VARCHAR2 = 4000
# Lower case and unquoted: Oracle folds it to upper case, so every spelling finds it.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

# Oracle's V$RESERVED_WORDS with RESERVED='Y' (plus the classic SQL reserved list): an
# unquoted identifier spelled like one of these is a syntax error, and SQLAlchemy's own
# list (RESERVED_WORDS) is not guaranteed to contain them all.
ORACLE_RESERVED_Y = frozenset(
    """
    ACCESS ADD ALL ALTER AND ANY AS ASC AUDIT BETWEEN BY CHAR CHECK CLUSTER COLUMN COMMENT
    COMPRESS CONNECT CREATE CURRENT DATE DECIMAL DEFAULT DELETE DESC DISTINCT DROP ELSE
    EXCLUSIVE EXISTS FILE FLOAT FOR FROM GRANT GROUP HAVING IDENTIFIED IMMEDIATE IN INCREMENT
    INDEX INITIAL INSERT INTEGER INTERSECT INTO IS LEVEL LIKE LOCK LONG MAXEXTENTS MINUS
    MLSLABEL MODE MODIFY NOAUDIT NOCOMPRESS NOT NOWAIT NULL NUMBER OF OFFLINE ON ONLINE OPTION
    OR ORDER PCTFREE PRIOR PUBLIC RAW RENAME RESOURCE REVOKE ROW ROWID ROWNUM ROWS SELECT
    SESSION SET SHARE SIZE SMALLINT START SUCCESSFUL SYNONYM SYSDATE TABLE THEN TO TRIGGER UID
    UNION UNIQUE UPDATE USER VALIDATE VALUES VARCHAR VARCHAR2 VIEW WHENEVER WHERE WITH
    """.split()
)
RESERVED = frozenset(w.upper() for w in RESERVED_WORDS) | ORACLE_RESERVED_Y

# Oracle supports only these referential actions (no RESTRICT, NO ACTION keyword, ON UPDATE).
ORACLE_ON_DELETE = ("CASCADE", "SET NULL")
# Tokens that mean a construct from another back-end (or a broken one) reached Oracle DDL.
BANNED_19C_TOKENS = {
    "SERIAL": re.compile(r"\bSERIAL\b"),
    "JSONB": re.compile(r"\bJSONB\b"),
    "STORED": re.compile(r"\bSTORED\b"),
    "BOOLEAN": re.compile(r"\bBOOLEAN\b"),
    "DEFAULT SYS_GUID": re.compile(r"\bDEFAULT\s+SYS_GUID\b", re.IGNORECASE),
}
# Oracle's SYSTIMESTAMP takes no parentheses (func.systimestamp() renders them).
SYSTIMESTAMP_CALL = re.compile(r"\bsystimestamp\s*\(", re.IGNORECASE)

_LITERAL = re.compile(r"'(?:[^']|'')*'")
_COMMENT = re.compile(r"--[^\n]*")


def strip_literals(sql: str) -> str:
    """``sql`` with string literals and line comments blanked (they may hold anything)."""
    return _LITERAL.sub("''", _COMMENT.sub("", sql))


# -- what Oracle would be sent ---------------------------------------------------------------


def oracle_statements(profile: str, username: str = MAX_USERNAME) -> list[Statement]:
    """Every DDL statement for Oracle under ``profile``: shared, templates, migrations."""
    dialect = render_dialect("oracle", profile)  # type: ignore[arg-type]
    statements = shared_statements("oracle", profile)  # type: ignore[arg-type]
    for version in range(1, LATEST_TEMPLATE_VERSION + 1):
        statements += template_statements(username, version, dialect)
    for version in range(2, LATEST_TEMPLATE_VERSION + 1):
        statements += migration_statements(username, version, dialect)
    return statements


@pytest.fixture(scope="module", params=ORACLE_PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def statements(profile: str) -> list[Statement]:
    """Compiling is the first assertion: any CompileError fails every test of the profile."""
    return oracle_statements(profile)


@pytest.fixture(scope="module")
def statements_19c() -> list[Statement]:
    return oracle_statements("19c")


def template_versions() -> Iterator[TenantTables]:
    for version in range(1, LATEST_TEMPLATE_VERSION + 1):
        yield tenant_tables(MAX_USERNAME, version, schema=None)


def all_tables() -> Iterator[sa.Table]:
    """The shared tables and every template version's tables for the longest username."""
    yield from metadata.sorted_tables
    for tables in template_versions():
        yield from tables.tables.values()


def applies_to_oracle(item: Any) -> bool:
    """False for a constraint limited by ``ddl_if`` to other back-ends."""
    ddl_if = getattr(item, "_ddl_if", None)
    if ddl_if is None or ddl_if.dialect is None:
        return True
    dialects = (ddl_if.dialect,) if isinstance(ddl_if.dialect, str) else ddl_if.dialect
    return "oracle" in dialects


def name_problems(kind: str, name: object) -> list[str]:
    """Why ``name`` cannot be an unquoted, case-insensitive Oracle identifier (or nothing)."""
    if not isinstance(name, str) or not name:
        return [f"{kind} has no name (Oracle would invent a SYS_C... name): {name!r}"]
    problems = []
    if len(name.encode()) > ORACLE_MAX_IDENTIFIER_BYTES:
        problems.append(f"{kind} {name!r} is {len(name.encode())} bytes (> 128)")
    if not NAME_PATTERN.match(name):
        problems.append(f"{kind} {name!r} is not lower-case [a-z][a-z0-9_]*")
    if name.upper() in RESERVED:
        problems.append(f"{kind} {name!r} is an Oracle reserved word")
    return problems


# -- the profile helper ----------------------------------------------------------------------


def test_19c_profile_renders_boolean_as_smallint_and_json_as_blob() -> None:
    table = sa.Table(
        "t", sa.MetaData(), sa.Column("flag", sa.Boolean()), sa.Column("doc", sa.JSON())
    )
    profile_19c = apply_oracle_19c_profile(render_dialect("oracle", "23ai"))
    assert table.c.flag.type.compile(dialect=profile_19c) == "SMALLINT"
    assert table.c.doc.type.compile(dialect=profile_19c) == "BLOB"
    assert table.c.flag.type.compile(dialect=oracle_dialect("19c")) == "SMALLINT"


def test_23ai_profile_keeps_native_boolean_and_json() -> None:
    """If this fails, SQLAlchemy changed its offline default: re-check both profiles."""
    table = sa.Table(
        "t", sa.MetaData(), sa.Column("flag", sa.Boolean()), sa.Column("doc", sa.JSON())
    )
    assert table.c.flag.type.compile(dialect=oracle_dialect("23ai")) == "BOOLEAN"
    assert table.c.doc.type.compile(dialect=oracle_dialect("23ai")) == "JSON"


def test_19c_profile_refuses_other_dialects() -> None:
    with pytest.raises(ValueError, match="oracle"):
        apply_oracle_19c_profile(postgresql.dialect())


def test_max_username_is_the_longest_valid_one() -> None:
    assert len(MAX_USERNAME) == USERNAME_MAX_LENGTH
    assert is_valid_username(MAX_USERNAME)


# -- every statement compiles; every name is a plain Oracle identifier -----------------------


def test_every_statement_compiles(statements: list[Statement]) -> None:
    kinds = {s.sql.split("(")[0].split(" ")[1] for s in statements}
    assert {"TABLE", "INDEX", "VIEW", "MATERIALIZED"} <= kinds
    assert not [s.sql for s in statements if not s.sql.strip()]


def test_no_identifier_is_quoted(statements: list[Statement]) -> None:
    """A double-quoted identifier is case-sensitive in Oracle: every query must quote it."""
    quoted = [s.sql for s in statements if '"' in strip_literals(s.sql)]
    assert quoted == []


_RENDERED_NAMES = [
    ("table", re.compile(r"\bCREATE\s+TABLE\s+([^\s(]+)")),
    ("view", re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:MATERIALIZED\s+)?VIEW\s+([^\s(]+)")),
    ("index", re.compile(r"\bCREATE\s+(?:UNIQUE\s+|BITMAP\s+)?INDEX\s+([^\s(]+)")),
    ("indexed table", re.compile(r"\bINDEX\s+\S+\s+ON\s+([^\s(]+)")),
    ("constraint", re.compile(r"\bCONSTRAINT\s+([^\s(]+)")),
    ("referenced table", re.compile(r"\bREFERENCES\s+([^\s(]+)")),
    ("altered table", re.compile(r"\bALTER\s+TABLE\s+([^\s(]+)")),
    ("added column", re.compile(r"\bALTER\s+TABLE\s+\S+\s+ADD\s+([^\s(]+)")),
    ("column", re.compile(r"^\t([^\s(]+)\s+(?!KEY\b)[A-Z]", re.MULTILINE)),
    ("view column", re.compile(r"\bAS\s+([a-z_][a-z0-9_$#]*)\b")),
    ("partition", re.compile(r"\bPARTITION\s+([^\s(]+)\s+VALUES\b")),
]
_CLAUSE_WORDS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})


def rendered_names(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, name) for every object name the compiled text declares or references."""
    text = strip_literals(sql)
    for kind, pattern in _RENDERED_NAMES:
        for match in pattern.finditer(text):
            name = match.group(1)
            if kind == "column" and name in _CLAUSE_WORDS:
                continue
            yield kind, name


def test_rendered_names_are_plain_oracle_identifiers(statements: list[Statement]) -> None:
    found = [(kind, name) for s in statements for kind, name in rendered_names(s.sql)]
    assert {kind for kind, _ in found} >= {"table", "view", "index", "constraint", "column"}
    problems = sorted({p for kind, name in found for p in name_problems(kind, name)})
    assert problems == []


def test_metadata_names_are_plain_oracle_identifiers() -> None:
    """Checked on the objects too: SQLAlchemy would silently truncate a long generated name."""
    problems: list[str] = []
    for table in all_tables():
        problems += name_problems("table", table.name)
        for column in table.c:
            problems += name_problems(f"column {table.name}.", column.name)
        for index in table.indexes:
            problems += name_problems(f"index on {table.name}", index.name)
        for constraint in table.constraints:
            if applies_to_oracle(constraint):
                kind = f"{type(constraint).__name__} on {table.name}"
                problems += name_problems(kind, constraint.name)
    for tables in template_versions():
        for view in tables.views.values():
            problems += name_problems("view", view.name)
            for label in view.select.selected_columns.keys():
                problems += name_problems(f"view column {view.name}.", label)
    assert sorted(set(problems)) == []


_CONSTRAINT_CLAUSE = re.compile(r"\b(?:PRIMARY\s+KEY|UNIQUE\s*\(|CHECK\s*\(|FOREIGN\s+KEY)")
_NAMED_BEFORE = re.compile(r"\bCONSTRAINT\s+\S+\s+$")


def test_every_rendered_constraint_is_named(statements: list[Statement]) -> None:
    """An unnamed constraint gets a SYS_C... name that differs on every database."""
    unnamed: list[str] = []
    for statement in statements:
        text = strip_literals(statement.sql)
        for match in _CONSTRAINT_CLAUSE.finditer(text):
            if not _NAMED_BEFORE.search(text[: match.start()]):
                unnamed.append(f"{statement.owner}: {match.group(0)}")
    assert unnamed == []


def test_names_are_unique_in_their_oracle_namespace(statements_19c: list[Statement]) -> None:
    """Oracle keys constraint names and index names per schema, not per table.

    Shared objects plus one user's latest template are one schema's worth; other users'
    names differ by the username (``tests/schema/test_naming.py``). A primary key or
    unique constraint creates an index of the same name, so those share the index space.
    """
    dialect = render_dialect("oracle", "19c")
    sqls = [s.sql for s in shared_statements("oracle", "19c")]
    sqls += [s.sql for s in template_statements(MAX_USERNAME, LATEST_TEMPLATE_VERSION, dialect)]
    constraints: list[str] = []
    indexes: list[str] = []
    relations: list[str] = []
    for sql in sqls:
        text = strip_literals(sql)
        constraints += re.findall(r"\bCONSTRAINT\s+(\S+)", text)
        indexes += re.findall(r"\bCONSTRAINT\s+(\S+)\s+(?:PRIMARY\s+KEY|UNIQUE)\b", text)
        indexes += re.findall(r"\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(\S+)", text)
        relations += re.findall(r"\bCREATE\s+(?:MATERIALIZED\s+VIEW|VIEW|TABLE)\s+(\S+)", text)
    for label, names in (("constraint", constraints), ("index", indexes), ("table", relations)):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        assert duplicates == [], f"duplicate {label} names: {duplicates}"


# -- constructs Oracle rejects or changes ----------------------------------------------------


def test_19c_text_has_no_foreign_constructs(statements_19c: list[Statement]) -> None:
    found: list[str] = []
    for statement in statements_19c:
        text = strip_literals(statement.sql)
        if SYSTIMESTAMP_CALL.search(statement.sql):
            found.append(f"systimestamp() in {statement.owner}")
        for token, pattern in BANNED_19C_TOKENS.items():
            if pattern.search(text):
                found.append(f"{token} in {statement.owner}")
    assert found == []


def test_referential_actions_exist_on_oracle(statements: list[Statement]) -> None:
    bad: list[str] = []
    for statement in statements:
        text = strip_literals(statement.sql)
        for action in re.findall(r"\bON\s+DELETE\s+(SET\s+NULL|\w+)", text):
            if " ".join(action.split()) not in ORACLE_ON_DELETE:
                bad.append(f"{statement.owner}: ON DELETE {action}")
        if re.search(r"\bON\s+UPDATE\b", text):
            bad.append(f"{statement.owner}: ON UPDATE")
    assert bad == []


def test_no_persisted_computed_columns() -> None:
    """``Computed(persisted=True)`` is a CompileError on Oracle (virtual columns only)."""
    stored = [
        f"{t.name}.{c.name}"
        for t in all_tables()
        for c in t.c
        if c.computed is not None and c.computed.persisted
    ]
    assert stored == []


def test_instants_are_timestamps_not_dates() -> None:
    """``DateTime`` compiles to DATE on Oracle (no fractions, no zone): use UtcDateTime."""
    dialect = oracle_dialect("19c")
    wrong: list[str] = []
    for table in all_tables():
        for column in table.c:
            rendered = column.type.compile(dialect=dialect)
            if isinstance(column.type, UtcDateTime):
                if rendered != "TIMESTAMP":
                    wrong.append(f"{table.name}.{column.name}: UtcDateTime renders {rendered}")
            elif isinstance(column.type, sa.DateTime) or (
                isinstance(column.type, sa.TypeDecorator)
                and isinstance(column.type.impl_instance, sa.DateTime)
            ):
                wrong.append(f"{table.name}.{column.name}: {type(column.type).__name__}")
            elif rendered == "DATE" and not isinstance(column.type, sa.Date):
                wrong.append(f"{table.name}.{column.name}: renders DATE")
    assert wrong == []


def test_no_column_level_check_limited_to_a_dialect() -> None:
    """``ddl_if`` is ignored on a column-level CHECK (it renders everywhere)."""
    offending = [
        f"{t.name}.{c.name}"
        for t in all_tables()
        for c in t.c
        for constraint in c.constraints
        if isinstance(constraint, sa.CheckConstraint) and constraint._ddl_if is not None
    ]
    assert offending == []


def test_varchar2_lengths_fit_standard_max_string_size() -> None:
    too_long = [
        f"{t.name}.{c.name}: {c.type.length}"
        for t in all_tables()
        for c in t.c
        if isinstance(c.type, sa.String)
        and not isinstance(c.type, sa.Text)
        and (c.type.length or 0) > ORACLE_MAX_VARCHAR2
    ]
    assert too_long == []


def _key_columns(table: sa.Table) -> list[tuple[str, tuple[str, ...], list[Any]]]:
    """(what, column list as rendered, column objects) for the PK, UNIQUEs and indexes."""
    dialect = oracle_dialect("19c")

    def render(expressions: Any) -> tuple[str, ...]:
        return tuple(
            str(e.compile(dialect=dialect, compile_kwargs={"include_table": False}))
            for e in expressions
        )

    keys: list[tuple[str, tuple[str, ...], list[Any]]] = []
    if table.primary_key.columns:
        columns = list(table.primary_key.columns)
        keys.append(("primary key", render(columns), columns))
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and applies_to_oracle(constraint):
            columns = list(constraint.columns)
            keys.append((f"unique {constraint.name}", render(columns), columns))
    for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
        columns = [e for e in index.expressions if isinstance(e, sa.Column)]
        keys.append((f"index {index.name}", render(index.expressions), columns))
    return keys


def test_no_column_list_is_indexed_twice() -> None:
    """Oracle refuses a second index on the same column list (ORA-01408, ORA-02261);
    PostgreSQL and SQLite accept it, so only this test would notice."""
    duplicates: list[str] = []
    for table in all_tables():
        seen: dict[tuple[str, ...], str] = {}
        for what, columns, _ in _key_columns(table):
            if columns in seen:
                duplicates.append(f"{table.name}: {what} repeats {seen[columns]} {columns}")
            seen.setdefault(columns, what)
    assert duplicates == []


def test_no_lob_column_in_a_key_or_index() -> None:
    """CLOB/BLOB columns cannot be indexed or be part of a key on Oracle (ORA-02327)."""
    dialect = oracle_dialect("19c")
    lobs = [
        f"{table.name}: {what} on {column.name} ({column.type.compile(dialect=dialect)})"
        for table in all_tables()
        for what, _, columns in _key_columns(table)
        for column in columns
        if column.type.compile(dialect=dialect) in ("CLOB", "BLOB", "NCLOB")
    ]
    assert lobs == []


# -- the queries the engine and db setup issue -----------------------------------------------

# SQLite-only by design, so not compiled for Oracle: the catalog query on sqlite_master
# (pathfinder/provisioning/catalog.py; its Oracle branch is compiled separately below).
# Driver-level SQL (PRAGMA, ATTACH/DETACH, BEGIN IMMEDIATE) goes to the DBAPI connection and
# never reaches before_execute, so it cannot be captured in the first place.
SQLITE_ONLY_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})


def sqlite_only(element: sa.sql.ClauseElement) -> bool:
    """True for a statement that reads SQLite's own catalog (the documented allow-list)."""
    if isinstance(element, sa.TextClause):
        text = element.text.lower()
        return "pragma" in text or any(name in text for name in SQLITE_ONLY_TABLES)
    return any(
        isinstance(node, sa.TableClause) and node.name in SQLITE_ONLY_TABLES
        for node in sa.sql.visitors.iterate(element)
    )


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> list[sa.sql.ClauseElement]:
    """Every statement the real engine executes through a whole lifecycle on SQLite."""
    tmp_path: Path = tmp_path_factory.mktemp("oracle_queries")
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'pf.db'}"}
    )
    db = get_database(app)
    seen: list[Any] = []

    def record(conn: Any, clauseelement: Any, *args: Any) -> None:
        seen.append(clauseelement)

    sa.event.listen(db.engine, "before_execute", record)
    try:
        init_database(db)
        init_database(db)  # the "already initialised" path
        # Oracle's code path: every step is its own unit of work (DDL commits there).
        provisioner = Provisioner(db, commit_each_step=True)
        provisioner.provision("oracle_q_one")
        provisioner.provision("oracle_q_one")  # already ready
        provisioner.provision("oracle_q_two", version=1)
        assert provisioner.count_pending_migrations() == 1
        assert [r.username for r in provisioner.pending_migrations()] == ["oracle_q_two"]
        assert provisioner.dry_run_sql("oracle_q_two")
        provisioner.migrate_user("oracle_q_two")
        for user in ("oracle_q_one", "oracle_q_two"):
            assert verify_user(db, user).clean
        assert repair_user(db, "oracle_q_one", provisioner).clean
        with db.transaction() as conn:
            registry.list_tenants(conn, states=["ready"], below_version=2, after="a", limit=10)
            registry.count_by_state(conn)
            registry.is_registered(conn, "oracle_q_one", "x")
        provisioner.deprovision("oracle_q_one")
        provisioner.deprovision("oracle_q_one")  # already dropped
        verify_user(db, "oracle_q_one")
        database_status(db)
    finally:
        sa.event.remove(db.engine, "before_execute", record)
        db.dispose()
    return seen


def test_capture_saw_the_whole_lifecycle(captured: list[Any]) -> None:
    kinds = {type(c).__name__ for c in captured}
    assert {"Select", "Insert", "Update", "Delete", "CreateTable", "CreateIndex"} <= kinds
    # Provisioning and migrations run their template DDL from per-dialect compiled caches
    # (on the driver's cursor, not captured here); every template and migration statement
    # is compiled for Oracle by the template tests above. Deprovisioning still runs
    # ClauseElements.
    assert {"DropTable", "DropIndex", "DropView"} <= kinds
    assert all(isinstance(c, sa.sql.ClauseElement) for c in captured)


def test_engine_queries_compile_for_oracle(captured: list[sa.sql.ClauseElement]) -> None:
    """Each statement the engine ran on SQLite compiles for Oracle 19c, unquoted and short.

    On Oracle the users' tables carry no schema (``Database.tenant_schema`` is None); the
    ``tenant.`` qualifier here is SQLite's attachment name and does not change what compiles.
    """
    dialect = render_dialect("oracle", "19c")
    skipped = [c for c in captured if sqlite_only(c)]
    assert skipped, "the sqlite_master catalog query should have been captured and skipped"
    problems: list[str] = []
    for element in captured:
        if sqlite_only(element):
            continue
        sql = str(element.compile(dialect=dialect))
        text = strip_literals(sql)
        if '"' in text:
            problems.append(f"quoted identifier: {sql}")
        for token in re.findall(r"[A-Za-z_][A-Za-z0-9_$#]*", text):
            if len(token.encode()) > ORACLE_MAX_IDENTIFIER_BYTES:
                problems.append(f"identifier over 128 bytes: {token}")
        for kind, name in rendered_names(sql):
            problems += name_problems(kind, name.split(".")[-1])
    assert problems == []


class _OracleCatalogConnection:
    """Stands in for a connection to Oracle: records the query, answers like USER_OBJECTS."""

    def __init__(self, present_upper: set[str]) -> None:
        self.dialect = render_dialect("oracle", "19c")
        self.present_upper = present_upper
        self.queries: list[sa.sql.ClauseElement] = []

    def execute(self, query: sa.sql.ClauseElement) -> Any:
        self.queries.append(query)
        rows = sorted(self.present_upper)

        class _Result:
            def scalars(self) -> list[str]:
                return rows

        return _Result()


def test_catalog_query_oracle_branch() -> None:
    """The engine's Oracle catalog query reads USER_OBJECTS and maps names back to lower case.

    Oracle stores unquoted names upper-case; the engine's own names are lower-case.
    """
    names = [f"pf_user_{MAX_USERNAME}_experiences", f"pf_user_{MAX_USERNAME}_ix_skill_name"]
    conn = _OracleCatalogConnection({names[0].upper()})
    found = existing_objects(conn, names, schema=None)  # type: ignore[arg-type]
    assert found == {names[0]}
    (query,) = conn.queries
    sql = str(query.compile(dialect=conn.dialect))
    assert re.search(r"\bFROM\s+user_objects\b", sql, re.IGNORECASE)
    assert '"' not in strip_literals(sql)
    literal = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    assert names[0].upper() in literal and names[1].upper() in literal


def test_sqlite_catalog_query_is_the_only_allow_listed_one(captured: list[Any]) -> None:
    """The allow-list must not grow silently: only catalog.py's sqlite_master query is in it."""
    skipped = {
        str(c.compile(dialect=sqlite.dialect())).split("\n")[0] for c in captured if sqlite_only(c)
    }
    assert all("sqlite_master" in line for line in skipped), skipped
