"""``pathfinder ddl render``: files for Oracle, stdout for the others, no database needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from pathfinder import create_app
from pathfinder.schema.render import generated_files_in, rendered_texts


@pytest.fixture
def ddl_runner(tmp_path: Path) -> FlaskCliRunner:
    """A CLI runner on an app with no database behind it: rendering must not need one."""
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            # Unreachable on purpose: any connection attempt would fail the test.
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        }
    )
    return app.test_cli_runner()


def test_render_writes_the_oracle_tree_into_ddl_by_default(
    ddl_runner: FlaskCliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = ddl_runner.invoke(args=["ddl", "render"])
    assert result.exit_code == 0, result.output
    written = generated_files_in(tmp_path / "ddl")
    assert written == set(rendered_texts())
    assert f"{len(written)} written, 0 unchanged, 0 removed in ddl" in result.output
    sample = (tmp_path / "ddl" / "templates" / "migrations" / "v2.sql").read_text()
    assert "pf_user_{username}_" in sample
    assert not (tmp_path / "instance").exists()

    again = ddl_runner.invoke(args=["ddl", "render"])
    assert again.exit_code == 0
    assert f"0 written, {len(written)} unchanged, 0 removed" in again.output


def test_check_reports_drift_and_exits_1(ddl_runner: FlaskCliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert ddl_runner.invoke(args=["ddl", "render", "--out", str(out)]).exit_code == 0
    clean = ddl_runner.invoke(args=["ddl", "render", "--out", str(out), "--check"])
    assert clean.exit_code == 0 and "is up to date" in clean.output

    victim = sorted((out / "shared").glob("*.sql"))[0]
    victim.write_text(victim.read_text() + "-- edited by hand\n")
    (out / "shared" / "99_pf_stale.sql").write_text("-- left over\n")
    drift = ddl_runner.invoke(args=["ddl", "render", "--out", str(out), "--check"])
    assert drift.exit_code == 1
    assert f"differs: shared/{victim.name}" in drift.output
    assert "not generated (stale): shared/99_pf_stale.sql" in drift.output
    assert "run `pathfinder ddl render" in drift.output

    fixed = ddl_runner.invoke(args=["ddl", "render", "--out", str(out)])
    assert "removed" in fixed.output and not (out / "shared" / "99_pf_stale.sql").exists()


def test_oracle_stdout_is_one_script_for_19c(ddl_runner: FlaskCliRunner) -> None:
    result = ddl_runner.invoke(args=["ddl", "render", "--stdout"])
    assert result.exit_code == 0
    assert "-- ddl/shared/" in result.output and "-- ddl/templates/v1/" in result.output
    assert "profile 19c" in result.output
    assert " SMALLINT NOT NULL" in result.output and " BOOLEAN" not in result.output


def test_oracle_23ai_profile(ddl_runner: FlaskCliRunner) -> None:
    result = ddl_runner.invoke(args=["ddl", "render", "--stdout", "--profile", "23ai"])
    assert result.exit_code == 0
    assert "profile 23ai" in result.output and " BOOLEAN NOT NULL" in result.output


@pytest.mark.parametrize(
    ("dialect", "marker"),
    [("postgresql", "JSONB"), ("sqlite", "json_valid(")],
)
def test_other_dialects_print_to_stdout_by_default(
    ddl_runner: FlaskCliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dialect: str,
    marker: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = ddl_runner.invoke(args=["ddl", "render", "--dialect", dialect])
    assert result.exit_code == 0
    assert f"dialect {dialect}" in result.output and marker in result.output
    assert not (tmp_path / "ddl").exists()


def test_other_dialect_with_out_writes_files(ddl_runner: FlaskCliRunner, tmp_path: Path) -> None:
    out = tmp_path / "pg"
    result = ddl_runner.invoke(args=["ddl", "render", "--dialect", "postgresql", "--out", str(out)])
    assert result.exit_code == 0
    assert generated_files_in(out) == set(rendered_texts("postgresql"))


@pytest.mark.parametrize(
    "args",
    [
        ["--stdout", "--out", "x"],
        ["--stdout", "--check"],
        ["--dialect", "sqlite", "--profile", "19c"],
        ["--dialect", "mysql"],
    ],
)
def test_usage_errors(ddl_runner: FlaskCliRunner, args: list[str]) -> None:
    result = ddl_runner.invoke(args=["ddl", "render", *args])
    assert result.exit_code == 2, result.output
