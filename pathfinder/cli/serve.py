"""``pathfinder serve``: the production WSGI server (gunicorn) with the project's settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command("serve")
@click.option("--bind", default=None, help="host:port (default 127.0.0.1:8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None)
@click.option("--production", is_flag=True, help="Set PATHFINDER_PRODUCTION=true (strict checks).")
def serve_command(bind: str | None, workers: int | None, production: bool) -> None:
    """Run gunicorn on wsgi:app with gunicorn.conf.py (never the Flask dev server)."""
    env = dict(os.environ)
    if production:
        env["PATHFINDER_PRODUCTION"] = "true"
    if bind:
        env["PATHFINDER_BIND"] = bind
    if workers:
        env["PATHFINDER_WORKERS"] = str(workers)
    if env.get("PATHFINDER_PRODUCTION", "").lower() in ("1", "true", "yes"):
        # Fail here, with one line, rather than in every worker.
        from pathfinder import create_app
        from pathfinder.config import ConfigurationError

        try:
            create_app({"PRODUCTION": True})
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from exc
    root = Path(__file__).resolve().parents[2]
    config = root / "gunicorn.conf.py"
    args = [sys.executable, "-m", "gunicorn", "--config", str(config), "wsgi:app"]
    os.chdir(root)
    os.execve(sys.executable, args, env)  # noqa: S606 - replaces this process with gunicorn
