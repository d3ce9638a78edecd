"""A process killed in the middle of provisioning, then the DBA's re-run: it converges.

The child process provisions with a hook that ends it with ``os._exit`` right after a chosen
DDL statement (no cleanup, no exception handling: as close to ``kill -9`` as a test gets).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask import Flask

from pathfinder.db import Database
from pathfinder.provisioning.verify import verify_user
from tests.provisioning.helpers import catalog_objects, expected_objects, registered, state

CHILD = textwrap.dedent(
    """
    import os, sys
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.provisioning import Provisioner

    kill_at = int(sys.argv[2])
    count = {"n": 0}

    def hook(phase, step):
        if phase == "after":
            count["n"] += 1
            if count["n"] == kill_at:
                os._exit(137)

    app = create_app()
    Provisioner(get_database(app), on_step=hook, commit_each_step=True).provision(sys.argv[1])
    sys.exit(3)  # never reached when the hook fires
    """
)


@pytest.mark.parametrize("kill_at", [1, 9, 20])
def test_killed_provision_then_cli_rerun_converges(
    app: Flask, db: Database, kill_at: int, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env["PATHFINDER_DATABASE_URL"] = db.settings.url
    env["PATHFINDER_INSTANCE_PATH"] = str(db.settings.instance_path)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, "victim", str(kill_at)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 137, child.stderr
    assert state(db, "victim") == "creating"
    assert 0 < len(catalog_objects(db, "victim")) < len(expected_objects(db, "victim"))

    rerun = app.test_cli_runner().invoke(args=["tenants", "provision", "victim"])

    assert rerun.exit_code == 0, rerun.output
    assert "victim: created" in rerun.output
    assert catalog_objects(db, "victim") == expected_objects(db, "victim")
    assert registered(db, "victim") == expected_objects(db, "victim")
    assert verify_user(db, "victim").clean
