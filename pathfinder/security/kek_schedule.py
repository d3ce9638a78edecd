"""The master-key schedule: replace the KEK on time, destroy an old one once backups allow.

Crypto-shredding destroys a user's data keys in the live database, but a backup taken
before the erasure still holds them, wrapped by a KEK. The erasure reaches that backup only
when no KEK that can unwrap it exists any more. So the guarantee is a schedule:

1. the wrapping KEK is replaced at least every ``KEK_ROTATION_DAYS`` (a new version added to
   the keyring, or to the KMS);
2. every data key is re-wrapped under it (``rotate_kek``, run by the ``kek_schedule`` job as
   soon as a new version is current), which *drains* the old version;
3. once every backup taken while the old version still wrapped a key has expired
   (``BACKUP_RETENTION_DAYS`` after it drained), the old version is removed from the keyring
   and destroyed.

Adding and destroying key material is the operator's act (the keyring is configuration, a
KMS is outside the application); the job does the rest and says, every day, what is due:
the new version when the current one is too old, and the removal of an old one whose date
has come. ``pf_kek_versions`` records each version's life as the application saw it, so the
dates survive restarts and are the same on every node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pathfinder.db.database import Database
from pathfinder.schema.shared.security import encryption_keys, kek_versions
from pathfinder.security.keys import KeyProvider


@dataclass(frozen=True)
class KekVersionState:
    """One master-key version and what is due for it."""

    version: int
    current: bool
    configured: bool
    current_since: datetime
    superseded_at: datetime | None
    drained_at: datetime | None
    removed_at: datetime | None
    wrapped_keys: int
    # The first day it may be destroyed (drained + backup retention); None while it wraps.
    removable_from: datetime | None

    def status(self, now: datetime) -> str:
        """A word for the operator: current, draining, kept-for-backups, remove-now, removed."""
        if self.removed_at is not None or not self.configured:
            return "removed"
        if self.current:
            return "current"
        if self.removable_from is None:
            return "draining"
        return "remove-now" if now >= self.removable_from else "kept-for-backups"

    def as_json(self, now: datetime) -> dict[str, Any]:
        """For job details and the CLI's ``--json``."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "version": self.version,
            "status": self.status(now),
            "current_since": iso(self.current_since),
            "superseded_at": iso(self.superseded_at),
            "drained_at": iso(self.drained_at),
            "removable_from": iso(self.removable_from),
            "wrapped_keys": self.wrapped_keys,
        }


@dataclass
class KekSchedule:
    """The whole schedule at ``now``: every version, and the actions that are due."""

    now: datetime
    rotation_days: int
    backup_retention_days: int
    versions: list[KekVersionState] = field(default_factory=list)

    @property
    def current(self) -> KekVersionState:
        return next(v for v in self.versions if v.current)

    @property
    def rotation_due_at(self) -> datetime:
        """When the current KEK should have been replaced."""
        return self.current.current_since + timedelta(days=self.rotation_days)

    def due(self) -> list[str]:
        """What the operator must do now, one sentence each (empty: nothing)."""
        actions = []
        if self.now >= self.rotation_due_at:
            actions.append(
                f"KEK version {self.current.version} has wrapped new keys since "
                f"{self.current.current_since:%Y-%m-%d}, more than {self.rotation_days} days: "
                "add a new version to PATHFINDER_KEK_KEYRING (`pathfinder keys new-kek`)"
            )
        for state in self.versions:
            if state.status(self.now) == "remove-now":
                actions.append(
                    f"KEK version {state.version} wraps no key since "
                    f"{state.drained_at:%Y-%m-%d} and every backup from before then has "
                    f"expired: remove it from the keyring and destroy it"
                )
        return actions

    def erasure_reaches_backups_by(self, erased_at: datetime) -> datetime:
        """The latest day an erasure at ``erased_at`` is unreadable in every backup too.

        The data keys in a backup from before ``erased_at`` are wrapped by the KEK current
        then (or an older one). That version is replaced by ``rotation_days`` after it became
        current at the latest, drained by the next daily run, and destroyable
        ``backup_retention_days`` later; the schedule's promise holds if the operator acts
        on the job's warnings.
        """
        current = max(
            (v for v in self.versions if v.current_since <= erased_at),
            key=lambda v: v.current_since,
            default=self.current,
        )
        replaced = current.superseded_at or max(
            erased_at, current.current_since + timedelta(days=self.rotation_days)
        )
        drained = current.drained_at or replaced + timedelta(days=1)
        return drained + timedelta(days=self.backup_retention_days)


def _provider_versions(provider: KeyProvider) -> list[int]:
    versions = getattr(provider, "versions", None)  # a provider that can list its versions
    if callable(versions):
        versions = versions()
    if versions is None:
        return [provider.current_version]
    return sorted(int(v) for v in versions)


def sync_schedule(
    db: Database,
    provider: KeyProvider,
    now: datetime,
    *,
    rotation_days: int,
    backup_retention_days: int,
) -> KekSchedule:
    """Record what changed since the last look (new, superseded, drained, removed versions)
    and return the schedule. Safe to run on any node at any time: each fact is recorded
    once, the first time it is seen."""
    configured = _provider_versions(provider)
    current = provider.current_version
    t = kek_versions.c
    k = encryption_keys.c
    with db.transaction() as conn:
        known = {row.kek_version: row for row in conn.execute(sa.select(kek_versions))}
        if current not in known:
            conn.execute(kek_versions.insert().values(kek_version=current, current_since=now))
        for version in configured:
            if version not in known and version != current:
                # Found in the keyring below the current one (installed before this table
                # existed): it stopped being current no later than now.
                conn.execute(
                    kek_versions.insert().values(
                        kek_version=version, current_since=now, superseded_at=now
                    )
                )
        conn.execute(
            kek_versions.update()
            .where(t.kek_version != current, t.superseded_at.is_(None))
            .values(superseded_at=now)
        )
        wrapped = dict(
            conn.execute(
                sa.select(k.kek_version, sa.func.count())
                .where(k.key_encrypted.is_not(None))
                .group_by(k.kek_version)
            ).all()
        )
        rows = {row.kek_version: row for row in conn.execute(sa.select(kek_versions))}
        for version, row in rows.items():
            if version != current and row.drained_at is None and not wrapped.get(version):
                conn.execute(
                    kek_versions.update().where(t.kek_version == version).values(drained_at=now)
                )
            if version not in configured and row.removed_at is None:
                conn.execute(
                    kek_versions.update().where(t.kek_version == version).values(removed_at=now)
                )
        rows = {row.kek_version: row for row in conn.execute(sa.select(kek_versions))}
    schedule = KekSchedule(now, rotation_days, backup_retention_days)
    for version in sorted(rows):
        row = rows[version]
        removable = (
            row.drained_at + timedelta(days=backup_retention_days)
            if row.drained_at is not None
            else None
        )
        schedule.versions.append(
            KekVersionState(
                version=version,
                current=version == current,
                configured=version in configured,
                current_since=row.current_since,
                superseded_at=row.superseded_at,
                drained_at=row.drained_at,
                removed_at=row.removed_at,
                wrapped_keys=int(wrapped.get(version, 0)),
                removable_from=removable,
            )
        )
    return schedule
