"""Logging for a headless hub: one line per event on stderr, read by journald or a terminal.

Two formats:

* `journal` (the default): `<P>LEVEL logger: message`, where `<P>` is the syslog priority
  (debug 7, info 6, warning 4, error 3, critical 2). journald strips the prefix and files the
  line at that priority (SyslogLevelPrefix=, on by default), so `journalctl -p warning` works.
* `json`: one JSON object per line with ts, level, priority, logger, msg (and exc).

Either way an event is exactly one line: newlines inside a message or a traceback are written
as the two characters `\\n`, since journald would otherwise file each line as its own entry.

No meter data in logs in restricted mode. The hub's own log calls never carry frame bytes or
payload values (hub.py logs a malformed frame by length and offset only when restricted).
As a second line of defence, while `restricted()` returns True, every record is passed through
`redact`, which replaces bytes literals (b'...', bytearray(...)) and runs of 24 or more hex
digits (longer than any EUI-64 or code) with `<redacted>`: zigpy and bellows put packet
bytes in their debug and some warning messages in exactly those shapes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

FORMATS = ("journal", "json")
LEVELS = ("debug", "info", "warning", "error")

# zigpy is chatty at INFO about every interview step; the hub logs what matters.
NOISY = ("zigpy", "bellows", "aiosqlite")
# paho warns "There are N pending publish calls" for every publish made while others await
# their PUBACK, which is the uplink's normal pipelining: one line per frame under load.
QUIET = ("mqtt",)

_BYTES = re.compile(
    r"""b(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|bytearray\([^)]*\)|(?:0x)?[0-9A-Fa-f]{24,}"""
)


def redact(text: str) -> str:
    return _BYTES.sub("<redacted>", text)


def syslog_priority(levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", "\\n")


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str, restricted: Callable[[], bool]) -> None:
        super().__init__()
        self.kind = fmt
        self.restricted = restricted

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        exc = self.formatException(record.exc_info) if record.exc_info else ""
        if record.stack_info:
            exc = f"{exc}\n{record.stack_info}" if exc else record.stack_info
        if self.restricted():
            message, exc = redact(message), redact(exc)
        if self.kind == "json":
            out: dict[str, object] = {
                "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname.lower(),
                "priority": syslog_priority(record.levelno),
                "logger": record.name,
                "msg": message,
            }
            if exc:
                out["exc"] = exc
            return json.dumps(out, ensure_ascii=False)  # json.dumps escapes newlines itself
        line = f"<{syslog_priority(record.levelno)}>{record.levelname} {record.name}: {message}"
        if exc:
            line = f"{line}\n{exc}"
        return _one_line(line)


class LogControl:
    """What run.py keeps to change logging later: SIGHUP sets a new level."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.restricted: Callable[[], bool] = lambda: True

    def set_level(self, level: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
        root = logging.getLogger()
        root.setLevel(getattr(logging, level.upper()))
        for noisy in NOISY:
            logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
        for quiet in QUIET:
            logging.getLogger(quiet).setLevel(max(logging.ERROR, root.level))

    def set_restricted(self, predicate: Callable[[], bool]) -> None:
        """Where to ask whether the hub is in restricted mode (until set: assume it is)."""
        self.restricted = predicate


def setup_logging(level: str, fmt: str = "journal", stream: TextIO | None = None) -> LogControl:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    control = LogControl(handler)
    handler.setFormatter(_Formatter(fmt, lambda: control.restricted()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    control.set_level(level)
    return control


class RepeatLimiter:
    """At most one log line per key every `interval` seconds.

    A WAN client can send the same bad request thousands of times a second; one traceback or
    warning each would fill the journal (and an SD card) with one message. The first line for a
    key is written; repeats within `interval` are counted, and the next line written for that
    key can say how many were left out (`suppressed`). Keys are few by construction (a topic
    and a reason class); the table is bounded all the same.
    """

    MAX_KEYS = 1024

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] | None = None) -> None:
        import time

        self.interval = interval
        self.clock = clock or time.monotonic
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        if len(self._last) >= self.MAX_KEYS and key not in self._last:
            self._last.clear()
            self._suppressed.clear()
        self._last[key] = now
        return True

    def warn_refusal(self, logger: logging.Logger, what: str, reason: str) -> None:
        """`refused <what>: <reason>` at warning level, once per interval for the same refusal
        (keyed by `what` and the start of `reason`), with how many like it were left out."""
        key = f"{what} {reason[:48]}"
        if self.allow(key):
            repeats = self.suppressed(key)
            more = f" ({repeats} more like it not logged)" if repeats else ""
            logger.warning("refused %s: %s%s", what, reason, more)

    def suppressed(self, key: str) -> int:
        """How many lines for `key` were left out since the last one written; resets it."""
        return self._suppressed.pop(key, 0)
