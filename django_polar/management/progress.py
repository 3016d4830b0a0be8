"""Progress output for long management commands: a bar on a terminal, plain lines elsewhere.

A redrawn bar is unreadable in a log file or CI output, so when the stream is not a
terminal the reporter prints one plain line every ``interval`` seconds instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

BAR_WIDTH = 28


def _rate(done: int, elapsed: float) -> str:
    return f"{done / elapsed:,.0f}/s" if elapsed > 0 else "-/s"


class ProgressReporter:
    """Renders ``(label, done, total, counts)`` snapshots, throttled."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (0.1 if self.tty else 5.0)
        self._clock = clock
        self._last = -float("inf")
        self._drawn = False
        self._last_line = ""

    def update(
        self,
        label: str,
        done: int,
        total: int,
        elapsed: float,
        counts: dict[str, Any],
        *,
        final: bool = False,
    ) -> None:
        now = self._clock()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        detail = " ".join(f"{key}={value:,}" for key, value in counts.items() if value)
        if self.tty:
            share = min(1.0, done / total) if total else 1.0
            filled = int(BAR_WIDTH * share)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            line = (
                f"\r{label:<15} [{bar}] {done:,}/{total:,} {share:4.0%} "
                f"{_rate(done, elapsed)} {detail}"
            )
            self.stream.write(line.ljust(110)[:160])
            self._drawn = True
            if final:
                self.stream.write("\n")
                self._drawn = False
        else:
            # The closing snapshot of a kind repeats the last page's: print a kind's
            # "done/total" once, not once per caller.
            head = f"{label}: {done:,}/{total:,}"
            if final and self._last_line == head:
                return
            self._last_line = head
            self.stream.write(
                f"{head} in {elapsed:.1f}s ({_rate(done, elapsed)}) {detail}".rstrip() + "\n"
            )
        self.stream.flush()

    def close(self) -> None:
        """End a half-drawn bar line (e.g. after Ctrl-C)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
