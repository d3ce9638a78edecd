"""The Oracle branch of analytics retention: which partitions go, and the DDL it runs.

No Oracle server runs here, so the decision is tested on catalog rows as Oracle returns
them and the statement is compiled for the oracle dialect.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pathfinder.jobs.retention import DropPartition, partitions_to_drop
from pathfinder.schema.oracle_profile import oracle_dialect
from pathfinder.schema.shared.analytics import user_analytics


def test_only_whole_interval_partitions_before_the_cutoff_are_dropped() -> None:
    rows = [
        ("P_START", "TIMESTAMP' 2026-01-01 00:00:00'", "NO"),
        ("SYS_P101", "TIMESTAMP' 2026-01-02 00:00:00'", "YES"),
        ("SYS_P102", "TIMESTAMP' 2026-01-03 00:00:00'", "YES"),
        ("SYS_P103", "TIMESTAMP' 2026-01-04 00:00:00'", "YES"),
        ("SYS_P104", "garbled", "YES"),
    ]
    cutoff = datetime(2026, 1, 3, 6, 0, tzinfo=UTC)
    assert partitions_to_drop(rows, cutoff) == ["SYS_P101", "SYS_P102"]


def test_drop_partition_keeps_global_indexes_usable() -> None:
    sql = str(DropPartition(user_analytics, "SYS_P101").compile(dialect=oracle_dialect()))
    assert sql == ('ALTER TABLE pf_user_analytics DROP PARTITION "SYS_P101" UPDATE GLOBAL INDEXES')
