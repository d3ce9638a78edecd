"""``pathfinder ddl render``: write the schema's DDL as scripts a DBA can review and run.

Only the Oracle DDL is committed (``ddl/``, rendered for the 19c baseline of Autonomous
Database); PostgreSQL and SQLite output is for reading, so it goes to stdout unless ``--out``
names a folder. Rendering needs no database: everything is compiled offline.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from pathfinder.schema.oracle_profile import ORACLE_PROFILES, OracleProfile
from pathfinder.schema.render import (
    DIALECT_NAMES,
    DialectName,
    render_script,
    tree_differences,
    write_tree,
)

ddl_group = AppGroup("ddl", help="Render the schema's DDL for review and manual runs.")

DEFAULT_OUT_DIR = Path("ddl")


@ddl_group.command("render")
@click.option(
    "--dialect",
    "dialect_name",
    type=click.Choice(DIALECT_NAMES),
    default="oracle",
    show_default=True,
    help="Database to compile for.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write into [oracle default: ./ddl; others print to stdout].",
)
@click.option("--stdout", "to_stdout", is_flag=True, help="Print one script instead of files.")
@click.option(
    "--profile",
    type=click.Choice(ORACLE_PROFILES),
    default=None,
    help="Oracle server to compile for [default: 19c, the Autonomous Database baseline].",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 if the folder differs from a fresh render.",
)
def render_command(
    dialect_name: DialectName,
    out_dir: Path | None,
    to_stdout: bool,
    profile: OracleProfile | None,
    check: bool,
) -> None:
    """Render shared tables, per-user templates and template migrations as SQL scripts."""
    if to_stdout and (out_dir is not None or check):
        raise click.UsageError("--stdout cannot be combined with --out or --check")
    if profile is not None and dialect_name != "oracle":
        raise click.UsageError("--profile applies to --dialect oracle only")
    if to_stdout or (out_dir is None and dialect_name != "oracle" and not check):
        click.echo(render_script(dialect_name, profile), nl=False)
        return
    target = out_dir if out_dir is not None else DEFAULT_OUT_DIR
    if check:
        problems = tree_differences(target, dialect_name, profile)
        for line in problems:
            click.echo(line)
        if problems:
            raise click.ClickException(
                f"{target} is not up to date: run `pathfinder ddl render"
                f"{'' if dialect_name == 'oracle' else f' --dialect {dialect_name}'}"
                f"{f' --out {target}' if out_dir is not None else ''}`"
            )
        click.echo(f"{target} is up to date")
        return
    result = write_tree(target, dialect_name, profile)
    for rel in result.written:
        click.echo(f"wrote {target / rel}")
    for rel in result.removed:
        click.echo(f"removed {target / rel}")
    click.echo(
        f"{len(result.written)} written, {len(result.unchanged)} unchanged, "
        f"{len(result.removed)} removed in {target}"
    )
