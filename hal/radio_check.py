"""Is there a working radio at this path? Open it, read what it is and its network, close it.

Nothing is formed or written: a blank dongle is reported as having no network (the hub forms one
on its first start). The state directory's database is not opened either, so a check can run
beside a stopped service without touching its state. The whole check has one deadline; a cancelled
or timed-out check still closes the port and stops bellows' serial thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zigpy.exceptions

from hal.radio import RadioSettings, radio_class, zigpy_config


@dataclass
class RadioReport:
    path: str
    firmware: dict[str, Any] = field(default_factory=dict)
    formed: bool = False
    channel: int | None = None
    pan_id: str | None = None
    extended_pan_id: str | None = None
    ieee: str | None = None
    nwk: str | None = None

    def lines(self) -> list[str]:
        out = [f"radio:        {self.path}"]
        for key, value in self.firmware.items():
            out.append(f"{key + ':':<13} {value if value is not None else '-'}")
        out.append(f"network:      {'formed' if self.formed else 'none (formed on first start)'}")
        if self.formed:
            out += [
                f"channel:      {self.channel}",
                f"PAN id:       {self.pan_id}",
                f"ext. PAN id:  {self.extended_pan_id}",
                f"IEEE:         {self.ieee}",
                f"NWK:          {self.nwk}",
            ]
        return out


async def check_radio(settings: RadioSettings, *, deadline: float = 30.0) -> RadioReport:
    config = zigpy_config(settings, Path("."))
    config["database_path"] = None
    app = radio_class(settings.type)(config)
    report = RadioReport(path=settings.path or f"{settings.type}://")
    try:
        async with asyncio.timeout(deadline):
            await app.connect()
            firmware_info = getattr(app, "firmware_info", None)
            if firmware_info is not None:
                report.firmware = await firmware_info()
            else:
                report.firmware = {"stack": type(app).__name__}
            if settings.type == "ezsp":
                from hal.ezsp import EzspRadioApp, ncp_readiness

                assert isinstance(app, EzspRadioApp)
                report.firmware.update(await ncp_readiness(app))
            try:
                await app.load_network_info(load_devices=False)
            except zigpy.exceptions.NetworkNotFormed:
                return report
            network, node = app.state.network_info, app.state.node_info
            report.formed = True
            report.channel = int(network.channel)
            report.pan_id = f"0x{int(network.pan_id):04X}"
            report.extended_pan_id = str(network.extended_pan_id)
            report.ieee = str(node.ieee)
            report.nwk = f"0x{int(node.nwk):04X}"
            if node.version and "firmware" not in report.firmware:
                report.firmware["firmware"] = node.version
            return report
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(app.disconnect())
