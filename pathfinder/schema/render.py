"""Render the schema's DDL as SQL*Plus/SQLcl scripts: the committed ``ddl/`` tree.

Everything here is compiled from the metadata, never written by hand, so the files a DBA
reviews are exactly what ``pathfinder db init`` and the provisioning engine execute:

- ``ddl/shared/<NN>_<object>.sql``: the shared tables in creation (foreign-key) order, each
  with its indexes and whatever DDL the metadata attaches to it for this dialect
  (``after_create`` events, compile hooks: partitioning, materialized views).
  ``metadata.create_all`` runs against a mock engine, so the statements and their order are
  those a real ``create_all`` would send.
- ``ddl/templates/v<N>/<NN>_<table>.sql``: the per-user template at version N, with the
  literal slot ``{username}`` where a user's canonical name goes. Built from the engine's
  own provisioning steps (:func:`pathfinder.provisioning.plan.provision_steps`).
- ``ddl/templates/migrations/v<N>.sql``: the engine's steps from version N-1 to N.

Output is deterministic (no timestamps) because ``tests/schema/test_rendered_ddl.py``
compares it file by file with the committed tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from pathfinder.provisioning.plan import Step, migration_steps, provision_steps
from pathfinder.schema.oracle_profile import (
    DEFAULT_ORACLE_PROFILE,
    PROFILE_DESCRIPTIONS,
    OracleProfile,
    apply_oracle_profile,
)
from pathfinder.schema.shared import metadata as shared_metadata
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables

DialectName = Literal["oracle", "postgresql", "sqlite"]
DIALECT_NAMES: tuple[DialectName, ...] = ("oracle", "postgresql", "sqlite")
# Driverless URLs: a mock engine only needs the dialect class, never the driver.
_MOCK_URLS: dict[DialectName, str] = {
    "oracle": "oracle+oracledb://",
    "postgresql": "postgresql+psycopg://",
    "sqlite": "sqlite://",
}

# A valid username that cannot occur in any other part of a name, so replacing it by the
# slot cannot touch anything else.
SENTINEL_USERNAME = "zzusernamezz"
USERNAME_SLOT = "{username}"
# Only these sub-folders of the output directory are generated (and pruned of stale files).
GENERATED_DIRS = ("shared", "templates")

# PL/SQL units end with "/" on a line of its own in SQL*Plus; plain SQL ends with ";".
_PLSQL = re.compile(
    r"^\s*(?:DECLARE|BEGIN|CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:NON)?EDITIONABLE\s+)?"
    r"(?:PROCEDURE|FUNCTION|PACKAGE|TRIGGER|TYPE))\b",
    re.IGNORECASE,
)
# The object a raw DDL statement creates or alters, to file it with the right neighbours.
_CREATES = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:MATERIALIZED\s+VIEW|VIEW|TABLE|SEQUENCE)\s+"
    r"(?:\w+\.)?(\w+)",
    re.IGNORECASE,
)
_APPLIES_TO = re.compile(
    r"^\s*(?:ALTER\s+TABLE|COMMENT\s+ON\s+(?:TABLE|COLUMN)|"
    r"CREATE\s+(?:UNIQUE\s+|BITMAP\s+)?INDEX\s+\S+\s+ON)\s+(?:\w+\.)?(\w+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    """One compiled statement (no terminator) and the object whose file it belongs in."""

    owner: str
    sql: str


@dataclass(frozen=True)
class DdlFile:
    """One generated script: where it goes, what it says about itself, its statements."""

    path: PurePosixPath
    description: tuple[str, ...]
    statements: tuple[str, ...]

    def text(self, header: Iterable[str], *, sqlplus: bool = True) -> str:
        """The file's content: header comments, then each statement terminated for SQL*Plus.

        ``sqlplus`` (Oracle output) adds ``SET DEFINE OFF`` when a statement contains ``&``,
        which SQL*Plus would otherwise read as a substitution variable and prompt for.
        """
        lines = [f"-- {line}" if line else "--" for line in (*header, *self.description)]
        body = [terminate(sql) for sql in self.statements]
        prelude = "\n".join(lines) + "\n\n"
        if sqlplus and any("&" in sql for sql in self.statements):
            prelude += "SET DEFINE OFF\n\n"
        return (prelude + "".join(body)).rstrip("\n") + "\n"


@dataclass(frozen=True)
class RenderResult:
    """What :func:`write_tree` changed under the output directory (paths relative to it)."""

    written: list[PurePosixPath]
    unchanged: list[PurePosixPath]
    removed: list[PurePosixPath]


# -- dialects --------------------------------------------------------------------------------


def _check_profile(dialect_name: DialectName, profile: OracleProfile | None) -> None:
    if dialect_name not in DIALECT_NAMES:
        raise ValueError(f"unknown dialect {dialect_name!r}; expected one of {DIALECT_NAMES}")
    if profile is not None and dialect_name != "oracle":
        raise ValueError("a server profile applies to the oracle dialect only")


def _mock_engine(
    dialect_name: DialectName,
    profile: OracleProfile | None,
    executor: Callable[..., Any],
) -> sa.engine.MockConnection:
    _check_profile(dialect_name, profile)
    engine = sa.create_mock_engine(_MOCK_URLS[dialect_name], executor)
    if dialect_name == "oracle":
        apply_oracle_profile(engine.dialect, profile or DEFAULT_ORACLE_PROFILE)
    return engine


def render_dialect(
    dialect_name: DialectName = "oracle", profile: OracleProfile | None = None
) -> Dialect:
    """An offline dialect as the renderer compiles with it (Oracle: 19c unless ``profile``)."""
    return _mock_engine(dialect_name, profile, lambda *a, **k: None).dialect


def profile_label(dialect_name: DialectName, profile: OracleProfile | None = None) -> str:
    """How a file header names the assumed server."""
    if dialect_name == "oracle":
        return PROFILE_DESCRIPTIONS[profile or DEFAULT_ORACLE_PROFILE]
    return "SQLAlchemy's offline defaults (no server version assumed)"


# -- statements ------------------------------------------------------------------------------


def _owner_of(element: Any, sql: str, previous: str | None) -> str:
    """Which object's file a statement emitted by ``create_all`` belongs in."""
    if isinstance(element, CreateTable):
        return str(element.element.name)
    if isinstance(element, CreateIndex):
        return str(element.element.table.name)
    if isinstance(element, AddConstraint):
        return str(element.element.table.name)
    created = _CREATES.match(sql)
    if created:
        return created.group(1).lower()
    applies = _APPLIES_TO.match(sql)
    if applies:
        return applies.group(1).lower()
    target = getattr(element, "target", None)
    if isinstance(target, sa.Table):
        return str(target.name)
    return previous or "metadata"


def shared_statements(
    dialect_name: DialectName = "oracle",
    profile: OracleProfile | None = None,
    metadata: sa.MetaData = shared_metadata,
) -> list[Statement]:
    """Every statement ``metadata.create_all`` sends to an empty database, in order.

    A mock engine records them, so ``after_create`` DDL and dialect-conditional constructs
    (``execute_if``, ``ddl_if``) are included exactly when this dialect would run them.
    """
    recorded: list[Any] = []
    engine = _mock_engine(dialect_name, profile, lambda sql, *a, **k: recorded.append(sql))
    metadata.create_all(engine, checkfirst=False)  # type: ignore[arg-type]
    statements: list[Statement] = []
    previous: str | None = None
    for element in _indexes_by_name(recorded):
        sql = _clean(str(element.compile(dialect=engine.dialect)))
        if not sql:
            continue
        previous = _owner_of(element, sql, previous)
        statements.append(Statement(previous, sql))
    return statements


def _indexes_by_name(elements: list[Any]) -> list[Any]:
    """``elements`` with each run of consecutive CREATE INDEX sorted by index name.

    ``create_all`` walks ``Table.indexes``, a set, so its index order changes with the
    hash seed; indexes of one table do not depend on each other, so any order is valid and
    sorting makes the files reproducible.
    """
    ordered: list[Any] = []
    run: list[CreateIndex] = []
    for element in [*elements, None]:
        if isinstance(element, CreateIndex):
            run.append(element)
            continue
        ordered += sorted(run, key=lambda e: str(e.element.name))
        run = []
        if element is not None:
            ordered.append(element)
    return ordered


def _step_owner(step: Step) -> str:
    if step.kind == "index" and step.table is not None:
        return str(step.table.info["logical_name"])
    return step.template_part


def template_statements(username: str, version: int, dialect: Dialect) -> list[Statement]:
    """The provisioning engine's statements for ``username`` at template ``version``.

    Owners are the template's logical names (``experiences``, ``career_summary``), so the
    grouping is the same whatever the username.
    """
    tables = tenant_tables(username, version, schema=None)
    return [Statement(_step_owner(s), _clean(s.sql(dialect))) for s in provision_steps(tables)]


def migration_statements(username: str, version: int, dialect: Dialect) -> list[Statement]:
    """The engine's statements taking ``username`` from ``version - 1`` to ``version``."""
    steps = migration_steps(username, version - 1, version, schema=None)
    return [Statement(_step_owner(s), _clean(s.sql(dialect))) for s in steps]


def _clean(sql: str) -> str:
    """Drop trailing blanks and empty lines: SQL*Plus ends a statement at an empty line."""
    lines = [line.rstrip() for line in sql.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def terminate(sql: str) -> str:
    """``sql`` terminated for SQL*Plus/SQLcl: ``;`` and a blank line, or ``/`` for PL/SQL."""
    if _PLSQL.match(sql):
        body = sql if sql.endswith(";") else f"{sql};"
        return f"{body}\n/\n\n"
    return f"{sql.rstrip(';')};\n\n"


# -- files -----------------------------------------------------------------------------------


def _grouped(statements: list[Statement], *, consecutive: bool) -> list[tuple[str, list[str]]]:
    """Statements grouped by owner, in order of first appearance.

    ``consecutive`` keeps runs apart (a later statement for an earlier owner, such as a
    deferred foreign key, opens a new file after the ones it depends on).
    """
    groups: list[tuple[str, list[str]]] = []
    by_owner: dict[str, list[str]] = {}
    for statement in statements:
        if consecutive:
            if groups and groups[-1][0] == statement.owner:
                groups[-1][1].append(statement.sql)
            else:
                groups.append((statement.owner, [statement.sql]))
            continue
        if statement.owner not in by_owner:
            by_owner[statement.owner] = []
            groups.append((statement.owner, by_owner[statement.owner]))
        by_owner[statement.owner].append(statement.sql)
    return groups


def _numbered(
    folder: PurePosixPath, groups: list[tuple[str, list[str]]]
) -> list[tuple[PurePosixPath, str, list[str]]]:
    """(path, owner, statements) with a zero-padded position prefix: run order is name order."""
    width = max(2, len(str(len(groups))))
    return [
        (folder / f"{n:0{width}d}_{owner}.sql", owner, sql)
        for n, (owner, sql) in enumerate(groups, start=1)
    ]


def _with_slot(sql: str) -> str:
    return sql.replace(SENTINEL_USERNAME, USERNAME_SLOT)


_SLOT_NOTE = f"Replace {USERNAME_SLOT} with the user's canonical (lower-case) username."
_TEMPLATE_NOTE = (
    _SLOT_NOTE,
    "Prefer `pathfinder tenants provision`, which also records the objects in the registry;",
    "after running this by hand, `pathfinder tenants provision <username>` registers them.",
)


def ddl_files(
    dialect_name: DialectName = "oracle", profile: OracleProfile | None = None
) -> list[DdlFile]:
    """Every generated file, in the order a DBA would run them."""
    dialect = render_dialect(dialect_name, profile)
    files: list[DdlFile] = []
    shared = _grouped(shared_statements(dialect_name, profile), consecutive=True)
    for path, owner, sql in _numbered(PurePosixPath("shared"), shared):
        files.append(DdlFile(path, (f"Shared schema: {owner}.",), tuple(sql)))
    for version in range(1, LATEST_TEMPLATE_VERSION + 1):
        statements = template_statements(SENTINEL_USERNAME, version, dialect)
        groups = _grouped(statements, consecutive=False)
        for path, owner, sql in _numbered(PurePosixPath("templates", f"v{version}"), groups):
            description = (f"Per-user template v{version}: {owner}.", *_TEMPLATE_NOTE)
            files.append(DdlFile(path, description, tuple(_with_slot(s) for s in sql)))
    for version in range(2, LATEST_TEMPLATE_VERSION + 1):
        statements = migration_statements(SENTINEL_USERNAME, version, dialect)
        path = PurePosixPath("templates", "migrations", f"v{version}.sql")
        description = (
            f"Per-user template migration v{version - 1} -> v{version}.",
            _SLOT_NOTE,
            "Prefer `pathfinder tenants migrate`, which also records the objects and version;",
            "after running this by hand, `pathfinder tenants migrate` finds them and records them.",
        )
        files.append(DdlFile(path, description, tuple(_with_slot(s.sql) for s in statements)))
    return files


def file_header(dialect_name: DialectName, profile: OracleProfile | None = None) -> list[str]:
    """The comment lines every generated file starts with (no timestamp: output is stable)."""
    return [
        "Generated by `pathfinder ddl render` from pathfinder/schema. Do not edit by hand:",
        "change the metadata and render again.",
        f"SQLAlchemy {sa.__version__}; dialect {dialect_name}; "
        f"profile {profile_label(dialect_name, profile)}.",
    ]


def rendered_texts(
    dialect_name: DialectName = "oracle", profile: OracleProfile | None = None
) -> dict[PurePosixPath, str]:
    """Relative path -> full file text, for every generated file."""
    header = file_header(dialect_name, profile)
    sqlplus = dialect_name == "oracle"
    return {f.path: f.text(header, sqlplus=sqlplus) for f in ddl_files(dialect_name, profile)}


def all_statements(
    dialect_name: DialectName = "oracle", profile: OracleProfile | None = None
) -> list[str]:
    """Every statement of every generated file, in file order, without terminators."""
    return [sql for f in ddl_files(dialect_name, profile) for sql in f.statements]


def render_script(
    dialect_name: DialectName = "oracle", profile: OracleProfile | None = None
) -> str:
    """All files as one script (``pathfinder ddl render --stdout``), each under its path."""
    parts = ["\n".join(f"-- {line}" for line in file_header(dialect_name, profile)) + "\n\n"]
    for f in ddl_files(dialect_name, profile):
        parts.append(f"-- ddl/{f.path}\n")
        parts.extend(terminate(sql) for sql in f.statements)
    return "".join(parts)


def generated_files_in(out_dir: Path) -> set[PurePosixPath]:
    """``*.sql`` files under the generated sub-folders of ``out_dir`` (relative paths)."""
    found: set[PurePosixPath] = set()
    for folder in GENERATED_DIRS:
        root = out_dir / folder
        if root.is_dir():
            found |= {PurePosixPath(p.relative_to(out_dir).as_posix()) for p in root.rglob("*.sql")}
    return found


def write_tree(
    out_dir: Path, dialect_name: DialectName = "oracle", profile: OracleProfile | None = None
) -> RenderResult:
    """Write every generated file under ``out_dir`` and delete generated files now stale.

    Only ``*.sql`` files in ``shared/`` and ``templates/`` are ever removed, so anything
    else a person keeps in the folder survives a render.
    """
    texts = rendered_texts(dialect_name, profile)
    result = RenderResult([], [], [])
    for rel, text in texts.items():
        path = out_dir.joinpath(*rel.parts)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            result.unchanged.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        result.written.append(rel)
    for rel in sorted(generated_files_in(out_dir) - set(texts)):
        out_dir.joinpath(*rel.parts).unlink()
        result.removed.append(rel)
    for folder in GENERATED_DIRS:
        root = out_dir / folder
        if root.is_dir():
            for sub in sorted(root.rglob("*"), reverse=True):
                if sub.is_dir() and not any(sub.iterdir()):
                    sub.rmdir()
    return result


def tree_differences(
    out_dir: Path, dialect_name: DialectName = "oracle", profile: OracleProfile | None = None
) -> list[str]:
    """How ``out_dir`` differs from a fresh render (empty when it is up to date)."""
    texts = rendered_texts(dialect_name, profile)
    present = generated_files_in(out_dir)
    problems = [f"missing: {rel}" for rel in sorted(set(texts) - present)]
    problems += [f"not generated (stale): {rel}" for rel in sorted(present - set(texts))]
    for rel in sorted(set(texts) & present):
        if out_dir.joinpath(*rel.parts).read_text(encoding="utf-8") != texts[rel]:
            problems.append(f"differs: {rel}")
    return problems
