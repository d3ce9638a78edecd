"""Key rotation: re-wrap data keys under a new KEK, and re-encrypt a user under a new DEK.

Both operations work in batches, each committed on its own, and both decide what is left to
do from the rows alone (a DEK row's ``kek_version``, a token's ``pf1.<version>.`` prefix).
So a run that is killed, fails, or stops at ``max_batches`` loses nothing: every value is
at all times sealed under a key that is still stored and still opens, and the next run
picks up exactly what is left.

* :func:`rotate_kek` unwraps each DEK still wrapped by an older KEK and wraps it under the
  provider's current one. Old KEKs must stay configured until it reports nothing pending.
* :func:`rotate_dek` gives the user a new DEK version (unless a rotation is already under
  way: several active versions), re-encrypts every registered column of every row of that
  user with it, and only when no token references an older version marks those versions
  ``retired`` (still stored: a restored backup's tokens keep opening).
* :func:`rotate_due_deks` is the scheduled job's entry point: every user whose current DEK
  is older than a cut-off, plus every rotation left unfinished.

Row-level safety against the live application: each batch selects its rows ``FOR UPDATE``
(SQLite: the write lock of ``BEGIN IMMEDIATE``) and re-reads the tokens under that lock, so
a concurrent edit is never overwritten with an older value. The application seals with the
newest version, so its writes during a rotation already count as done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.db.database import Database
from pathfinder.provisioning import registry
from pathfinder.schema.naming import InvalidUsername, normalize_username
from pathfinder.schema.shared.base import metadata
from pathfinder.schema.shared.identity import users
from pathfinder.schema.shared.security import encryption_keys
from pathfinder.security.fields import (
    FIRST_ROW_VERSION,
    LEGACY_ROW_VERSION,
    LEGACY_TOKEN_PREFIX,
    TOKEN_PREFIX,
    EncryptedTable,
    FieldCipher,
    is_current_token,
    per_user_tables,
    shared_tables,
)
from pathfinder.security.keys import (
    EVENT_KEY_ROTATED,
    STATUS_ACTIVE,
    STATUS_DESTROYED,
    AuditHook,
    CryptoError,
    DataKeyStore,
    KeyDestroyed,
    KeyNotFound,
    KeyProvider,
    KeyUnwrapError,
    b64url_decode,
    b64url_encode,
    dek_wrapping_aad,
    utcnow,
)

# Rows per committed batch. An IN list of ids is part of each batch, and Oracle allows at
# most 1000 expressions in one.
DEFAULT_BATCH_SIZE = 200
MAX_BATCH_SIZE = 1000
# A rotation re-scans when the application wrote old-version tokens during a pass (its
# cached "current version" may lag by DEK_CACHE_TTL_SECONDS); this many passes at most.
MAX_PASSES = 3

# Called after each committed batch with the number of rows it changed.
Progress = Callable[[int], None]


class UnknownUser(LookupError):
    """No ``pf_users`` row has that username or id."""


class TablesNotMigrated(CryptoError):
    """The user's tables predate row versions; migrate them before re-sealing their values.

    A value is re-sealed at its row's version, so the row must have somewhere to keep it.
    """


@dataclass(frozen=True)
class UserRef:
    """A user as rotation needs them: the id keys belong to, the name tables are found by."""

    id: str
    username: str


def find_user(conn: Connection, name_or_id: str) -> UserRef:
    """The user whose username (case-folded) or id is ``name_or_id``."""
    try:
        name: str | None = normalize_username(name_or_id)
    except InvalidUsername:
        name = None
    conditions = [users.c.id == name_or_id]
    if name is not None:
        conditions.append(users.c.username == name)
    row = conn.execute(sa.select(users.c.id, users.c.username).where(sa.or_(*conditions))).first()
    if row is None:
        raise UnknownUser(f"no user {name_or_id!r}")
    return UserRef(row.id, row.username)


def _check_batch_size(batch_size: int) -> int:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
    return batch_size


# -- KEK rotation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KekRotation:
    """What a :func:`rotate_kek` run did, and what is left for the next one."""

    kek_version: int
    rewrapped: int
    batches: int
    remaining: int

    @property
    def complete(self) -> bool:
        return self.remaining == 0


def _needs_rewrap(kek_version: int) -> sa.ColumnElement[bool]:
    k = encryption_keys.c
    return sa.and_(k.kek_version < kek_version, k.status != STATUS_DESTROYED)


def pending_kek_rewraps(db: Database, provider: KeyProvider) -> int:
    """How many stored data keys are still wrapped by a KEK older than the current one."""
    with db.transaction() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(_needs_rewrap(provider.current_version))
            ).scalar_one()
        )


def rotate_kek(
    db: Database,
    provider: KeyProvider,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    progress: Progress | None = None,
    audit: AuditHook | None = None,
) -> KekRotation:
    """Re-wrap every data key under ``provider.current_version``; resumable.

    Run after adding a new KEK version to the keyring. Each batch is one transaction; a
    killed run leaves committed batches under the new KEK and the rest under the old one,
    both readable while the old KEK stays configured. ``max_batches`` stops early on
    purpose (an operator spreading the work over maintenance windows). ``audit`` records
    each batch in the batch's own transaction.
    """
    _check_batch_size(batch_size)
    target = provider.current_version
    k = encryption_keys.c
    rewrapped = batches = 0
    after: str | None = None
    while max_batches is None or batches < max_batches:
        with db.transaction() as conn:
            query = sa.select(k.id).where(_needs_rewrap(target)).order_by(k.id).limit(batch_size)
            if after is not None:
                query = query.where(k.id > after)
            ids = list(conn.execute(query).scalars())
            if not ids:
                break
            rows = conn.execute(
                sa.select(k.id, k.user_id, k.key_version, k.kek_version, k.key_encrypted)
                .where(k.id.in_(ids), _needs_rewrap(target))
                .with_for_update()
            ).all()
            now = utcnow()
            params: list[dict[str, Any]] = []
            for row in rows:
                aad = dek_wrapping_aad(row.user_id, row.key_version)
                try:
                    wrapped_now = b64url_decode(row.key_encrypted)
                except ValueError:
                    raise KeyUnwrapError(
                        f"data key v{row.key_version} of user {row.user_id} is not base64url"
                    ) from None
                dek = provider.unwrap(row.kek_version, wrapped_now, aad)
                new_version, wrapped = provider.wrap(dek, aad)
                params.append(
                    {"b_id": row.id, "b_key": b64url_encode(wrapped), "b_kek": new_version}
                )
            if params:
                conn.execute(
                    encryption_keys.update()
                    .where(k.id == sa.bindparam("b_id"))
                    .values(
                        key_encrypted=sa.bindparam("b_key"),
                        kek_version=sa.bindparam("b_kek"),
                        rotation_count=k.rotation_count + 1,
                        last_rotated=now,
                    ),
                    params,
                )
                if audit is not None:
                    details = {
                        "operation": "kek_rewrap",
                        "kek_version": target,
                        "count": len(params),
                    }
                    audit(conn, EVENT_KEY_ROTATED, None, details)
        after = ids[-1]
        batches += 1
        rewrapped += len(params)
        if progress is not None:
            progress(len(params))
    return KekRotation(target, rewrapped, batches, pending_kek_rewraps(db, provider))


def kek_usage(db: Database) -> dict[int, int]:
    """Stored (not destroyed) data keys per KEK version: which old KEKs are still needed."""
    k = encryption_keys.c
    with db.transaction() as conn:
        rows = conn.execute(
            sa.select(k.kek_version, sa.func.count())
            .where(k.status != STATUS_DESTROYED)
            .group_by(k.kek_version)
            .order_by(k.kek_version)
        )
        return {int(version): int(count) for version, count in rows}


def key_status_counts(db: Database) -> dict[str, int]:
    """Data-key rows per status (active, retired, destroyed), for ``keys status``."""
    k = encryption_keys.c
    with db.transaction() as conn:
        rows = conn.execute(sa.select(k.status, sa.func.count()).group_by(k.status))
        return {str(status): int(count) for status, count in rows}


# -- DEK rotation ----------------------------------------------------------------------------


@dataclass
class DekRotation:
    """What a :func:`rotate_dek` run did for one user."""

    user: UserRef
    target_version: int
    created_version: bool
    rows_resealed: int = 0
    values_resealed: int = 0
    batches: int = 0
    retired_versions: list[int] = field(default_factory=list)
    # Rows still holding a token of another version when the run ended (0 when complete).
    remaining: int = 0
    complete: bool = False


class _BatchBudget:
    """Counts batches against an optional limit shared by every table (and every user)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit


def rotation_target(
    db: Database, keys: DataKeyStore, user: UserRef, *, audit: AuditHook | None = None
) -> tuple[int, bool]:
    """The version a rotation of ``user`` seals to, creating it unless one is under way.

    A user with several active versions is mid-rotation (a run was killed or stopped): the
    newest is the target and no further version is made, which is what makes
    :func:`rotate_dek` resumable. Returns (version, whether it was created now).
    """
    with db.transaction() as conn:
        # Serialise two rotations of one user (the row lock is held until commit).
        conn.execute(sa.select(users.c.id).where(users.c.id == user.id).with_for_update())
        versions = keys.key_versions(conn, user.id)
        if any(v.status == STATUS_DESTROYED for v in versions):
            raise KeyDestroyed(f"the data keys of user {user.username} were destroyed")
        active = [v.key_version for v in versions if v.status == STATUS_ACTIVE]
        if not active:
            raise KeyNotFound(f"user {user.username} has no active data key")
        if len(active) > 1:
            return max(active), False
        version = keys.add_key_version(conn, user.id)
        if audit is not None:
            details = {"operation": "dek_version_created", "key_version": version}
            audit(conn, EVENT_KEY_ROTATED, user.id, details)
        return version, True


def _stale(table: sa.Table, spec: EncryptedTable, target: int) -> sa.ColumnElement[bool]:
    """Rows holding at least one token of a version other than ``target``."""
    pattern = f"{TOKEN_PREFIX}{target}.%"
    return sa.or_(
        *(
            sa.and_(table.c[col].is_not(None), sa.not_(table.c[col].like(pattern)))
            for col in spec.columns
        )
    )


def _user_tables(db: Database, user: UserRef) -> Iterator[tuple[EncryptedTable, sa.Table, bool]]:
    """(registry entry, Table, is per-user) for every registered table ``user`` has rows in.

    Per-user tables exist only for a user whose provisioning is ``ready`` (no other state
    ever held data), at their own template version, so a user not yet migrated is walked
    without the tables a later version adds.
    """
    with db.transaction() as conn:
        record = registry.get_tenant(conn, user.username)
    if record is not None and record.state == "ready" and record.template_version is not None:
        tables = db.tables_for(user.username, record.template_version)
        for spec in per_user_tables():
            if spec.name in tables.tables:
                if not set(spec.columns) <= set(tables.tables[spec.name].c.keys()):
                    continue  # its encrypted columns come with a later version: none to seal
                if spec.version_column not in tables.tables[spec.name].c:
                    raise TablesNotMigrated(
                        f"{user.username}'s tables are at template version "
                        f"{record.template_version}, before row versions; run `pathfinder "
                        "tenants migrate` first"
                    )
                yield spec, tables.tables[spec.name], True
    for spec in shared_tables():
        yield spec, metadata.tables[spec.name], False


def _unit_of_work(
    db: Database, user: UserRef, per_user: bool
) -> AbstractContextManager[Connection]:
    if not per_user:
        return db.transaction()

    @contextmanager
    def tenant() -> Iterator[Connection]:
        with db.tenant_transaction(user.username) as (conn, _tables):
            yield conn

    return tenant()


def _owned(table: sa.Table, spec: EncryptedTable, user: UserRef) -> sa.ColumnElement[bool]:
    if spec.per_user or spec.user_column is None:
        return sa.true()
    return table.c[spec.user_column] == user.id


def _reseal_batch(
    conn: Connection,
    keys: DataKeyStore,
    user: UserRef,
    spec: EncryptedTable,
    table: sa.Table,
    target: int,
    ids: list[str],
) -> tuple[int, int]:
    """Re-encrypt the stale tokens of rows ``ids`` (locked first); returns (rows, values).

    A token is stale when it is not in the current format under ``target``. A row still at
    row version 0 (written before row versions) moves to version 1 with all its cells, so
    no ``pf1`` token opens in it afterwards; other rows keep their version.
    """
    id_col = table.c[spec.id_column]
    version_col = table.c[spec.version_column]
    columns = [table.c[c] for c in spec.columns]
    rows = conn.execute(
        sa.select(id_col, version_col, *columns)
        .where(id_col.in_(ids), _owned(table, spec, user))
        .with_for_update()
    ).all()
    cipher = FieldCipher(keys, conn)
    params: list[dict[str, Any]] = []
    values = 0
    for row in rows:
        mapping = row._mapping
        rid = str(mapping[spec.id_column])
        stored_version = int(mapping[spec.version_column] or LEGACY_ROW_VERSION)
        new_version = max(stored_version, FIRST_ROW_VERSION)
        new: dict[str, Any] = {"b_id": rid, "b_row_version": new_version}
        changed = False
        for column in spec.columns:
            token = mapping[column]
            new[f"b_{column}"] = token
            if token is None or (stored_version == new_version and is_current_token(token, target)):
                continue
            plain = cipher.decrypt_value(
                token,
                table=spec.name,
                column=column,
                row_id=rid,
                user_id=user.id,
                row_version=stored_version,
            )
            new[f"b_{column}"] = cipher.encrypt_value(
                plain,
                table=spec.name,
                column=column,
                row_id=rid,
                user_id=user.id,
                row_version=new_version,
                key_version=target,
            )
            changed = True
            values += 1
        if changed:
            params.append(new)
    if params:
        conn.execute(
            table.update()
            .where(id_col == sa.bindparam("b_id"))
            .values(
                {c: sa.bindparam(f"b_{c}") for c in spec.columns}
                | {spec.version_column: sa.bindparam("b_row_version")}
            ),
            params,
        )
    return len(params), values


def _reseal_table(
    db: Database,
    keys: DataKeyStore,
    user: UserRef,
    spec: EncryptedTable,
    table: sa.Table,
    per_user: bool,
    target: int,
    *,
    batch_size: int,
    budget: _BatchBudget,
    progress: Progress | None,
    result: DekRotation,
) -> bool:
    """Walk one table in id order, a committed batch at a time; False when out of budget."""
    id_col = table.c[spec.id_column]
    after: str | None = None
    while True:
        if budget.exhausted:
            return False
        with _unit_of_work(db, user, per_user) as conn:
            query = (
                sa.select(id_col)
                .where(_owned(table, spec, user), _stale(table, spec, target))
                .order_by(id_col)
                .limit(batch_size)
            )
            if after is not None:
                query = query.where(id_col > after)
            ids = [str(i) for i in conn.execute(query).scalars()]
            if not ids:
                return True
            rows, values = _reseal_batch(conn, keys, user, spec, table, target, ids)
        after = ids[-1]
        budget.used += 1
        result.batches += 1
        result.rows_resealed += rows
        result.values_resealed += values
        if progress is not None:
            progress(rows)


def stale_token_rows(db: Database, user: UserRef, target: int) -> dict[str, int]:
    """Rows of ``user`` per table that hold a token of a version other than ``target``."""
    counts: dict[str, int] = {}
    for spec, table, per_user in _user_tables(db, user):
        with _unit_of_work(db, user, per_user) as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(_owned(table, spec, user), _stale(table, spec, target))
            ).scalar_one()
        if count:
            counts[spec.name] = int(count)
    return counts


def token_version_counts(db: Database, user: UserRef, versions: list[int]) -> dict[int, int]:
    """How many stored values of ``user`` each key version sealed (which keys are in use)."""
    totals = dict.fromkeys(versions, 0)
    if not versions:
        return totals
    for spec, table, per_user in _user_tables(db, user):
        sums = [
            sa.func.sum(
                sa.case(
                    (
                        sa.or_(
                            table.c[col].like(f"{TOKEN_PREFIX}{v}.%"),
                            table.c[col].like(f"{LEGACY_TOKEN_PREFIX}{v}.%"),
                        ),
                        1,
                    ),
                    else_=0,
                )
            )
            for v in versions
            for col in spec.columns
        ]
        with _unit_of_work(db, user, per_user) as conn:
            row = conn.execute(
                sa.select(*sums).select_from(table).where(_owned(table, spec, user))
            ).one()
        for index, value in enumerate(row):
            totals[versions[index // len(spec.columns)]] += int(value or 0)
    return totals


def rotate_dek(
    db: Database,
    keys: DataKeyStore,
    user: UserRef,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    progress: Progress | None = None,
    audit: AuditHook | None = None,
) -> DekRotation:
    """Re-encrypt all of ``user``'s encrypted values under a new data-key version; resumable.

    Creates the new version (committed first, so the application seals with it from then
    on), re-seals every registered column of every row in batches, and retires the old
    versions once no token references them. Killed or stopped by ``max_batches``, it
    returns or dies with every value readable; the next call resumes to the same version.
    ``audit`` records the new version and the completion, each in the transaction that
    changes the key rows.
    """
    _check_batch_size(batch_size)
    budget = _BatchBudget(max_batches)
    target, created = rotation_target(db, keys, user, audit=audit)
    result = DekRotation(user=user, target_version=target, created_version=created)
    for _ in range(MAX_PASSES):
        for spec, table, per_user in _user_tables(db, user):
            finished = _reseal_table(
                db,
                keys,
                user,
                spec,
                table,
                per_user,
                target,
                batch_size=batch_size,
                budget=budget,
                progress=progress,
                result=result,
            )
            if not finished:
                result.remaining = sum(stale_token_rows(db, user, target).values())
                result.complete = result.remaining == 0
                if result.complete:
                    _retire(db, keys, user, target, result, audit)
                return result
        result.remaining = sum(stale_token_rows(db, user, target).values())
        if result.remaining == 0:
            break
    if result.remaining == 0:
        _retire(db, keys, user, target, result, audit)
        result.complete = True
    return result


def _retire(
    db: Database,
    keys: DataKeyStore,
    user: UserRef,
    target: int,
    result: DekRotation,
    audit: AuditHook | None,
) -> None:
    with db.transaction() as conn:
        result.retired_versions = keys.retire_versions_below(conn, user.id, target)
        if audit is not None and result.retired_versions:
            details = {
                "operation": "dek_rotation_completed",
                "key_version": target,
                "retired_versions": result.retired_versions,
                "values": result.values_resealed,
            }
            audit(conn, EVENT_KEY_ROTATED, user.id, details)


def users_due_for_rotation(
    db: Database, *, created_before: datetime, limit: int | None = None, after: str | None = None
) -> list[UserRef]:
    """Users whose current data key was made before ``created_before``, or mid-rotation.

    A fixed cut-off is what makes ``rotate-dek --all`` resumable: re-run with the same one,
    users already rotated (their new key is newer) are not rotated twice.
    """
    k = encryption_keys.c
    query = (
        sa.select(k.user_id, users.c.username)
        .join(users, users.c.id == k.user_id)
        .where(k.status == STATUS_ACTIVE)
        .group_by(k.user_id, users.c.username)
        .having(sa.or_(sa.func.count() > 1, sa.func.max(k.created_at) < created_before))
        .order_by(k.user_id)
    )
    if after is not None:
        query = query.where(k.user_id > after)
    if limit is not None:
        query = query.limit(limit)
    with db.transaction() as conn:
        return [UserRef(row.user_id, row.username) for row in conn.execute(query)]


@dataclass
class DueRotationReport:
    """The outcome of :func:`rotate_due_deks` over every due user."""

    rotations: list[DekRotation] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    stopped_early: bool = False


def rotate_due_deks(
    db: Database,
    keys: DataKeyStore,
    *,
    created_before: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    on_user: Callable[[UserRef, DekRotation | None, str | None], None] | None = None,
    audit: AuditHook | None = None,
) -> DueRotationReport:
    """Rotate every due user (see :func:`users_due_for_rotation`); the scheduled job's call.

    Goes on past a failing user (reported in ``failures``, left resumable), and shares
    ``max_batches`` across users so a job can bound its run time.
    """
    report = DueRotationReport()
    left = max_batches
    for user in users_due_for_rotation(db, created_before=created_before):
        if left is not None and left <= 0:
            report.stopped_early = True
            break
        try:
            rotation = rotate_dek(
                db, keys, user, batch_size=batch_size, max_batches=left, audit=audit
            )
        except Exception as exc:  # one user's failure must not stop the others
            message = str(exc) if isinstance(exc, CryptoError | UnknownUser) else repr(exc)
            report.failures[user.username] = message
            if on_user is not None:
                on_user(user, None, message)
            continue
        report.rotations.append(rotation)
        if left is not None:
            left -= rotation.batches
        if on_user is not None:
            on_user(user, rotation, None)
        if not rotation.complete:
            report.stopped_early = True
            break
    return report
