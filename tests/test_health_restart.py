"""Health across a restart: a meter the hub knows only from zigpy's database is not "heard now".

A meter that died across a power cut must not read `ok` for `[health] silent_after` after the hub
comes back: its last-heard time comes from what zigpy persisted, not from the start. The same
holds when the radio is re-opened (a lost dongle back). Real zigpy over the virtual radio, its
database in the state dir, and a real mosquitto.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from conftest import Broker, write_config
from test_e2e import running_hub
from test_health_devices import device_health, until

from agent.config import load_config
from agent.hub import Hub
from agent.lab import LAB_INSTALL_CODE
from agent.radio_supervisor import SupervisorTiming
from hal import virtual_dongle
from hal.sim.esme import SimEsme
from hal.virtual import VirtualRadioApp

SILENT_AFTER = 1.0
AWAY = 1.5  # seconds the hub is down: longer than SILENT_AFTER
METER = "00DB1234567890A0"  # the lab's ESME
# The lab's provisioning is not persisted: on the installer's list, the meter is admitted at the
# second start without the lab, as a real meter is.
EXTRA = f"""
[health]
silent_after = {SILENT_AFTER}
[[devices]]
eui64 = "{METER}"
install_code = "{LAB_INSTALL_CODE.hex().upper()}"
"""


async def test_a_meter_not_heard_since_a_restart_keeps_its_age(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, extra=EXTRA))
    meter = bytes.fromhex(METER)
    assert config.lab.esme == METER
    began = time.time()
    async with running_hub(config) as (hub, _lab):  # the lab's meter joins and is heard
        assert device_health(hub, meter)["state"] == "ok"
    stopped = time.time()
    await asyncio.sleep(AWAY)

    # The same hub on the same state dir, the meter gone (not attached to the radio).
    hub = Hub(config)
    await hub.start()
    try:
        await until(lambda: METER in hub.health.devices, "the meter in health")
        entry = device_health(hub, meter)
        now = time.time()
        # Its age runs from when it was last heard before the stop, not from this start.
        age = entry["last_seen_s"]
        assert isinstance(age, float)
        assert now - stopped <= age + 0.1  # rounded to 0.1 s
        assert age <= now - began + 0.1
        assert entry["state"] == "silent"

        # Heard again: ok at once.
        app = hub.app
        assert isinstance(app, VirtualRadioApp)
        app.attach(SimEsme(meter, 0x1A01))
        await until(lambda: device_health(hub, meter)["state"] == "ok", "the meter heard again")
    finally:
        await hub.stop()


async def test_a_meter_gone_while_the_radio_was_away_is_silent_when_it_is_back(
    tmp_path: Path, broker: Broker
) -> None:
    path = "virtual://health-rebind"
    config = load_config(write_config(tmp_path, broker, extra=EXTRA, radio_path=path))
    meter = bytes.fromhex(METER)
    try:
        async with running_hub(config) as (hub, lab):
            hub.radio.timing = SupervisorTiming(retry_min=0.1, retry_max=0.2)
            first_app = hub.app
            virtual_dongle.unplug(path)
            gone = time.time()
            virtual_dongle.DONGLES[path].sims.pop(lab.esme.nwk).detach()  # the meter dies
            await asyncio.sleep(AWAY)
            virtual_dongle.replug(path)
            router = hub.router
            assert router is not None
            # The hub takes the new radio (router.rebind) in the same turn as hub.app changes.
            await until(lambda: hub.app is not None and router.app is not first_app, "rebound")
            entry = device_health(hub, meter)
            age = entry["last_seen_s"]
            assert isinstance(age, float)
            assert time.time() - gone <= age + 0.1
            assert entry["state"] == "silent"
    finally:
        virtual_dongle.forget(path)
