"""Incoming MQTT is handled in order within a topic, each topic on its own: a consumer's
consent change is not held behind a backlog of commands for a slow meter, and commands on
down/gbcs never overtake each other. Real mosquitto, zigpy over the virtual radio, a meter
whose radio acknowledgement takes a second (a real NCP waits seconds for one)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import aiomqtt
from conftest import Broker, write_config
from mqtt_helpers import Received, recording
from test_consent_mqtt import TRUST_LAB, signed
from test_e2e import running_hub

from agent.config import load_config
from agent.consent import Mode
from agent.lab import LabCommand

ACK_DELAY = 1.0
FIRMWARE_READ = LabCommand(0x0059, critical=False)  # ECS52: allowed in both modes


async def test_a_consent_change_does_not_wait_behind_slow_deliveries(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        lab.esme.ack_delay = ACK_DELAY
        device = lab.esme.eui64.hex().upper()
        ids = [f"slow-{n}" for n in range(4)]
        for rid in ids:
            frame = lab.supplier.command(lab.esme.eui64, FIRMWARE_READ)
            body = {"id": rid, "device": device, "frame": base64.b64encode(frame).decode()}
            await wan.publish(f"{base}/down/gbcs", json.dumps(body), qos=1)
        command = {**signed(config.hub_id, Mode.RESTRICTED, 7300), "transaction": "opt-out"}
        await wan.publish(f"{base}/bridge/request/consent", json.dumps(command), qos=1)

        def answered(messages: list[Received]) -> set[str]:
            return {m.json()["id"] for m in messages if m.topic.endswith("/down/result")} | {
                "consent" for m in messages if m.topic.endswith("/bridge/response/consent")
            }

        await rec.wait_for(lambda m: len(answered(m)) == len(ids) + 1, timeout=20)
        mode = hub.consent.mode

    assert mode is Mode.RESTRICTED
    results = [m.json() for m in rec.on("/down/result")]
    assert [r["id"] for r in results] == ids, "commands on one topic keep their order"
    assert all(r["status"] == "delivered" for r in results)
    # Each delivery waits ACK_DELAY for its acknowledgement, one after the other; the consent
    # change, on its own topic, is answered while the first of them is still waiting.
    order = [
        "consent" if m.topic.endswith("/bridge/response/consent") else m.json()["id"]
        for m in rec.messages
        if m.topic.endswith(("/down/result", "/bridge/response/consent"))
    ]
    assert order.index("consent") < order.index("slow-1"), order
