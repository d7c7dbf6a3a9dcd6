"""open_radio(): the one way the agent gets a zigpy ControllerApplication.

Radios are plug-ins behind zigpy's application class, as in zigpy itself: "virtual" for the
in-memory radio with simulated devices, "ezsp" for a Silicon Labs dongle through bellows. Both
get the Smart Energy profile fix and an SE-profile endpoint for the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zigpy.application

HUB_ENDPOINT = {
    "endpoint": 1,
    "profile": 0x0109,
    "device_type": 0x0500,  # ESP / Communications Hub
    "input_clusters": [0x0000, 0x000A, 0x0019, 0x0700, 0x0703, 0x0704, 0x0800],
    "output_clusters": [0x0702, 0x0704, 0x0800],
}


@dataclass(frozen=True)
class RadioSettings:
    type: str = "virtual"
    path: str = ""
    baudrate: int = 115200
    flow_control: str | None = None
    channel: int = 15
    ieee: str = "00:db:12:34:56:78:90:a2"
    extra: dict[str, Any] = field(default_factory=dict)


def zigpy_config(settings: RadioSettings, state_dir: Path) -> dict[str, Any]:
    """The raw zigpy config dict (zigpy's schema is not idempotent: pass it raw, once)."""
    config: dict[str, Any] = {
        "device": {"path": settings.path or "virtual://"},
        "network": {"channel": settings.channel, "channels": [settings.channel]},
        "ota": {"enabled": False},  # the default providers fetch over HTTP
        "topology_scan_enabled": False,
        "database_path": str(state_dir / "zigbee.db"),
        "database_commit_interval": 1,
    }
    if settings.type == "virtual":
        config["watchdog_enabled"] = False
        config["virtual_ieee"] = settings.ieee
    else:
        config["device"]["baudrate"] = settings.baudrate
        config["device"]["flow_control"] = settings.flow_control
        config["additional_endpoints"] = [HUB_ENDPOINT]
    config.update(settings.extra)
    return config


def radio_class(kind: str) -> type[zigpy.application.ControllerApplication]:
    if kind == "virtual":
        from hal.virtual import VirtualRadioApp

        return VirtualRadioApp
    if kind == "ezsp":
        from hal.ezsp import EzspRadioApp

        return EzspRadioApp
    raise ValueError(f"unknown radio type {kind!r} (expected 'virtual' or 'ezsp')")


async def open_radio(
    settings: RadioSettings, state_dir: Path
) -> zigpy.application.ControllerApplication:
    """Open the radio, form or restore the network, and return the running application."""
    cls = radio_class(settings.type)
    return await cls.new(zigpy_config(settings, state_dir), auto_form=True, start_radio=True)
