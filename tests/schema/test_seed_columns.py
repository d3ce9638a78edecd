"""Every column of the seed design is in the schema-as-code, or docs/schema.md says why not.

The seed's column list is :data:`tests.schema.seed_columns.SEED_COLUMNS`. A column counts as
present when the table (shared table, ``pf_mv_user_stats``, per-user template table or the
``career_summary`` view) has a column of the same name. Any other column needs one line in
docs/schema.md, section "Seed columns: where each one went"::

    - `table.column` → `our_column`: why it was renamed (the target must exist)
    - `table.column`: why it is not kept (dropped, derived, another table has it)

Silence fails: a column dropped or renamed without a line here is a test failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pathfinder.schema.shared import metadata
from pathfinder.schema.shared.analytics import user_stats
from pathfinder.schema.tenant import tenant_tables
from tests.schema.seed_columns import SEED_COLUMNS

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
SECTION = "## Seed columns: where each one went"
ENTRY = re.compile(
    r"^- `(?P<table>[a-z_0-9]+)\.(?P<column>[a-z_0-9]+)`"
    r"(?: → `(?P<target>[a-z_0-9]+)`)?: (?P<why>\S.{9,})$"
)


def schema_columns() -> dict[str, set[str]]:
    """Column names of every table and view the seed list can name, as the code defines them."""
    found = {name: {c.name for c in table.c} for name, table in metadata.tables.items()}
    found[user_stats.name] = {c.name for c in user_stats.c}
    template = tenant_tables("seed_probe")
    for logical, table in template.tables.items():
        found[logical] = {c.name for c in table.c}
    for logical, view in template.views.items():
        found[logical] = {c.name for c in view.select.selected_columns}
    return found


def justification_entries() -> list[re.Match[str]]:
    """The lines of the docs section, each parsed; a malformed line fails the test."""
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/schema.md has no {SECTION!r} section"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    entries = []
    for line in body.splitlines():
        if not line.startswith("- `"):
            continue
        match = ENTRY.match(line)
        assert match is not None, f"malformed justification line: {line!r}"
        entries.append(match)
    return entries


def test_every_seed_column_is_present_or_justified() -> None:
    columns = schema_columns()
    justified = {(m["table"], m["column"]) for m in justification_entries()}
    silent = [
        f"{table}.{column}"
        for table, seed in SEED_COLUMNS.items()
        for column in seed
        if column not in columns.get(table, set()) and (table, column) not in justified
    ]
    assert silent == [], "seed columns missing without a line in docs/schema.md"


def test_every_seed_table_exists_in_the_schema() -> None:
    assert sorted(set(SEED_COLUMNS) - set(schema_columns())) == []


def test_every_rename_names_a_column_that_exists() -> None:
    columns = schema_columns()
    wrong = [
        f"{m['table']}.{m['column']} → {m['target']}"
        for m in justification_entries()
        if m["target"] is not None and m["target"] not in columns.get(m["table"], set())
    ]
    assert wrong == []


def test_every_justification_is_about_a_seed_column() -> None:
    """A line for a column the seed never had is a typo that would hide a real gap."""
    unknown = [
        f"{m['table']}.{m['column']}"
        for m in justification_entries()
        if m["column"] not in SEED_COLUMNS.get(m["table"], ())
    ]
    assert unknown == []


def test_no_column_is_justified_twice() -> None:
    keys = [(m["table"], m["column"]) for m in justification_entries()]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("line", ["- `pf_users.gender`: short", "- `pf_users.gender` dropped"])
def test_a_malformed_line_is_not_taken_for_a_justification(line: str) -> None:
    assert ENTRY.match(line) is None
