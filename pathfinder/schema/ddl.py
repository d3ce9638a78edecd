"""DDL constructs SQLAlchemy Core lacks, compiled for every back-end from Table objects.

Identifiers are always rendered by the dialect's identifier preparer from objects whose names
passed :mod:`pathfinder.schema.naming`; nothing here pastes input into SQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler


class AddColumn(ExecutableDDLElement):
    """``ALTER TABLE <table> ADD <column spec>``: the form Oracle, PostgreSQL and SQLite share."""

    def __init__(self, table: sa.Table, column: sa.Column[Any]) -> None:
        self.table = table
        self.column = column


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: DDLCompiler, **kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    spec = compiler.get_column_specification(element.column)
    return f"ALTER TABLE {table} ADD {spec}"


class CreateView(ExecutableDDLElement):
    """``CREATE VIEW <name> AS <select>`` with the select's values inlined as literals."""

    def __init__(self, name: str, selectable: sa.Select[Any], schema: str | None = None) -> None:
        self.name = name
        self.selectable = selectable
        self.schema = schema


class DropView(ExecutableDDLElement):
    """``DROP VIEW <name>``."""

    def __init__(self, name: str, schema: str | None = None) -> None:
        self.name = name
        self.schema = schema


def _view_name(compiler: DDLCompiler, name: str, schema: str | None) -> str:
    quoted = compiler.preparer.quote(name)
    return f"{compiler.preparer.quote_schema(schema)}.{quoted}" if schema else quoted


@compiles(CreateView)
def _compile_create_view(element: CreateView, compiler: DDLCompiler, **kw: Any) -> str:
    body = compiler.sql_compiler.process(element.selectable, literal_binds=True)
    return f"CREATE VIEW {_view_name(compiler, element.name, element.schema)} AS {body}"


@compiles(DropView)
def _compile_drop_view(element: DropView, compiler: DDLCompiler, **kw: Any) -> str:
    return f"DROP VIEW {_view_name(compiler, element.name, element.schema)}"
