"""The simulated PPMID on a real hub: it joins, the hub opens a tunnel to it (it is a tunnel
server like the ESME), a supplier's CS08 reaches it and its answer comes up, and its CS09
firmware activation alert goes up signed. Restricted mode, real mosquitto, zigpy on the virtual
radio."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from conftest import Broker, write_config
from mqtt_helpers import recording
from test_device_log_e2e import GOOD_CODE
from test_e2e import running_hub

from agent.config import load_config
from agent.lab import LabCommand
from gbcs import signature
from gbcs.frame import Cra, parse_frame
from hal.sim.ppmid import SimPpmid

PPMID = bytes.fromhex("00DB1234567890D1")


async def test_ppmid_answers_cs08_and_raises_cs09(tmp_path: Path, broker: Broker) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        assert hub.app is not None and hub.router is not None
        hub.device_log.add(PPMID, GOOD_CODE)
        ppmid = SimPpmid(PPMID, 0x1A0D, firmware_version=0x00020003)
        hub.app.attach(ppmid)  # type: ignore[attr-defined]
        async with asyncio.timeout(20):
            await hub.router.tunnel_ready.setdefault(PPMID, asyncio.Event()).wait()
        status = await lab.send_command(LabCommand(0x0129, critical=False), PPMID)
        sent = ppmid.activate_firmware(0x00020004)
        await rec.wait_for(
            lambda _m: len([m for m in rec.messages if "/up/" in m.topic]) >= 2, timeout=15
        )

    assert status == "delivered"
    assert hub.router.devices[PPMID].kind == "tunnel"
    [command] = ppmid.commands_received
    assert command.message_code == 0x0129
    ups = [
        (m.topic.rsplit("/", 1)[1], parse_frame(base64.b64decode(m.json()["frame"])))
        for m in rec.messages
        if "/up/" in m.topic
    ]
    assert [topic for topic, _ in ups] == ["firmware", "firmware"]  # both pass restricted mode
    (_, response), (_, alert) = ups
    assert response.cra is Cra.RESPONSE and response.originator == PPMID
    assert response.payload == b"\x04\x04\x00\x02\x00\x03"  # the version running when asked
    assert alert.raw == sent
    assert (alert.message_code, alert.alert_code) == (0x012B, 0x8F8B)
    assert alert.signature is not None
    assert signature.verify(ppmid.key.public_key(), alert.signed_bytes, alert.signature)
    assert ppmid.firmware_version == 0x00020004
