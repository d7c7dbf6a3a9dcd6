"""The live terminal view: one line per decision, so a lab sees what the hub does as it does it.

The lines are a table under a header row (HEADER), repeated every HEADER_EVERY rows so a
scrolled terminal or a log file still says which column is which. A decision's reason is the
policy's: where a rule departs from its category's summary (a billing-data critical alert held
back, a clock set let down as hub management) the reason names the exception.
Colour only on a terminal; plain lines otherwise (journald, pipes, files).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from agent.policy import Decision
from gbcs.codes import message_code_info
from gbcs.frame import Frame

GREEN = "\033[32m"
RED = "\033[31m"
YELLOW = "\033[33m"
DIM = "\033[2m"
RESET = "\033[0m"


HEADER = (
    f"{'time':<8} {'dir':<4} {'device':<16} {'kind':<8} {'code':<6} {'use':<7} {'alert':<6} "
    f"{'category':<14} {'verdict':<9} reason"
)
HEADER_EVERY = 50


class LiveView:
    header_every = HEADER_EVERY

    def __init__(self, stream: TextIO | None = None, color: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.color = self.stream.isatty() if color is None else color
        self._rows = 0

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{RESET}" if self.color else text

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _row(self, line: str) -> None:
        """A table row, under a header at the first row and every `header_every` rows."""
        if self.header_every and self._rows % self.header_every == 0:
            self._write(self._paint(HEADER, DIM))
        self._rows += 1
        self._write(line)

    def decision(self, direction: str, device: bytes, frame: Frame, decision: Decision) -> None:
        info = message_code_info(frame.message_code)
        use_case = info.use_case if info is not None and info.use_case else "-"
        alert = f"0x{frame.alert_code:04X}" if frame.alert_code is not None else "-"
        verdict = (
            self._paint("FORWARDED", GREEN) if decision.forwarded else self._paint("BLOCKED  ", RED)
        )
        arrow = "up  " if direction == "upstream" else "down"
        self._row(
            f"{datetime.now():%H:%M:%S} {arrow} {device.hex().upper()} "
            f"{frame.cra.label:<8} 0x{frame.message_code:04X} {use_case:<7} {alert:<6} "
            f"{decision.category.value:<14} {verdict} {self._paint(decision.reason, DIM)}"
        )

    def malformed(self, device: bytes, reason: str) -> None:
        self._row(
            f"{datetime.now():%H:%M:%S} up   {device.hex().upper()} "
            f"{self._paint('DROPPED  ', YELLOW)} {reason}"
        )

    def refused(self, request_id: str, reason: str) -> None:
        self._row(
            f"{datetime.now():%H:%M:%S} down request {request_id} "
            f"{self._paint('REFUSED  ', YELLOW)} {reason}"
        )

    def event(self, text: str) -> None:
        self._write(f"{datetime.now():%H:%M:%S} {self._paint(text, DIM)}")


class ForwardingView(LiveView):
    """A view hook that passes every call on to the view that was there (or none): the base of
    hooks that record what the hub decided (scenarios, conformance) without changing what the
    lab sees."""

    def __init__(self, inner: LiveView | None) -> None:
        self.inner = inner

    def decision(self, direction: str, device: bytes, frame: Frame, decision: Decision) -> None:
        if self.inner is not None:
            self.inner.decision(direction, device, frame, decision)

    def malformed(self, device: bytes, reason: str) -> None:
        if self.inner is not None:
            self.inner.malformed(device, reason)

    def refused(self, request_id: str, reason: str) -> None:
        if self.inner is not None:
            self.inner.refused(request_id, reason)

    def event(self, text: str) -> None:
        if self.inner is not None:
            self.inner.event(text)
