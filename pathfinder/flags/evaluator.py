"""The one feature-flag evaluator, and the per-process cache that keeps it cheap.

Precedence, fixed here and nowhere else (the original had two engines that disagreed):

1. the flag is switched off (``enabled`` false) or outside its active window: its default
   (reasons ``disabled`` / ``inactive``); no override or rollout applies;
2. the user's own override, unless expired (``user_override``);
3. an unexpired override of one of the user's groups, the group with the highest priority
   winning (``group_override``). A user's groups are their ``feature_group_id`` and the
   default group: every user is in the default group, so an override there is the
   "everyone" setting that a more specific group with a higher priority beats;
4. percentage rollout, for boolean flags only: ``True`` when the user's bucket (a stable
   SHA-256 of flag key and user id, 0..99) is below ``rollout_percentage``, so a user's
   answer never flips between requests or processes (``rollout``);
5. the flag's ``default_value`` (``default``).

Expiry is checked at evaluation time against the clock, never at load time, so an override
stops applying the instant it expires even while the cache still holds it.

Caching: flag definitions, groups and group overrides are one snapshot; each user's own
overrides and group are a small entry in a bounded LRU. Both are per process and per
database engine, and live for ``FLAG_CACHE_SECONDS`` (default 5). A change made through this
package invalidates this process's cache when it commits; other processes see it when their
entries age out, so a value is stale for at most ``FLAG_CACHE_SECONDS`` across workers.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.engine import Connection, Engine

from pathfinder.schema.shared.flags import feature_flags, user_feature_flags
from pathfinder.schema.shared.identity import user_groups, users

DEFAULT_CACHE_SECONDS = 5.0
USER_CACHE_SIZE = 4096
REASONS = ("disabled", "inactive", "user_override", "group_override", "rollout", "default")

T = TypeVar("T")


@dataclass(frozen=True)
class FlagDefinition:
    """A flag as the evaluator needs it."""

    id: str
    key: str
    flag_type: str
    default_value: Any
    rollout_percentage: int
    enabled: bool
    is_system: bool
    active_from: datetime | None = None
    active_until: datetime | None = None


@dataclass(frozen=True)
class OverrideRule:
    """One override's value and optional expiry."""

    value: Any
    expires_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class GroupRule:
    """A group override with the priority of its group (higher wins)."""

    group_id: str
    priority: int
    rule: OverrideRule


@dataclass(frozen=True)
class Evaluation:
    """A flag's value for one caller and why it has that value."""

    key: str
    value: Any
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "reason": self.reason}


def rollout_bucket(flag_key: str, user_id: str) -> int:
    """The user's bucket 0..99 for ``flag_key``: stable across requests and processes."""
    digest = hashlib.sha256(f"{flag_key}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def evaluate(
    flag: FlagDefinition,
    *,
    user_id: str | None,
    user_rule: OverrideRule | None,
    group_rules: Sequence[GroupRule],
    now: datetime,
) -> Evaluation:
    """Apply the precedence of the module docstring to one flag (pure: no I/O)."""
    if not flag.enabled:
        return Evaluation(flag.key, flag.default_value, "disabled")
    if (flag.active_from is not None and now < flag.active_from) or (
        flag.active_until is not None and now >= flag.active_until
    ):
        return Evaluation(flag.key, flag.default_value, "inactive")
    if user_rule is not None and user_rule.live(now):
        return Evaluation(flag.key, user_rule.value, "user_override")
    live = [g for g in group_rules if g.rule.live(now)]
    if live:
        # Highest priority wins; the group id breaks a tie so the answer is deterministic.
        best = max(live, key=lambda g: (g.priority, g.group_id))
        return Evaluation(flag.key, best.rule.value, "group_override")
    if (
        user_id is not None
        and flag.flag_type == "boolean"
        and flag.rollout_percentage > 0
        and rollout_bucket(flag.key, user_id) < flag.rollout_percentage
    ):
        return Evaluation(flag.key, True, "rollout")
    return Evaluation(flag.key, flag.default_value, "default")


# -- what the cache holds -----------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every flag, every group and every group override, loaded together."""

    flags: Mapping[str, FlagDefinition]
    group_priority: Mapping[str, int]
    default_group_id: str | None
    # flag id -> group id -> rule
    group_rules: Mapping[str, Mapping[str, OverrideRule]]


@dataclass(frozen=True)
class UserFacts:
    """What evaluation needs about one user: their group and their own overrides."""

    group_id: str | None
    rules: Mapping[str, OverrideRule] = field(default_factory=dict)


def load_snapshot(conn: Connection) -> Snapshot:
    """Read flags, groups and group overrides (three small queries)."""
    f = feature_flags.c
    flags = {
        row.flag_key: FlagDefinition(
            id=row.id,
            key=row.flag_key,
            flag_type=row.flag_type,
            default_value=row.default_value,
            rollout_percentage=int(row.rollout_percentage),
            enabled=bool(row.enabled),
            is_system=bool(row.is_system),
            active_from=row.active_from,
            active_until=row.active_until,
        )
        for row in conn.execute(sa.select(feature_flags).order_by(f.flag_key))
    }
    groups = conn.execute(
        sa.select(user_groups.c.id, user_groups.c.priority, user_groups.c.is_default)
    ).all()
    defaults = sorted(row.id for row in groups if row.is_default)
    o = user_feature_flags.c
    rules: dict[str, dict[str, OverrideRule]] = {}
    for row in conn.execute(
        sa.select(o.flag_id, o.group_id, o.value, o.expires_at).where(o.group_id.is_not(None))
    ):
        rules.setdefault(row.flag_id, {})[row.group_id] = OverrideRule(row.value, row.expires_at)
    return Snapshot(
        flags=flags,
        group_priority={row.id: int(row.priority) for row in groups},
        default_group_id=defaults[0] if defaults else None,
        group_rules=rules,
    )


def load_user_facts(conn: Connection, user_id: str) -> UserFacts:
    """Read one user's group and own overrides (two indexed queries)."""
    group_id = conn.execute(
        sa.select(users.c.feature_group_id).where(users.c.id == user_id)
    ).scalar()
    o = user_feature_flags.c
    rules = {
        row.flag_id: OverrideRule(row.value, row.expires_at)
        for row in conn.execute(
            sa.select(o.flag_id, o.value, o.expires_at).where(o.user_id == user_id)
        )
    }
    return UserFacts(group_id=group_id, rules=rules)


class FlagCache:
    """Per-process cache of one database's flags, with a time bound and invalidation.

    A load that began before an invalidation is not stored (the generation check), so a
    reader racing a writer cannot put the old value back for a whole lifetime.
    """

    def __init__(self, ttl_seconds: float, user_capacity: int = USER_CACHE_SIZE) -> None:
        self.ttl = max(0.0, float(ttl_seconds))
        self.user_capacity = user_capacity
        self._lock = threading.Lock()
        self._generation = 0
        self._snapshot: tuple[float, Snapshot] | None = None
        self._users: OrderedDict[str, tuple[float, UserFacts]] = OrderedDict()

    def invalidate(self) -> None:
        """Forget everything; the next evaluation reads the database."""
        with self._lock:
            self._generation += 1
            self._snapshot = None
            self._users.clear()

    def snapshot(self, load: Callable[[], Snapshot]) -> Snapshot:
        now = time.monotonic()
        with self._lock:
            cached = self._snapshot
            generation = self._generation
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        fresh = load()
        with self._lock:
            if generation == self._generation and self.ttl > 0:
                self._snapshot = (now, fresh)
        return fresh

    def user_facts(self, user_id: str, load: Callable[[], UserFacts]) -> UserFacts:
        now = time.monotonic()
        with self._lock:
            cached = self._users.get(user_id)
            generation = self._generation
            if cached is not None and now - cached[0] < self.ttl:
                self._users.move_to_end(user_id)
                return cached[1]
        fresh = load()
        with self._lock:
            if generation == self._generation and self.ttl > 0:
                self._users[user_id] = (now, fresh)
                self._users.move_to_end(user_id)
                while len(self._users) > self.user_capacity:
                    self._users.popitem(last=False)
        return fresh


_caches: weakref.WeakKeyDictionary[Engine, FlagCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> FlagCache:
    """The flag cache of ``engine`` (one per database per process)."""
    cache = _caches.get(engine)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(engine)
            if cache is None:
                ttl = DEFAULT_CACHE_SECONDS
                if has_app_context():
                    ttl = float(current_app.config.get("FLAG_CACHE_SECONDS", ttl))
                cache = FlagCache(ttl)
                _caches[engine] = cache
    return cache


def invalidate_on_commit(conn: Connection) -> None:
    """Invalidate this process's cache now and again when ``conn``'s transaction ends.

    Called by every writer of flags, overrides, groups or group membership. The second
    invalidation (on commit or rollback) removes anything a concurrent reader loaded while
    the change was uncommitted.
    """
    cache = cache_for(conn.engine)
    cache.invalidate()

    def _after(_conn: Connection) -> None:
        cache.invalidate()

    sa.event.listen(conn, "commit", _after, once=True)
    sa.event.listen(conn, "rollback", _after, once=True)


# -- evaluating ---------------------------------------------------------------------------

ConnectionSource = Callable[[], AbstractContextManager[Connection]]


def _read(source: ConnectionSource, reader: Callable[[Connection], T]) -> Callable[[], T]:
    def load() -> T:
        with source() as conn:
            return reader(conn)

    return load


def _groups_of(snapshot: Snapshot, facts: UserFacts | None) -> list[str]:
    groups = [] if facts is None or facts.group_id is None else [facts.group_id]
    if snapshot.default_group_id is not None and snapshot.default_group_id not in groups:
        groups.append(snapshot.default_group_id)
    return [g for g in groups if g in snapshot.group_priority]


def _evaluate_all(
    snapshot: Snapshot, facts: UserFacts | None, user_id: str | None, now: datetime
) -> Iterator[Evaluation]:
    groups = _groups_of(snapshot, facts)
    for flag in snapshot.flags.values():
        by_group = snapshot.group_rules.get(flag.id, {})
        group_rules = [
            GroupRule(g, snapshot.group_priority[g], by_group[g]) for g in groups if g in by_group
        ]
        yield evaluate(
            flag,
            user_id=user_id,
            user_rule=facts.rules.get(flag.id) if facts is not None else None,
            group_rules=group_rules,
            now=now,
        )


class FlagEvaluator:
    """Evaluates flags for one database, reading through the cache.

    ``source`` opens a connection only when the cache must be refilled, so a warm cache
    costs no database round trip (the maintenance check runs on every request).
    """

    def __init__(self, engine: Engine, source: ConnectionSource) -> None:
        self.cache = cache_for(engine)
        self.source = source

    def _facts(self, user_id: str | None) -> UserFacts | None:
        if user_id is None:
            return None
        return self.cache.user_facts(
            user_id, _read(self.source, lambda c: load_user_facts(c, user_id))
        )

    def all(self, user_id: str | None = None, now: datetime | None = None) -> list[Evaluation]:
        """Every flag's value for ``user_id`` (None: an anonymous caller / the platform)."""
        snapshot = self.cache.snapshot(_read(self.source, load_snapshot))
        return list(
            _evaluate_all(snapshot, self._facts(user_id), user_id, now or datetime.now(UTC))
        )

    def one(
        self, key: str, user_id: str | None = None, now: datetime | None = None
    ) -> Evaluation | None:
        """One flag's value for ``user_id``; None when no such flag exists."""
        snapshot = self.cache.snapshot(_read(self.source, load_snapshot))
        flag = snapshot.flags.get(key)
        if flag is None:
            return None
        single = Snapshot(
            {key: flag}, snapshot.group_priority, snapshot.default_group_id, snapshot.group_rules
        )
        return next(_evaluate_all(single, self._facts(user_id), user_id, now or datetime.now(UTC)))


def evaluator_for_connection(conn: Connection) -> FlagEvaluator:
    """An evaluator that refills the cache through ``conn`` (inside the caller's unit)."""
    return FlagEvaluator(conn.engine, lambda: nullcontext(conn))


def evaluator_for_engine(engine: Engine) -> FlagEvaluator:
    """An evaluator that opens a short read-only connection only when the cache is cold."""
    return FlagEvaluator(engine, lambda: _short_read(engine))


@contextmanager
def _short_read(engine: Engine) -> Iterator[Connection]:
    """A pooled connection for reads; closing it rolls back its implicit transaction."""
    with engine.connect() as conn:
        yield conn
