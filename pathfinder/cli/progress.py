"""A progress line for long DBA commands: a bar with rate and ETA in a terminal, one count
line at the end when the output is piped or logged.

A migration over 100,000 users runs for minutes; in a terminal the DBA wants to see it move
and when it will end. Piped into a log, a redrawn bar is noise (``click.progressbar`` writes
its label and nothing else there), so the log gets one line that says what was done, how
fast, and how many failed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 28
REDRAW_SECONDS = 0.2


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Counts units of work done out of ``total`` and shows it on ``stream`` (stderr)."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "users",
        stream: TextIO | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    @property
    def rate(self) -> float:
        """Units per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, count: int, *, failed: int = 0) -> None:
        """Record ``count`` more units handled, ``failed`` of them failures."""
        self.done += count
        self.failed += failed
        if self.interactive:
            now = time.monotonic()
            if now - self._drawn >= REDRAW_SECONDS or self.done >= self.total:
                self._drawn = now
                self._draw()

    def _draw(self) -> None:
        share = self.done / self.total if self.total else 1.0
        filled = int(BAR_WIDTH * share)
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        failed = f", {self.failed} failed" if self.failed else ""
        line = (
            f"\r{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] "
            f"{self.done:,}/{self.total:,} {share:4.0%} {rate:,.0f} {self.unit}/s "
            f"ETA {_duration(eta)}{failed} "
        )
        self.stream.write(line)
        self.stream.flush()

    def finish(self) -> str:
        """End the bar (a newline in a terminal) and return the final count line."""
        elapsed = time.monotonic() - self.started
        if self.interactive and self.done:
            self.stream.write("\n")
            self.stream.flush()
        failed = f", {self.failed:,} failed" if self.failed else ""
        return (
            f"{self.label}: {self.done:,}/{self.total:,} {self.unit} in {_duration(elapsed)} "
            f"({self.rate:,.1f} {self.unit}/s){failed}"
        )
