"""The progress line of long DBA commands: a bar in a terminal, a count line in a pipe."""

from __future__ import annotations

import io

from pathfinder.cli.progress import Progress


def test_a_terminal_gets_a_bar_with_rate_and_eta() -> None:
    stream = io.StringIO()
    progress = Progress("Migrating", 200, stream=stream, interactive=True)
    progress.advance(100)
    progress.advance(100, failed=2)
    line = progress.finish()

    drawn = stream.getvalue()
    assert "\r" in drawn and "[####" in drawn
    assert "users/s" in drawn and "ETA" in drawn and "2 failed" in drawn
    assert drawn.endswith("\n")
    assert line.startswith("Migrating: 200/200 users in ") and line.endswith(", 2 failed")


def test_a_pipe_gets_nothing_until_the_count_line() -> None:
    stream = io.StringIO()
    progress = Progress("Migrating", 3, stream=stream, interactive=False)
    progress.advance(3)

    assert stream.getvalue() == ""
    assert "3/3 users in" in progress.finish()
