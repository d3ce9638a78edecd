"""``pathfinder audit``: seal, verify and prove the tamper-evident audit log.

``verify`` exits 0 with a summary when everything holds, and 1 with one line per finding
(where, what kind, why: ``deleted``, ``edited``, ``reordered``, ``truncated``, ...) when it
does not, so a cron job or monitoring check can alert on the status alone. No line carries
row content: the audit log may hold personal data, and a monitoring system is the wrong
place for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from pathfinder.audit.checkpoints import (
    CheckpointError,
    SinkSettings,
    key_id,
    load_signing_key,
    public_key_text,
)
from pathfinder.audit.proofs import ProofError, inclusion_for
from pathfinder.audit.sealer import SealRefused, seal
from pathfinder.audit.verify import DEFAULT_BATCH_SIZE, verify_configured
from pathfinder.db import get_database

audit_group = AppGroup("audit", help="Seal, verify and prove the tamper-evident audit log.")


def parse_since(value: str | None) -> int | datetime | None:
    """``--since``: digits are a ``seq``; anything else an ISO 8601 date/time (UTC if naive)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            "expected a seq number or an ISO date/time such as 2025-01-31T12:00:00Z",
            param_hint="--since",
        ) from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _database_error(exc: sa.exc.SQLAlchemyError) -> click.ClickException:
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return click.ClickException(f"database error: {first[0] if first else exc}")


@audit_group.command("seal")
@click.option("--max-rows", type=click.IntRange(min=1), help="Seal at most this many rows.")
def seal_command(max_rows: int | None) -> None:
    """Integrate committed rows into the Merkle tree and export a signed checkpoint."""
    try:
        report = seal(get_database(), current_app.config, max_rows=max_rows)
    except SealRefused as exc:
        click.echo(f"seal refused: {exc}", err=True)
        raise SystemExit(1) from exc
    except (CheckpointError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    lag = f"; oldest row waited {report.lag_seconds:.1f} s" if report.lag_seconds else ""
    click.echo(
        f"sealed {report.rows} row(s) in {report.checkpoints} checkpoint(s); tree size "
        f"{report.tree_size}; {report.open_gaps} open gap(s){lag}"
    )


@audit_group.command("verify")
@click.option(
    "--since",
    "since_text",
    metavar="DATETIME|SEQ",
    help="Recompute row hashes only from this seq or instant (the tree is checked in full).",
)
@click.option(
    "--checkpoints",
    "checkpoints_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Exported checkpoint file to trust (default: the configured sink's file).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows read per query.",
)
def verify_command(since_text: str | None, checkpoints_file: Path | None, batch_size: int) -> None:
    """Check rows, tree and checkpoints against the exported checkpoints; exit 1 if broken."""
    since = parse_since(since_text)
    if isinstance(since, int) and since < 1:
        raise click.BadParameter("a seq starts at 1", param_hint="--since")

    def progress(count: int) -> None:
        every = batch_size * 100  # a line every 100 batches on a long run, none on short ones
        if count >= every and count % every < batch_size:
            click.echo(f"  {count} leaf(s) checked", err=True)

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        with get_database().connect() as conn:
            report = verify_configured(
                conn,
                app,
                exported_file=checkpoints_file,
                since=since,
                batch_size=batch_size,
                progress=progress,
            )
            conn.rollback()
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    if not report.ok:
        for finding in report.findings:
            click.echo(f"audit log broken at {finding}", err=True)
        raise SystemExit(1)
    root = f" root {report.root_hash}" if report.root_hash else ""
    click.echo(
        f"audit log ok: tree size {report.tree_size}{root}; {report.rows_checked} sealed "
        f"row(s) checked; {report.checkpoints} checkpoint(s), {report.exported} exported"
    )
    if report.unsealed:
        waited = ""
        if report.oldest_unsealed is not None:
            age = (datetime.now(UTC) - report.oldest_unsealed).total_seconds()
            waited = f", the oldest written {age:.0f} s ago"
        click.echo(f"{report.unsealed} row(s) not sealed yet{waited}")
    if report.gaps:
        shown = ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in report.gaps[:10])
        more = " ..." if len(report.gaps) > 10 else ""
        click.echo(
            f"{report.gap_count} seq value(s) never committed: {shown}{more} "
            "(rolled back; compare with the application log, docs/audit.md)"
        )


@audit_group.command("prove")
@click.argument("row_id")
@click.option("--size", type=click.IntRange(min=1), help="Tree size (default: the latest).")
def prove_command(row_id: str, size: int | None) -> None:
    """Print an RFC 9162 inclusion proof of one audit row (by id) as JSON."""
    try:
        with get_database().connect() as conn:
            proof = inclusion_for(conn, row_id, size)
            conn.rollback()
    except ProofError as exc:
        raise click.ClickException(str(exc)) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    click.echo(json.dumps(proof.as_json(), indent=2))
    if not proof.verified:
        click.echo("the proof does not verify against the checkpoint's root", err=True)
        raise SystemExit(1)


@audit_group.command("public-key")
def public_key_command() -> None:
    """Print the checkpoint signing key's public half, for verifiers and AUDIT_VERIFY_KEYS."""
    try:
        public = load_signing_key(current_app.config).public_key()
        sink = SinkSettings.from_config(current_app.config)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"key id {key_id(public)}")
    click.echo(f"public key (base64url, Ed25519) {public_key_text(public)}")
    click.echo(f"checkpoint file {sink.file}")
