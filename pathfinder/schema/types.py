"""Column types that mean the same thing on SQLite, PostgreSQL and Oracle.

Each type here exists because the generic SQLAlchemy type renders something wrong on one
back-end (see ``research/db-strategy.md``): ``DateTime(timezone=True)`` is a bare DATE on
Oracle, JSON has no portable validation, and a bare Integer key has no autoincrement there.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import oracle, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from pathfinder.ids import ID_LENGTH


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An instant, stored as naive UTC and returned as an aware UTC ``datetime``.

    Naive UTC is the one representation all three back-ends store alike (SQLite has no time
    zones; Oracle cannot interval-partition on TIMESTAMP WITH TIME ZONE). On Oracle it is a
    TIMESTAMP, never the DATE that ``DateTime`` would give.
    """

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "oracle":
            return dialect.type_descriptor(oracle.TIMESTAMP(timezone=False))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite may hand back text for computed values
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonDocument(sa.types.TypeDecorator[Any]):
    """A JSON document: JSONB on PostgreSQL, text (CLOB) with an IS JSON check elsewhere.

    The validating CHECK for Oracle and SQLite is declared at table level by
    :func:`json_checks`, because a column-level CHECK cannot be limited to one dialect.
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.loads(value)


def id_type() -> sa.String:
    """Type of every primary and foreign key: a 26-character ULID."""
    return sa.String(ID_LENGTH)


class IsJson(sa.sql.expression.ColumnElement[bool]):
    """``<column> IS JSON``: Oracle's JSON validation predicate, as an expression."""

    inherit_cache = True
    type = sa.Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.ColumnElement[Any]) -> None:
        self.column = column


@compiles(IsJson)
def _compile_is_json(element: IsJson, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IS JSON"


def json_checks(*columns: str) -> list[sa.CheckConstraint]:
    """Table-level CHECKs that keep JSON columns valid on Oracle and SQLite.

    PostgreSQL stores these columns as JSONB, which validates by itself. Both checks carry
    the same name (``<column>_json``, expanded by the naming convention) because exactly one
    of them exists on any database.
    """
    checks: list[sa.CheckConstraint] = []
    for name in columns:
        col = sa.column(name)
        checks.append(sa.CheckConstraint(IsJson(col), name=f"{name}_json").ddl_if(dialect="oracle"))
        checks.append(
            # json_valid(NULL) is 0 on SQLite, so a nullable column needs the IS NULL arm.
            sa.CheckConstraint(
                sa.or_(col.is_(None), sa.func.json_valid(col)), name=f"{name}_json"
            ).ddl_if(dialect="sqlite")
        )
    return checks


def row_version_column() -> sa.Column[int]:
    """The version of a row with encrypted cells; part of each cell's AAD.

    NULL for rows written before the column existed (read as version 0): nullable with no
    default, so ``ALTER TABLE ADD`` leaves the rows that exist as they were and no table
    needs a server default. The application writes 1 for a new row and moves it on.
    """
    return sa.Column("row_version", sa.Integer())
