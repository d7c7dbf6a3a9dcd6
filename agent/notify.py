"""sd_notify: telling systemd that the hub is ready, alive, or stopping.

The protocol (sd_notify(3)): newline-separated `KEY=VALUE` fields in one datagram to the AF_UNIX
socket named by `$NOTIFY_SOCKET`. A name starting with '@' is in the abstract namespace and is
addressed with a leading NUL byte. Without `$NOTIFY_SOCKET` (not under systemd, or not
Type=notify) every call is a no-op, so the same code runs in a terminal and under systemd.

`$WATCHDOG_USEC` is WatchdogSec= in microseconds; it applies to this process only when
`$WATCHDOG_PID` is unset or names this process (a child started by the hub must not ping for it).

Why not the `sdnotify` package: it connects once, swallows every error with a bare except and has
no watchdog helper. Why not python3-systemd: it needs the Debian package or a C build. This is
the same choice Zigbee2MQTT made (docs/gbcs-notes.md 9.2).

A failed send is logged once per failure kind and never raised: losing systemd's socket must not
take the hub down; systemd notices a missing watchdog ping on its own.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

LOGGER = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        name = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None
        if not name:
            self.address = None
        elif name.startswith("@"):
            self.address = b"\0" + name[1:].encode()
        elif name.startswith("/"):
            self.address = name
        else:
            LOGGER.warning("ignoring NOTIFY_SOCKET %r: neither a path nor an abstract name", name)
            self.address = None
        self.watchdog_usec = _watchdog_usec(env)
        self._failed: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of WatchdogSec), or None when no watchdog applies."""
        if self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2_000_000

    def notify(self, *fields: str) -> bool:
        """Send fields like 'READY=1' in one datagram; True when it was sent."""
        if self.address is None:
            return False
        for f in fields:
            if "=" not in f or "\n" in f:
                raise ValueError(f"sd_notify field must be KEY=VALUE on one line, got {f!r}")
        message = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:
            kind = type(exc).__name__
            if kind not in self._failed:
                self._failed.add(kind)
                LOGGER.warning("sd_notify to %r failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        LOGGER.warning("ignoring WATCHDOG_USEC=%r: not a whole number of microseconds", raw)
        return None
    return usec if usec > 0 else None
