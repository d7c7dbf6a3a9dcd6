"""Named virtual dongles: what outlives one application object, so a lost radio can come back.

A real dongle keeps its network in NVRAM and its HAN devices stay on the air while the host
reconnects; a `VirtualRadioApp` object does not survive a reconnect (the radio supervisor builds
a new application each time, as Home Assistant's ZHA does). A virtual radio whose path names a
dongle, `virtual://NAME`, keeps its stored network and its simulated devices here, keyed by the
path; the plain `virtual://` (the lab default) has no named dongle and behaves as before.

Simulating a lost dongle (the documented test and lab hook): `unplug(path)` marks the dongle
gone and calls zigpy's own `ControllerApplication.connection_lost` on the application that has
it open, with the `FileNotFoundError` serialx raises for a missing port, which is the path
bellows takes when a USB dongle is pulled. While unplugged, opening it raises the same
`FileNotFoundError` a missing /dev path does. `replug(path)` makes it openable again.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hal.virtual import VirtualRadioApp

SCHEME = "virtual://"


@dataclass
class VirtualDongle:
    path: str
    plugged: bool = True
    network: tuple[Any, Any] | None = None
    sims: dict[Any, Any] = field(default_factory=dict)
    app: VirtualRadioApp | None = None
    opened: int = 0

    def missing(self) -> FileNotFoundError:
        return FileNotFoundError(errno.ENOENT, "No such file or directory", self.path)


DONGLES: dict[str, VirtualDongle] = {}


def named(path: str) -> VirtualDongle | None:
    """The dongle for `virtual://NAME` (created on first use); None for plain `virtual://`."""
    if not path.startswith(SCHEME) or path == SCHEME:
        return None
    return DONGLES.setdefault(path, VirtualDongle(path))


def unplug(path: str, exc: Exception | None = None) -> None:
    """Pull the dongle: the open application hears zigpy's connection_lost."""
    dongle = DONGLES[path]
    dongle.plugged = False
    app, dongle.app = dongle.app, None
    if app is not None:
        app.dongle_lost()
        app.connection_lost(exc if exc is not None else dongle.missing())


def replug(path: str) -> None:
    DONGLES[path].plugged = True


def forget(path: str) -> None:
    """Drop a dongle (tests clean up after themselves)."""
    DONGLES.pop(path, None)
