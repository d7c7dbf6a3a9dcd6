"""Zigbee2MQTT's conventions where the meaning is the same, on a lab hub and a real mosquitto:
`permit_join` with `{"time": N}` (and `seconds` still), `bridge/health` beside `health`,
`bridge/devices` retained, and `bridge/event` with `{type, data}`."""

from __future__ import annotations

import json
from pathlib import Path

import aiomqtt
from conftest import Broker, write_config
from mqtt_helpers import recording
from test_e2e import running_hub

from agent.config import load_config


async def test_zigbee2mqtt_topics_and_shapes(tmp_path: Path, broker: Broker) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full"))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        esme, ihd = lab.esme.eui64.hex().upper(), lab.ihd.eui64.hex().upper()
        # The radio is the lab's virtual one: record what reaches it.
        opened: list[int] = []

        async def permit(time_s: int = 60, node: object = None) -> None:
            opened.append(time_s)

        hub.radio.app.permit = permit  # type: ignore[union-attr, method-assign]
        topic = f"{base}/bridge/request/permit_join"
        await wan.publish(topic, json.dumps({"time": 30, "transaction": "z2m"}), qos=1)
        await wan.publish(topic, json.dumps({"seconds": 20, "transaction": "old"}), qos=1)
        await rec.wait_for(lambda _m: len(rec.on("/bridge/response/permit_join")) >= 2, 10)
        hub._publish_devices()  # as each health interval does
        await rec.wait_for(
            lambda _m: any(
                d["eui64"] == esme and d["tunnel"] == "open"
                for m in rec.on("/bridge/devices")
                for d in m.json()
            ),
            10,
        )
    answers = {m.json()["transaction"]: m.json() for m in rec.on("/bridge/response/permit_join")}
    assert answers["z2m"]["status"] == "ok" and answers["z2m"]["data"] == {"time": 30}
    assert answers["old"]["status"] == "ok" and answers["old"]["data"] == {"seconds": 20}
    assert opened == [30, 20]

    # bridge/health is the same payload as health.
    health = [m for m in rec.messages if m.topic == f"{base}/bridge/health"]
    legacy = [m for m in rec.messages if m.topic == f"{base}/health"]
    assert health and legacy and health[0].payload == legacy[0].payload

    # bridge/devices: every device on the device log, with its state.
    devices = {d["eui64"]: d for d in rec.on("/bridge/devices")[-1].json()}
    assert set(devices) >= {esme, ihd}
    assert devices[esme] | {"last_seen_s": None} == {
        "ieee_address": f"0x{esme.lower()}",
        "eui64": esme,
        "type": "tunnel",
        "model": "Sim-ESME",
        "joined": True,
        "state": "ok",
        "last_seen_s": None,
        "tunnel": "open",
    }
    assert isinstance(devices[esme]["last_seen_s"], float)
    assert devices[ihd]["joined"] is True and devices[ihd]["tunnel"] is None

    # bridge/event: {type, data}, a device's interview and its tunnel.
    events = [m.json() for m in rec.on("/bridge/event")]
    assert {"type": "device_interview", "data": {"ieee_address": f"0x{esme.lower()}",
            "eui64": esme}} in events  # fmt: skip
    assert any(e["type"] == "tunnel_open" and e["data"]["eui64"] == esme for e in events)
    assert all(set(e) == {"type", "data"} for e in events)

    # Both stay on the broker for a client that comes later.
    async with recording(broker.host, broker.port, f"{base}/bridge/+") as late:
        await late.wait_for(lambda m: {x.topic.rsplit("/", 1)[1] for x in m} >= {
            "health", "devices", "state", "info"}, 10)  # fmt: skip
    assert all(m.retain for m in late.messages)
