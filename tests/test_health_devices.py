"""Health's per-device state on the real radio path: heard is anything zigpy hears from the
device, and a meter that refuses the hub's tunnel is a fault, not a quiet meter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from conftest import Broker, write_config
from test_e2e import running_hub

from agent.config import load_config
from agent.hub import Hub
from agent.lab import LAB_INSTALL_CODE
from hal.sim.esme import SimEsme
from hal.tunneling import TunnelStatus
from hal.virtual import VirtualRadioApp


async def until(condition: Callable[[], object], what: str) -> None:
    """Poll (up to 10 s) state that has no change event."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"waited 10 s for {what}")


def device_health(hub: Hub, eui64: bytes) -> dict[str, object]:
    devices = hub.health_snapshot()["devices"]
    assert isinstance(devices, dict)
    entry = devices[eui64.hex().upper()]
    assert isinstance(entry, dict)
    return entry


async def test_an_ihd_reading_the_time_counts_as_heard(tmp_path: Path, broker: Broker) -> None:
    # An IHD sends no GBCS: only its Time reads say it is there.
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    async with running_hub(config) as (hub, lab):
        who = lab.ihd.eui64.hex().upper()
        await until(lambda: who in hub.health.devices, "the IHD in health")
        before = hub.health.devices[who].last_seen
        await asyncio.sleep(0.1)
        lab.ihd.read_time()
        await until(lambda: hub.health.devices[who].last_seen > before, "the read heard")
        assert device_health(hub, lab.ihd.eui64)["state"] == "ok"


async def test_a_meter_that_refuses_the_tunnel_is_a_fault(tmp_path: Path, broker: Broker) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    async with running_hub(config) as (hub, _lab):
        app = hub.app
        assert isinstance(app, VirtualRadioApp)
        meter = SimEsme(bytes.fromhex("00DB1234567890C1"), 0x2C01, refuse_tunnel=TunnelStatus.Busy)
        hub.device_log.provision(meter.eui64, LAB_INSTALL_CODE)  # on the log: it may join
        app.attach(meter)
        who = meter.eui64.hex().upper()
        await until(lambda: hub.health.devices.get(who) and hub.health.devices[who].fault, "fault")
        entry = device_health(hub, meter.eui64)
    assert entry["state"] == "fault"
    assert entry["fault"] == "tunnel refused: Busy"


async def test_the_fault_clears_when_a_later_request_opens_the_tunnel(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    async with running_hub(config) as (hub, _lab):
        app = hub.app
        assert isinstance(app, VirtualRadioApp)
        meter = SimEsme(bytes.fromhex("00DB1234567890C2"), 0x2C02, refuse_tunnel=TunnelStatus.Busy)
        hub.device_log.provision(meter.eui64, LAB_INSTALL_CODE)
        app.attach(meter)
        who = meter.eui64.hex().upper()
        await until(lambda: hub.health.devices.get(who) and hub.health.devices[who].fault, "fault")
        meter.refuse_tunnel = None  # no longer busy: the hub's next request gets a tunnel
        await until(lambda: meter.tunnel_id is not None, "a tunnel")
        await until(lambda: hub.health.devices[who].fault is None, "the fault cleared")
        assert device_health(hub, meter.eui64)["state"] == "ok"
