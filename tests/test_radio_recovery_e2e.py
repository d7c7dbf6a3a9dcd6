"""The whole hub losing its dongle and getting it back, against a real mosquitto.

The dongle is a named virtual dongle pulled through zigpy's own connection_lost (hal/
virtual_dongle.py). What must hold: health on MQTT says 'fault' with the reason while the uplink
keeps answering; after the dongle is back the router has re-opened the meter's tunnel and a WAN
command is delivered again. The operator's open-join request is answered on the bridge topics.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import Broker, write_config
from mqtt_helpers import recording
from test_e2e import running_hub

from agent.config import load_config
from agent.lab import SUPPLIER_COMMANDS
from agent.radio_supervisor import SupervisorTiming
from hal import virtual_dongle

FIRMWARE_READ = next(c for c in SUPPLIER_COMMANDS if c.message_code == 0x0059)


async def test_lost_dongle_is_reported_and_the_hub_recovers(tmp_path: Path, broker: Broker) -> None:
    path = "virtual://e2e-recovery"
    config_path = write_config(
        tmp_path, broker, mode="full", extra="[health]\ninterval = 1\n", radio_path=path
    )
    config = load_config(config_path)
    try:
        async with (
            recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
            running_hub(config) as (hub, lab),
        ):
            hub.radio.timing = SupervisorTiming(retry_min=0.1, retry_max=0.2)
            assert await lab.send_command(FIRMWARE_READ) == "delivered"
            first_app = hub.app

            virtual_dongle.unplug(path)
            assert hub.health.radio_state == "fault"

            def radio_states() -> list[str]:
                return [m.json()["radio"]["state"] for m in rec.on("/health")]

            await rec.wait_for(lambda _m: "fault" in radio_states(), timeout=5)
            fault = next(
                m.json() for m in rec.on("/health") if m.json()["radio"]["state"] == "fault"
            )
            assert "no serial port at virtual://e2e-recovery" in fault["radio"]["detail"]
            # The uplink keeps working: a WAN command is answered (refused: no tunnel).
            assert await lab.send_command(FIRMWARE_READ) == "refused"

            virtual_dongle.replug(path)
            async with asyncio.timeout(10):
                await hub.radio.up.wait()
                await hub.router.tunnel_ready[lab.esme.eui64].wait()
            assert hub.app is not None and hub.app is not first_app
            assert hub.health.radio_state == "ok"
            assert await lab.send_command(FIRMWARE_READ) == "delivered"
            await rec.wait_for(lambda _m: radio_states()[-1:] == ["ok"], timeout=5)
            await rec.wait_for(lambda _m: len(rec.on("/down/result")) >= 3, timeout=5)
            results = [m.json()["status"] for m in rec.on("/down/result")]
            assert results == ["delivered", "refused", "delivered"]
            # A backup was written each time the radio came up.
            backups = sorted((config.state_dir / "backups").glob("network-*-radio-up.json"))
            assert len(backups) == 2
    finally:
        virtual_dongle.forget(path)


async def test_open_join_only_on_request_with_a_time_limit(tmp_path: Path, broker: Broker) -> None:
    import aiomqtt

    config = load_config(write_config(tmp_path, broker))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/bridge/response/#") as rec,
        running_hub(config) as (hub, _lab),
    ):
        opened: list[int] = []
        app = hub.app
        assert app is not None

        async def permit(time_s: int = 60, node: object = None) -> None:
            opened.append(time_s)

        app.permit = permit  # type: ignore[method-assign]  # record what reaches the radio
        async with aiomqtt.Client(broker.host, broker.port) as client:
            topic = f"{base}/bridge/request/permit_join"
            await client.publish(topic, b'{"seconds": 300, "transaction": "t1"}', qos=1)
            await client.publish(topic, b'{"seconds": 120, "transaction": "t2"}', qos=1)
            await client.publish(topic, b"not json", qos=1)
        await rec.wait_for(lambda m: len(m) >= 3, timeout=5)
    # Each answer is signed by the hub (docs/mqtt.md, Conventions); compared here without it.
    assert all("signed" in m.json() for m in rec.messages)
    answers = [{k: v for k, v in m.json().items() if k != "signed"} for m in rec.messages]
    assert answers[0] == {
        "status": "error",
        "error": "seconds must be from 0 (close) to 254",
        "transaction": "t1",
    }
    assert answers[1] == {"status": "ok", "data": {"seconds": 120}, "transaction": "t2"}
    assert answers[2]["status"] == "error"
    assert opened == [120]
