"""``create_app`` builds the app from defaults, environment and overrides, with no I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathfinder import create_app


def test_factory_opens_no_connection(tmp_path: Path) -> None:
    # An unreachable server would make any connection attempt fail loudly.
    app = create_app(
        {"DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/none", "INSTANCE_PATH": str(tmp_path)}
    )
    assert app.extensions["pathfinder.database"] is None
    assert not any(tmp_path.iterdir())


def test_environment_then_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATHFINDER_SQLITE_BUSY_TIMEOUT_MS", "17")
    monkeypatch.setenv("PATHFINDER_INSTANCE_PATH", str(tmp_path / "from_env"))
    app = create_app({"MIGRATE_BATCH_SIZE": 5})
    assert app.config["SQLITE_BUSY_TIMEOUT_MS"] == 17
    assert app.config["MIGRATE_BATCH_SIZE"] == 5
    assert app.instance_path == str((tmp_path / "from_env").resolve())


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    from pathfinder.db import get_database

    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    database = get_database(app)
    assert database.dialect_name == "sqlite"
    assert database.settings.url == f"sqlite:///{tmp_path.resolve() / 'pathfinder.db'}"
    database.dispose()
