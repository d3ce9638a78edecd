"""The committed ``ddl/`` tree is exactly what the metadata renders, and safe for SQL*Plus.

DBAs review and may run ``ddl/`` by hand, so it must never drift from the schema the code
creates: any change to a table, the template or SQLAlchemy's output shows up here until
``pathfinder ddl render`` is run and the new files are committed with the change.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import sqlalchemy as sa

from pathfinder.schema.render import (
    SENTINEL_USERNAME,
    USERNAME_SLOT,
    DdlFile,
    ddl_files,
    file_header,
    generated_files_in,
    migration_statements,
    render_dialect,
    rendered_texts,
    template_statements,
    terminate,
    write_tree,
)
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED_DDL = REPO_ROOT / "ddl"
RENDER_HINT = (
    "ddl/ is out of date with pathfinder/schema: run `pathfinder ddl render` from the "
    "repository root and commit the changed files with the schema change"
)
# SQL*Plus refuses longer input lines (SP2-0027).
SQLPLUS_MAX_LINE = 2499


def test_committed_ddl_matches_the_metadata(tmp_path: Path) -> None:
    write_tree(tmp_path)
    fresh = generated_files_in(tmp_path)
    committed = generated_files_in(COMMITTED_DDL)
    missing = sorted(str(p) for p in fresh - committed)
    extra = sorted(str(p) for p in committed - fresh)
    differing: list[str] = []
    first_diff = ""
    for rel in sorted(fresh & committed):
        want = tmp_path.joinpath(*rel.parts).read_text(encoding="utf-8")
        have = COMMITTED_DDL.joinpath(*rel.parts).read_text(encoding="utf-8")
        if want != have:
            differing.append(str(rel))
            if not first_diff:
                first_diff = "".join(
                    difflib.unified_diff(
                        have.splitlines(keepends=True),
                        want.splitlines(keepends=True),
                        f"ddl/{rel} (committed)",
                        f"ddl/{rel} (rendered)",
                    )
                )[:4000]
    assert not (missing or extra or differing), (
        f"{RENDER_HINT}.\nmissing: {missing}\nnot generated any more: {extra}\n"
        f"differs: {differing}\n{first_diff}"
    )


def test_render_is_reproducible_across_hash_seeds(tmp_path: Path) -> None:
    """Sets (``Table.indexes``) iterate by hash seed; the output must not."""
    out = tmp_path / "other_seed"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    code = "import sys, pathlib; from pathfinder.schema.render import write_tree; "
    code += "write_tree(pathlib.Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, cwd=REPO_ROOT)
    here = rendered_texts()
    there = {rel: out.joinpath(*rel.parts).read_text(encoding="utf-8") for rel in here}
    assert generated_files_in(out) == set(here)
    assert [str(rel) for rel in here if here[rel] != there[rel]] == []


def test_every_file_starts_with_the_generated_header() -> None:
    header = "".join(f"-- {line}\n" for line in file_header("oracle"))
    for rel, text in rendered_texts().items():
        assert text.startswith(header), rel
    assert f"SQLAlchemy {sa.__version__}" in header
    assert "profile 19c" in header


def test_layout_follows_the_template_versions() -> None:
    paths = {str(p) for p in rendered_texts()}
    for version in range(1, LATEST_TEMPLATE_VERSION + 1):
        tables = tenant_tables(SENTINEL_USERNAME, version)
        expected = [*tables.tables, *tables.views]
        found = sorted(p.split("/")[-1] for p in paths if p.startswith(f"templates/v{version}/"))
        assert [name.split("_", 1)[1].removesuffix(".sql") for name in found] == expected
    migrations = sorted(p for p in paths if p.startswith("templates/migrations/"))
    assert migrations == [
        f"templates/migrations/v{v}.sql" for v in range(2, LATEST_TEMPLATE_VERSION + 1)
    ]
    assert any(p.startswith("shared/") and p.endswith("_pf_users.sql") for p in paths)


def test_username_slot_stands_for_exactly_the_username() -> None:
    """Substituting a real name into a template file gives what the engine would run."""
    dialect = render_dialect("oracle")
    files = ddl_files()
    for version in range(1, LATEST_TEMPLATE_VERSION + 1):
        from_files = [
            sql.replace(USERNAME_SLOT, "alice")
            for f in files
            if f.path.parts[:2] == ("templates", f"v{version}")
            for sql in f.statements
        ]
        engine = [s.sql for s in template_statements("alice", version, dialect)]
        assert sorted(from_files) == sorted(engine)
    for version in range(2, LATEST_TEMPLATE_VERSION + 1):
        (migration,) = [f for f in files if f.path.name == f"v{version}.sql"]
        engine = [s.sql for s in migration_statements("alice", version, dialect)]
        assert [s.replace(USERNAME_SLOT, "alice") for s in migration.statements] == engine


def test_slot_only_in_templates_and_no_sentinel_left() -> None:
    for rel, text in rendered_texts().items():
        assert SENTINEL_USERNAME not in text, rel
        assert (USERNAME_SLOT in text) == (rel.parts[0] == "templates"), rel


def test_files_are_safe_for_sqlplus() -> None:
    """Statements end with ``;`` (``/`` for PL/SQL), contain no blank line (SQL*Plus ends a
    statement there) and no over-long line; ``&`` only with substitution switched off."""
    for f in ddl_files():
        text = f.text(file_header("oracle"))
        assert all(len(line) <= SQLPLUS_MAX_LINE for line in text.splitlines()), f.path
        for sql in f.statements:
            assert "\n\n" not in sql and sql == sql.strip(), f.path
            assert terminate(sql).rstrip("\n") + "\n" in text
        if any("&" in sql for sql in f.statements):
            assert "SET DEFINE OFF" in text, f.path
        assert text.endswith(";\n") or text.endswith("/\n"), f.path


def test_terminators() -> None:
    assert terminate("CREATE TABLE t (a INTEGER)") == "CREATE TABLE t (a INTEGER);\n\n"
    assert terminate("BEGIN DBMS_MVIEW.REFRESH('X'); END;") == (
        "BEGIN DBMS_MVIEW.REFRESH('X'); END;\n/\n\n"
    )
    assert terminate("CREATE OR REPLACE TRIGGER x BEFORE INSERT ON t BEGIN NULL; END").endswith(
        "END;\n/\n\n"
    )


def test_write_tree_prunes_stale_files_and_keeps_others(tmp_path: Path) -> None:
    stale = tmp_path / "templates" / "v99" / "01_gone.sql"
    stale.parent.mkdir(parents=True)
    stale.write_text("-- old\n", encoding="utf-8")
    notes = tmp_path / "README.md"
    notes.write_text("kept\n", encoding="utf-8")
    first = write_tree(tmp_path)
    assert PurePosixPath("templates/v99/01_gone.sql") in first.removed
    assert not stale.parent.exists()
    assert notes.read_text(encoding="utf-8") == "kept\n"
    second = write_tree(tmp_path)
    assert second.written == [] and second.removed == []
    assert len(second.unchanged) == len(first.written)


@pytest.mark.parametrize("dialect_name", ["postgresql", "sqlite"])
def test_other_dialects_render(dialect_name: str) -> None:
    texts = rendered_texts(dialect_name)  # type: ignore[arg-type]
    assert set(texts) == set(rendered_texts())
    assert all(f"dialect {dialect_name}" in t for t in texts.values())


def test_ampersand_switches_sqlplus_substitution_off() -> None:
    """SQL*Plus reads ``&name`` as a variable to prompt for; psql and sqlite3 do not."""
    script = DdlFile(PurePosixPath("x.sql"), ("x",), ("SELECT 'R&D' FROM dual",))
    assert "SET DEFINE OFF\n" in script.text(["h"])
    assert "SET DEFINE" not in script.text(["h"], sqlplus=False)
