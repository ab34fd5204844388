"""A tiny stage-level progress bar, drawn on a terminal only."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Show ``[#####.....] 3/8 training adam (12.3 s, stage ETA ~40 s)`` on a TTY ``stream``.

    Parameters
    ----------
    total : int
        Number of stages.
    stream : text stream, optional
        Default ``sys.stderr``; nothing is written unless ``stream.isatty()``.
    width : int
        Bar width in characters.
    """

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 24) -> None:
        self.total = max(total, 1)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.done = 0
        self.start = time.perf_counter()
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def stage(self, label: str, expected: float | None = None) -> None:
        """Announce the stage now starting (advances the bar after the previous one).

        ``expected`` is the stage's estimated seconds, shown as its ETA when known.
        """
        self._draw(label if expected is None else f"{label}, stage ETA ~{expected:.0f} s")
        self.done = min(self.done + 1, self.total)

    def close(self) -> None:
        """Draw the full bar and end the line."""
        if self.enabled:
            self.done = self.total
            self._draw("done")
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, label: str) -> None:
        if not self.enabled:
            return
        filled = self.width * self.done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        line = f"[{bar}] {self.done}/{self.total} {label} ({elapsed:.1f} s elapsed)"
        self.stream.write("\r" + line[:100].ljust(100))
        self.stream.flush()
