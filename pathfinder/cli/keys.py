"""``pathfinder keys ...``: the operator's view of key management and rotation.

Errors an operator can act on (an unusable keyring, a missing old KEK, an unknown user, a
destroyed key, a value that fails to decrypt) print one line and exit 1. Work in progress
shows a progress bar on stderr. A run stopped on purpose by ``--max-batches`` exits 3: the
work is safe to resume by running the same command again.

Each rotation run writes one ``sys_dba_action`` audit row after it ends, with the counts and
the operator as actor, besides the ``crypt_key_rotated`` row every committed key change
writes in its own transaction (which names the operator too).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import AppGroup

from pathfinder.cli.errors import dba_errors, one_line
from pathfinder.cli.operator import dba_action, dba_key_audit
from pathfinder.db import Database, get_database
from pathfinder.security.kek_schedule import KekSchedule, sync_schedule
from pathfinder.security.keys import (
    CryptoError,
    DataKeyStore,
    get_key_store,
    new_keyring_entry,
)
from pathfinder.security.rotation import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    DekRotation,
    KekRotation,
    UserRef,
    find_user,
    kek_usage,
    key_status_counts,
    pending_kek_rewraps,
    rotate_dek,
    rotate_due_deks,
    rotate_kek,
    rotation_target,
    stale_token_rows,
    token_version_counts,
    users_due_for_rotation,
)

keys_group = AppGroup("keys", help="Rotate master and data keys; show key status.")

# Exit status of a run stopped by --max-batches: not an error, but not finished either.
EXIT_STOPPED_EARLY = 3

F = TypeVar("F", bound=Callable[..., Any])

batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_BATCH_SIZE),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows per committed batch.",
)
max_batches_option = click.option(
    "--max-batches",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many batches (exit 3); run again to continue.",
)


def _stopped_early() -> None:
    click.get_current_context().exit(EXIT_STOPPED_EARLY)


@keys_group.command("rotate-kek")
@batch_size_option
@max_batches_option
@dba_errors
def rotate_kek_command(batch_size: int, max_batches: int | None) -> None:
    """Re-wrap every data key under the newest KEK of the keyring (resumable).

    Add the new KEK version to KEK_KEYRING first and keep the old ones until this command
    reports that nothing is left under them.
    """
    database = get_database()
    provider = get_key_store().provider
    target = provider.current_version
    with dba_action(
        "sys_dba_action", "keys rotate-kek", target_type="kek", target_display=f"KEK v{target}"
    ) as row:
        pending = pending_kek_rewraps(database, provider)
        result = KekRotation(kek_version=target, rewrapped=0, batches=0, remaining=0)
        if pending:
            with click.progressbar(
                length=pending,
                label=f"Re-wrapping under KEK v{target}",
                file=sys.stderr,
                show_pos=True,
            ) as bar:
                result = rotate_kek(
                    database,
                    provider,
                    batch_size=batch_size,
                    max_batches=max_batches,
                    progress=bar.update,
                    audit=dba_key_audit,
                )
        row.details = {
            "kek_version": target,
            "rewrapped": result.rewrapped,
            "batches": result.batches,
            "remaining": result.remaining,
            "complete": result.complete,
        }
    if pending == 0:
        click.echo(f"All data keys are wrapped by KEK version {target}; nothing to do.")
        return
    click.echo(
        f"Re-wrapped {result.rewrapped} data key(s) under KEK version {target} "
        f"in {result.batches} batch(es)."
    )
    if not result.complete:
        click.echo(
            f"Stopped by --max-batches: {result.remaining} data key(s) still under older "
            "KEKs; run the same command again to continue.",
            err=True,
        )
        _stopped_early()
        return
    usage = kek_usage(database)
    unused = [v for v in getattr(provider, "versions", []) if v != target and v not in usage]
    if unused:
        listed = ", ".join(str(v) for v in unused)
        click.echo(f"KEK version(s) {listed} wrap no key any more and may leave KEK_KEYRING.")


def _describe(rotation: DekRotation) -> str:
    name = rotation.user.username
    if not rotation.complete:
        return (
            f"{name}: stopped at v{rotation.target_version} with {rotation.remaining} row(s) "
            "left; run the same command again to continue"
        )
    retired = ", ".join(f"v{v}" for v in rotation.retired_versions) or "none"
    return (
        f"{name}: now v{rotation.target_version}; {rotation.values_resealed} value(s) in "
        f"{rotation.rows_resealed} row(s) re-encrypted; retired {retired}"
    )


def _parse_cutoff(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date-time", param_hint="--created-before"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@keys_group.command("rotate-dek")
@click.argument("usernames", nargs=-1)
@click.option("--all", "all_users", is_flag=True, help="Every user whose data key is due.")
@click.option(
    "--created-before",
    metavar="ISO-TIME",
    help="With --all: rotate keys created before this instant (default: now). Re-run "
    "with the same value to resume without rotating anyone twice.",
)
@batch_size_option
@max_batches_option
@dba_errors
def rotate_dek_command(
    usernames: tuple[str, ...],
    all_users: bool,
    created_before: str | None,
    batch_size: int,
    max_batches: int | None,
) -> None:
    """Give users a new data key and re-encrypt their data with it (resumable)."""
    if all_users == bool(usernames):
        raise click.UsageError("name USERNAMEs or give --all (not both)")
    if created_before is not None and not all_users:
        raise click.UsageError("--created-before goes with --all")
    cutoff = _parse_cutoff(created_before) if all_users else None
    database = get_database()
    store = get_key_store()
    with dba_action("sys_dba_action", "keys rotate-dek", target_type="dek") as row:
        if cutoff is not None:
            run = _rotate_all(database, store, cutoff, batch_size, max_batches)
        else:
            run = _rotate_named(database, store, usernames, batch_size, max_batches)
        row.details = run.audit_details()
        row.outcome = "failure" if run.failed else "success"
    if run.failed:
        raise click.ClickException(f"{run.failed} of {run.users} user(s) failed")
    if run.stopped_early:
        if run.resume_hint:
            click.echo(run.resume_hint, err=True)
        _stopped_early()


@dataclass
class _DekRun:
    """What one ``rotate-dek`` run did: printed as it went, then audited and turned into an
    exit status once it is over (so the audit row is written before the command exits)."""

    users: int = 0
    rotations: list[DekRotation] = field(default_factory=list)
    failed: int = 0
    stopped_early: bool = False
    resume_hint: str = ""
    created_before: str | None = None

    def audit_details(self) -> dict[str, Any]:
        """Counts only: which users were rotated is in their own ``crypt_key_rotated`` rows."""
        details: dict[str, Any] = {
            "users": self.users,
            "users_rotated": sum(1 for r in self.rotations if r.complete),
            "users_failed": self.failed,
            "rows_resealed": sum(r.rows_resealed for r in self.rotations),
            "values_resealed": sum(r.values_resealed for r in self.rotations),
            "complete": not (self.failed or self.stopped_early),
        }
        if self.created_before is not None:
            details["created_before"] = self.created_before
        return details


def _rotate_named(
    database: Database,
    store: DataKeyStore,
    usernames: tuple[str, ...],
    batch_size: int,
    max_batches: int | None,
) -> _DekRun:
    with database.transaction() as conn:
        targets = [find_user(conn, name) for name in dict.fromkeys(usernames)]
    run = _DekRun(users=len(targets))
    failures: list[str] = []
    left = max_batches
    for user in targets:
        if left is not None and left <= 0:
            click.echo(f"{user.username}: not started (--max-batches reached)", err=True)
            continue
        try:
            rotation = _rotate_one(database, store, user, batch_size, left)
        except CryptoError as exc:
            failures.append(f"{user.username}: {one_line(exc)}")
            continue
        run.rotations.append(rotation)
        if left is not None:
            left -= rotation.batches
        click.echo(_describe(rotation))
    for line in failures:
        click.echo(f"error: {line}", err=True)
    run.failed = len(failures)
    run.stopped_early = left is not None and left <= 0
    return run


def _rotate_one(
    database: Database, store: DataKeyStore, user: UserRef, batch_size: int, max_batches: int | None
) -> DekRotation:
    # Fix the target first (rotate_dek finds the same one: a rotation under way is resumed,
    # never doubled), so the bar can count exactly the rows that are left.
    target, created = rotation_target(database, store, user, audit=dba_key_audit)
    pending = sum(stale_token_rows(database, user, target).values())
    with click.progressbar(
        length=max(pending, 1),
        label=f"{user.username} -> v{target}",
        file=sys.stderr,
        show_pos=True,
    ) as bar:
        rotation = rotate_dek(
            database,
            store,
            user,
            batch_size=batch_size,
            max_batches=max_batches,
            progress=bar.update,
            audit=dba_key_audit,
        )
    rotation.created_version = rotation.created_version or created
    return rotation


def _rotate_all(
    database: Database,
    store: DataKeyStore,
    cutoff: datetime,
    batch_size: int,
    max_batches: int | None,
) -> _DekRun:
    stamp = cutoff.isoformat().replace("+00:00", "Z")
    click.echo(
        f"Rotating data keys created before {stamp} (to resume: pathfinder keys rotate-dek "
        f"--all --created-before {stamp})",
        err=True,
    )
    due = users_due_for_rotation(database, created_before=cutoff)
    run = _DekRun(users=len(due), created_before=stamp)
    if not due:
        click.echo("No data key is due for rotation; nothing to do.")
        return run
    lines: list[str] = []
    with click.progressbar(
        length=len(due), label="Rotating data keys", file=sys.stderr, show_pos=True
    ) as bar:

        def on_user(user: UserRef, rotation: DekRotation | None, error: str | None) -> None:
            lines.append(_describe(rotation) if rotation else f"error: {user.username}: {error}")
            bar.update(1)

        report = rotate_due_deks(
            database,
            store,
            created_before=cutoff,
            batch_size=batch_size,
            max_batches=max_batches,
            on_user=on_user,
            audit=dba_key_audit,
        )
    for line in lines:
        click.echo(line, err=line.startswith("error: "))
    done = sum(1 for r in report.rotations if r.complete)
    click.echo(f"{done} of {len(due)} user(s) rotated.")
    run.rotations = report.rotations
    run.failed = len(report.failures)
    run.stopped_early = report.stopped_early
    run.resume_hint = (
        f"Stopped by --max-batches; resume with: pathfinder keys rotate-dek --all "
        f"--created-before {stamp}"
    )
    return run


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


@keys_group.command("status")
@click.argument("username", required=False)
@dba_errors
def status_command(username: str | None) -> None:
    """Show KEK usage and data-key counts, or one user's key versions."""
    database = get_database()
    store = get_key_store()
    provider = store.provider
    if username is None:
        click.echo(f"key provider: {getattr(provider, 'name', type(provider).__name__)}")
        versions = getattr(provider, "versions", None)
        if versions:
            click.echo(f"KEK versions configured: {', '.join(str(v) for v in versions)}")
        click.echo(f"current KEK version: {provider.current_version}")
        counts = key_status_counts(database)
        click.echo(
            "data keys: "
            + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("active", "retired", "destroyed"))
        )
        usage = kek_usage(database)
        for version, count in usage.items():
            click.echo(f"  wrapped by KEK v{version}: {count}")
        click.echo(f"awaiting rotate-kek: {pending_kek_rewraps(database, provider)}")
        mid = users_due_for_rotation(database, created_before=datetime(1970, 1, 1, tzinfo=UTC))
        click.echo(f"users mid-rotation (rotate-dek unfinished): {len(mid)}")
        return
    with database.transaction() as conn:
        user = find_user(conn, username)
        infos = store.key_versions(conn, user.id)
    click.echo(f"user: {user.username} ({user.id})")
    if not infos:
        click.echo("no data keys")
        return
    in_use = token_version_counts(database, user, [i.key_version for i in infos])
    click.echo(
        f"{'VERSION':>7} {'STATUS':<10} {'KEK':>4} {'REWRAPS':>7} {'VALUES':>7}  "
        f"{'CREATED':<20} {'LAST RE-WRAP':<20} DESTROYED"
    )
    for info in infos:
        click.echo(
            f"{info.key_version:>7} {info.status:<10} {info.kek_version:>4} "
            f"{info.rotation_count:>7} {in_use.get(info.key_version, 0):>7}  "
            f"{_when(info.created_at):<20} {_when(info.last_rotated):<20} "
            f"{_when(info.destroyed_at)}"
        )


def _schedule(now: datetime) -> KekSchedule:
    config = current_app.config
    return sync_schedule(
        get_database(),
        get_key_store().provider,
        now,
        rotation_days=int(config["KEK_ROTATION_DAYS"]),
        backup_retention_days=int(config["BACKUP_RETENTION_DAYS"]),
    )


@keys_group.command("schedule")
@dba_errors
def schedule_command() -> None:
    """Show each KEK version's life and what is due (exit 1 when an action is due).

    An old version may be destroyed once it wraps no key and BACKUP_RETENTION_DAYS have
    passed since: every backup that needed it has expired.
    """
    now = datetime.now(UTC)
    schedule = _schedule(now)
    click.echo(
        f"rotation every {schedule.rotation_days} days; backups kept "
        f"{schedule.backup_retention_days} days; current KEK due for replacement "
        f"{schedule.rotation_due_at:%Y-%m-%d}"
    )
    click.echo(
        f"{'KEK':>4} {'STATUS':<17} {'KEYS':>6}  {'CURRENT SINCE':<20} {'DRAINED':<20} "
        "REMOVABLE FROM"
    )
    for state in schedule.versions:
        click.echo(
            f"{state.version:>4} {state.status(now):<17} {state.wrapped_keys:>6}  "
            f"{_when(state.current_since):<20} {_when(state.drained_at):<20} "
            f"{_when(state.removable_from)}"
        )
    due = schedule.due()
    for action in due:
        click.echo(f"DUE: {action}", err=True)
    if due:
        click.get_current_context().exit(1)


@keys_group.command("new-kek")
@dba_errors
def new_kek_command() -> None:
    """Print KEK_KEYRING with a new version added (the value to deploy; keep it secret).

    The printed JSON holds the configured versions plus a fresh random key under the next
    number. Deploy it, then the ``kek_schedule`` job (or ``keys rotate-kek``) re-wraps every
    data key under it.
    """
    provider = get_key_store().provider
    raw = current_app.config.get("KEK_KEYRING")
    if not raw:
        raise click.ClickException(
            "KEK_KEYRING is not configured (development key in use); set it before rotating"
        )
    ring = dict(json.loads(raw) if isinstance(raw, str) else raw)
    ring[str(provider.current_version + 1)] = new_keyring_entry()
    click.echo(json.dumps(ring, sort_keys=True))
