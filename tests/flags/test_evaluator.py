"""The evaluator's precedence, step by step, and its cache (no database needed here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pathfinder.flags.evaluator import (
    FlagCache,
    FlagDefinition,
    GroupRule,
    OverrideRule,
    Snapshot,
    UserFacts,
    evaluate,
    rollout_bucket,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
EARLIER = NOW - timedelta(seconds=1)


def flag(**changes: object) -> FlagDefinition:
    values: dict[str, object] = {
        "id": "01J0000000000000000000FLAG",
        "key": "new_dashboard",
        "flag_type": "boolean",
        "default_value": False,
        "rollout_percentage": 0,
        "enabled": True,
        "is_system": False,
    }
    values.update(changes)
    return FlagDefinition(**values)  # type: ignore[arg-type]


def run(
    definition: FlagDefinition,
    *,
    user: OverrideRule | None = None,
    groups: list[GroupRule] | None = None,
    user_id: str | None = "01J00000000000000000000USR",
    now: datetime = NOW,
) -> tuple[object, str]:
    result = evaluate(
        definition, user_id=user_id, user_rule=user, group_rules=groups or [], now=now
    )
    return result.value, result.reason


def group(group_id: str, priority: int, value: object, expires_at: datetime | None = None):  # type: ignore[no-untyped-def]
    return GroupRule(group_id, priority, OverrideRule(value, expires_at))


def test_default_when_nothing_applies() -> None:
    assert run(flag()) == (False, "default")
    assert run(flag(default_value=True)) == (True, "default")


def test_user_override_beats_group_override_and_rollout() -> None:
    everything = flag(rollout_percentage=100)
    assert run(everything, user=OverrideRule(False), groups=[group("g1", 10, True)]) == (
        False,
        "user_override",
    )


def test_group_override_beats_rollout_and_default() -> None:
    assert run(flag(rollout_percentage=100), groups=[group("g1", 0, False)]) == (
        False,
        "group_override",
    )


def test_highest_group_priority_wins_whatever_the_order() -> None:
    rules = [group("g_low", 1, "low"), group("g_high", 50, "high"), group("g_mid", 10, "mid")]
    string_flag = flag(flag_type="string", default_value="none")
    assert run(string_flag, groups=rules) == ("high", "group_override")
    assert run(string_flag, groups=list(reversed(rules))) == ("high", "group_override")


def test_expired_user_override_falls_through_to_the_group() -> None:
    expired = OverrideRule(True, expires_at=EARLIER)
    assert run(flag(), user=expired, groups=[group("g", 0, "from-group")]) == (
        "from-group",
        "group_override",
    )
    # At the very instant of expiry it no longer applies; a moment before it does.
    at_expiry = OverrideRule(True, expires_at=NOW)
    assert run(flag(), user=at_expiry) == (False, "default")
    assert run(flag(), user=OverrideRule(True, expires_at=LATER)) == (True, "user_override")


def test_expired_group_override_is_skipped_for_a_lower_live_one() -> None:
    rules = [group("g_high", 50, "expired", expires_at=EARLIER), group("g_low", 1, "live")]
    assert run(flag(flag_type="string", default_value="d"), groups=rules) == (
        "live",
        "group_override",
    )
    assert run(flag(), groups=[group("g", 5, True, expires_at=EARLIER)]) == (False, "default")


def test_rollout_is_stable_and_close_to_its_percentage() -> None:
    rolled = flag(rollout_percentage=30)
    users = [f"01J{n:023d}" for n in range(2000)]
    first = [run(rolled, user_id=u) for u in users]
    assert first == [run(rolled, user_id=u) for u in users]  # no flipping between calls
    on = sum(1 for value, reason in first if value is True and reason == "rollout")
    assert 0.25 < on / len(users) < 0.35
    for user, (value, reason) in zip(users, first, strict=True):
        in_bucket = rollout_bucket("new_dashboard", user) < 30
        assert (value, reason) == ((True, "rollout") if in_bucket else (False, "default"))
    # The bucket depends on the flag key too: users are not always the same 30 %.
    other = [rollout_bucket("other_flag", u) < 30 for u in users]
    assert other != [rollout_bucket("new_dashboard", u) < 30 for u in users]


def test_rollout_edges_and_non_boolean_flags() -> None:
    user = "01J00000000000000000000USR"
    assert run(flag(rollout_percentage=0), user_id=user) == (False, "default")
    assert run(flag(rollout_percentage=100), user_id=user) == (True, "rollout")
    # No user, no bucket: an anonymous caller gets the default.
    assert run(flag(rollout_percentage=100), user_id=None) == (False, "default")
    # Percentage rollout is a boolean notion.
    assert run(flag(flag_type="string", default_value="a", rollout_percentage=100)) == (
        "a",
        "default",
    )


def test_disabled_or_inactive_flag_ignores_overrides() -> None:
    override = OverrideRule(True)
    assert run(flag(enabled=False), user=override) == (False, "disabled")
    assert run(flag(active_from=LATER), user=override) == (False, "inactive")
    assert run(flag(active_until=NOW), user=override) == (False, "inactive")
    assert run(flag(active_from=EARLIER, active_until=LATER), user=override) == (
        True,
        "user_override",
    )


def empty_snapshot(marker: str) -> Snapshot:
    return Snapshot(
        flags={marker: flag(key=marker)}, group_priority={}, default_group_id=None, group_rules={}
    )


def test_cache_serves_within_its_lifetime_and_reloads_after_invalidation() -> None:
    cache = FlagCache(ttl_seconds=60)
    loads: list[str] = []

    def loader(marker: str):  # type: ignore[no-untyped-def]
        def load() -> Snapshot:
            loads.append(marker)
            return empty_snapshot(marker)

        return load

    assert "a" in cache.snapshot(loader("a")).flags
    assert "a" in cache.snapshot(loader("b")).flags  # cached: the loader is not called
    assert loads == ["a"]
    cache.invalidate()
    assert "b" in cache.snapshot(loader("b")).flags
    assert loads == ["a", "b"]


def test_cache_with_no_lifetime_always_reads() -> None:
    cache = FlagCache(ttl_seconds=0)
    assert "a" in cache.snapshot(lambda: empty_snapshot("a")).flags
    assert "b" in cache.snapshot(lambda: empty_snapshot("b")).flags


def test_a_load_racing_an_invalidation_is_not_kept() -> None:
    cache = FlagCache(ttl_seconds=60)

    def stale_load() -> Snapshot:
        cache.invalidate()  # a writer commits while this reader is still loading
        return empty_snapshot("stale")

    assert "stale" in cache.snapshot(stale_load).flags
    assert "fresh" in cache.snapshot(lambda: empty_snapshot("fresh")).flags


def test_user_entries_are_bounded() -> None:
    cache = FlagCache(ttl_seconds=60, user_capacity=3)
    for n in range(5):
        cache.user_facts(f"u{n}", lambda: UserFacts(group_id=None))
    calls: list[str] = []
    cache.user_facts("u0", lambda: calls.append("reload") or UserFacts(group_id=None))  # type: ignore[func-returns-value]
    cache.user_facts("u4", lambda: calls.append("reload") or UserFacts(group_id=None))  # type: ignore[func-returns-value]
    assert calls == ["reload"]  # u0 was evicted, u4 was still there


@pytest.mark.parametrize("bad", [-5, 0])
def test_non_positive_lifetime_means_no_caching(bad: int) -> None:
    assert FlagCache(ttl_seconds=bad).ttl == 0
