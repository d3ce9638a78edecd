"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from pathfinder.db import get_database
from tests.conftest import make_app

AppFactory = Callable[..., Flask]


@pytest.fixture
def app_with(database_url: str, tmp_path: Path) -> Iterator[AppFactory]:
    """More apps on the test's database with other key settings; their pools closed after."""
    made: list[Flask] = []

    def build(**config: object) -> Flask:
        made.append(make_app(database_url, tmp_path / "instance", **config))
        return made[-1]

    yield build
    for other in made:
        get_database(other).dispose()
