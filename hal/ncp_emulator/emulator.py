"""One emulated EZSP dongle: the stack, its EZSP server and the pty it is plugged in on."""

from __future__ import annotations

import logging
from pathlib import Path

from hal.ncp_emulator.ezsp_server import EzspServer
from hal.ncp_emulator.firmware import NcpFirmware
from hal.ncp_emulator.link import NcpAshProtocol, PtyLink
from hal.sim.base import SimDevice

LOGGER = logging.getLogger(__name__)

DEFAULT_EUI64 = "00:db:12:34:56:78:90:a2"  # the lab hub's CHF EUI-64 (config/lab-virtual.toml)


class NcpEmulator:
    """An EZSP NCP on a pty. `plug()` opens the pty (publishing its slave at `link_path`),
    `unplug()` pulls the dongle (the NVRAM and the devices on the air stay), `plug()` again
    plugs it back in on a new pty behind the same name."""

    def __init__(self, link_path: Path | str | None = None, *, eui64: str = DEFAULT_EUI64) -> None:
        self.link_path = Path(link_path) if link_path is not None else None
        self.server = EzspServer()
        self.firmware = NcpFirmware(self.server, eui64)
        self.link: PtyLink | None = None
        self.plugged_count = 0

    @property
    def path(self) -> str:
        if self.link is None:
            raise RuntimeError("the emulated NCP is not plugged in")
        return self.link.path

    def plug(self) -> str:
        """Open a fresh pty (a power-on: the NCP starts from reset) and return its path."""
        if self.link is not None:
            raise RuntimeError("the emulated NCP is already plugged in")
        self.firmware.ram_reset()
        protocol = NcpAshProtocol(self.server, on_reset=self.server.ncp_reset)
        self.link = PtyLink(protocol, self.link_path)
        self.plugged_count += 1
        LOGGER.info("NCP emulator: EZSP v13 NCP on %s (%s)", self.link.path, self.link.slave_path)
        return self.link.path

    def unplug(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            link.close()
            LOGGER.info("NCP emulator: dongle pulled from %s", link.path)

    def replug(self) -> None:
        """Plug the pulled dongle back in (a no-op when it is in)."""
        if self.link is None:
            self.plug()

    def attach(self, sim: SimDevice, install_code: bytes | None = None) -> str:
        """A simulated device tries to join; the trust centre's answer ("joined" or why not)."""
        return self.firmware.join(sim, install_code)

    def close(self) -> None:
        self.unplug()

    def command_counts(self) -> dict[str, int]:
        return dict(sorted(self.server.counts.items()))
