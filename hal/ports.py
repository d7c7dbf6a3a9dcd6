"""Finding the dongle: serial ports, their stable /dev/serial/by-id names, and a stack guess.

The listing comes from pyserial's `serial.tools.list_ports`; this module only decorates each
port with the by-id symlink that points at it (a name that survives re-plugging and reboots, the
one a config should use) and a guess of the Zigbee stack from the USB vendor:product id. The
guess is only a guess: several makers ship the same USB-serial bridge (10C4:EA60 is a Silicon Labs
CP210x on both EZSP and Z-Stack sticks), so `han-agent radio check` is the real test.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from serial.tools.list_ports_common import ListPortInfo

BY_ID_DIR = Path("/dev/serial/by-id")


@dataclass(frozen=True)
class KnownDongle:
    name: str
    stack: str


# (vid, pid) -> what is usually behind it; the product string refines ambiguous bridges.
KNOWN_USB_IDS: dict[tuple[int, int], KnownDongle] = {
    (0x1A86, 0x55D4): KnownDongle("Sonoff ZBDongle-E (CH9102F)", "ezsp"),
    (0x10C4, 0xEA60): KnownDongle(
        "Silicon Labs CP210x (SkyConnect/ZBT-1, Sonoff ZBDongle-P, others)", "ezsp or znp"
    ),
    (0x1CF1, 0x0030): KnownDongle("dresden elektronik ConBee II", "deconz (not supported)"),
    (0x0451, 0x16A8): KnownDongle("Texas Instruments CC2531", "znp (not supported)"),
    (0x0451, 0xBEF3): KnownDongle(
        "Texas Instruments CC1352/CC2652 LaunchPad", "znp (not supported)"
    ),
    (0x1A86, 0x7523): KnownDongle("CH340 USB-serial bridge (various sticks)", "unknown"),
}

PRODUCT_HINTS: tuple[tuple[str, str, str], ...] = (
    # (substring of the USB product string, lower case) -> name, stack
    ("skyconnect", "Home Assistant SkyConnect", "ezsp"),
    ("zbt-1", "Home Assistant Connect ZBT-1", "ezsp"),
    ("zbdongle-e", "Sonoff ZBDongle-E", "ezsp"),
    ("dongle plus v2", "Sonoff ZBDongle-E", "ezsp"),
    ("zbdongle-p", "Sonoff ZBDongle-P", "znp (not supported)"),
    ("sonoff zigbee 3.0 usb dongle plus", "Sonoff ZBDongle-P", "znp (not supported)"),
)


@dataclass(frozen=True)
class Candidate:
    path: str
    by_id: str | None
    vid: int | None
    pid: int | None
    description: str
    product: str | None
    serial_number: str | None
    name: str
    stack: str

    @property
    def usb_id(self) -> str:
        return "-" if self.vid is None or self.pid is None else f"{self.vid:04X}:{self.pid:04X}"


def by_id_links(directory: Path = BY_ID_DIR) -> dict[str, str]:
    """Real device path -> its /dev/serial/by-id symlink (absent directory: none)."""
    links: dict[str, str] = {}
    try:
        entries = sorted(directory.iterdir())
    except FileNotFoundError:
        return links
    for entry in entries:
        if entry.is_symlink():
            links[os.path.realpath(entry)] = str(entry)
    return links


def resolve(path: str) -> str:
    """A by-id (or any) symlink's real device; URLs and plain paths come back unchanged."""
    if "://" in path:
        return path
    return os.path.realpath(path)


def guess(vid: int | None, pid: int | None, product: str | None) -> KnownDongle:
    text = (product or "").lower()
    for hint, name, stack in PRODUCT_HINTS:
        if hint in text:
            return KnownDongle(name, stack)
    if vid is not None and pid is not None and (vid, pid) in KNOWN_USB_IDS:
        return KNOWN_USB_IDS[(vid, pid)]
    return KnownDongle("unknown", "unknown")


def candidates(ports: Iterable[ListPortInfo], links: dict[str, str]) -> list[Candidate]:
    """Decorate pyserial's ports; USB ports first, then by path."""
    out = []
    for port in ports:
        known = guess(port.vid, port.pid, port.product)
        out.append(
            Candidate(
                path=port.device,
                by_id=links.get(os.path.realpath(port.device)),
                vid=port.vid,
                pid=port.pid,
                description=port.description,
                product=port.product,
                serial_number=port.serial_number,
                name=known.name,
                stack=known.stack,
            )
        )
    return sorted(out, key=lambda c: (c.vid is None, c.path))


def system_candidates() -> list[Candidate]:
    from serial.tools import list_ports

    return candidates(list_ports.comports(), by_id_links())
