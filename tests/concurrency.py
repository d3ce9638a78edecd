"""Running one piece of work in several threads at once, for the race tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_at_once(work: Callable[[], T], threads: int, *, timeout: float = 60) -> list[T]:
    """Start ``work`` in ``threads`` threads released together by a barrier; their results.

    Every thread is joined before anything is reported, so a failing thread never leaves
    another still writing while the test reads. The first error any thread raised is raised
    here (the others are chained as its notes); a thread still running after ``timeout``
    seconds fails the test.
    """
    start = threading.Barrier(threads)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            start.wait(timeout)
            result = work()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(result)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout)
    stuck = sum(worker.is_alive() for worker in workers)
    if stuck:
        raise AssertionError(f"{stuck} of {threads} threads still running after {timeout} s")
    if errors:
        first = errors[0]
        for other in errors[1:]:
            first.add_note(f"another thread raised: {other!r}")
        raise first
    return results
