"""Run a migration's batches one after another or on several workers, reporting each.

``tenants migrate --jobs N`` hands batches of users to N threads. Each thread works on a
connection of its own and holds only its own batch's locks, so workers never wait on each
other for a user; on PostgreSQL the DDL runs in the server's processes, so threads are
enough to keep N backends busy. A failed batch never stops the others: its users come
back as failures, and the run reports them at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from pathfinder.provisioning.migrate import UserMigration

Work = Callable[[list[str]], list[UserMigration]]


def batched(names: Sequence[str], size: int) -> Iterator[list[str]]:
    """``names`` in consecutive batches of at most ``size``."""
    for start in range(0, len(names), size):
        yield list(names[start : start + size])


def run_batches(
    names: Sequence[str],
    work: Work,
    *,
    batch_size: int,
    jobs: int = 1,
    on_batch: Callable[[list[UserMigration]], None] | None = None,
) -> list[UserMigration]:
    """Call ``work`` on each batch of ``names``, at most ``jobs`` at once; every outcome.

    At most ``2 * jobs`` batches are queued at a time, so stopping the run (Ctrl-C) leaves
    little started work behind, and every batch not started is simply pending next time.
    """
    outcomes: list[UserMigration] = []

    def finished(batch: list[str], result: list[UserMigration]) -> None:
        outcomes.extend(result)
        if on_batch is not None:
            on_batch(result)

    if jobs <= 1:
        for batch in batched(names, batch_size):
            finished(batch, _guarded(work, batch))
        return outcomes
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="migrate") as pool:
        running: dict[Future[list[UserMigration]], list[str]] = {}
        for batch in batched(names, batch_size):
            if len(running) >= 2 * jobs:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(running.pop(future), future.result())
            running[pool.submit(_guarded, work, batch)] = batch
        for future in list(running):
            finished(running.pop(future), future.result())
    return outcomes


def _guarded(work: Work, batch: list[str]) -> list[UserMigration]:
    """A batch whose work raised (the database went away) fails as a whole, alone."""
    try:
        return work(batch)
    except Exception as exc:
        message = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        return [UserMigration(name, "failed", None, None, 0, message[:1000]) for name in batch]
