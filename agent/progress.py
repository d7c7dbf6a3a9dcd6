"""A progress indication for long operations (conformance, simulate).

On a terminal it is one line redrawn in place (carriage return, erase line) with a bar; elsewhere
(a pipe, a file, journald) it is plain lines, one per update, or one per `step` of the way when
updates come often (a ticking scenario clock).
"""

from __future__ import annotations

import sys
from typing import TextIO

BAR = 20
ERASE_LINE = "\r\033[K"


def bar(fraction: float, width: int = BAR) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class Progress:
    def __init__(
        self, stream: TextIO | None = None, *, tty: bool | None = None, step: float = 0.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.step = step
        self._last_step = -1
        self._open = False

    def update(self, done: float, total: float, text: str) -> None:
        fraction = done / total if total > 0 else 1.0
        if self.tty:
            self.stream.write(f"{ERASE_LINE}{bar(fraction)} {text}")
            self._open = True
        else:
            if self.step > 0:
                reached = int(fraction / self.step + 1e-9)
                if reached == self._last_step:
                    return
                self._last_step = reached
            self.stream.write(f"{text}\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line that stays (a failure, say), above the redrawn progress line."""
        prefix = ERASE_LINE if self._open else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()
        self._open = False

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
