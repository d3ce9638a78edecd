"""``pathfinder flags ...``: read and set feature flags from the server (operators).

``pathfinder flags set maintenance_mode true`` works when the API cannot be reached (the
point of maintenance). VALUE is JSON (``true``, ``42``, ``"text"``, ``{"a": 1}``); for a
string flag a bare word is taken as the string. Each change is audited (``via: cli``) and
checked against the flag's type and allowed values, as through the API.
"""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import AppGroup

from pathfinder.api.errors import Problem
from pathfinder.db import get_database
from pathfinder.flags import service
from pathfinder.flags.evaluator import evaluator_for_engine

flags_group = AppGroup("flags", help="Read and set feature flags.")


def _problem_text(exc: Problem) -> str:
    errors = exc.extensions.get("errors") or []
    extra = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return f"{exc.detail or exc.title}{f' ({extra})' if extra else ''}"


@flags_group.command("list")
def list_command() -> None:
    """Every flag with its platform-wide value (what a caller without overrides gets)."""
    for evaluation in evaluator_for_engine(get_database().engine).all():
        click.echo(f"{evaluation.key}\t{json.dumps(evaluation.value)}\t{evaluation.reason}")


@flags_group.command("set")
@click.argument("key")
@click.argument("value")
def set_command(key: str, value: str) -> None:
    """Set flag KEY's value (its default, for everyone without an override) to VALUE."""
    parsed: Any
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value  # a bare word: only a string flag will accept it
    try:
        flag = service.set_default_value(get_database(), key, parsed, via="cli")
    except Problem as exc:
        raise click.ClickException(f"{key}: {_problem_text(exc)}") from exc
    click.echo(f"{key} = {json.dumps(flag['default_value'])}")
