"""The CHF device log as the whitelist, and the hub's own signed alerts, end to end.

Real mosquitto, real zigpy over the virtual radio, real keys. WAN commands go in on down/gbcs
over MQTT; what the hub says comes back on down/result and up/<category>. Each alert the hub
raises is checked against the hub key published in bridge/info.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, write_config
from mqtt_helpers import Recorder, recording
from test_e2e import running_hub

from agent import hub_commands
from agent.config import load_config
from agent.hub import Hub
from agent.lab import LabCommand
from gbcs import chf_commands, signature
from gbcs.frame import Cra, Frame, build_frame, parse_frame
from hal.sim.esme import LAB_MAC_KEY, SimEsme

ACB = bytes.fromhex("90B3D51F30000002")
NEW_METER = bytes.fromhex("00DB1234567890B7")
GOOD_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")


def ccs(counter: int, hub: bytes, eui64: bytes, install_code: bytes | None) -> bytes:
    code = chf_commands.CCS02_REMOVE if install_code is None else chf_commands.CCS01_ADD
    return build_frame(
        cra=Cra.COMMAND,
        counter=counter,
        originator=ACB,
        recipient=hub,
        message_code=code,
        payload=chf_commands.build_payload(counter, eui64, install_code),
        mac_key=LAB_MAC_KEY,
    )


async def send_down(broker: Broker, base: str, rid: str, device: bytes, frame: bytes) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as wan:
        body = {
            "id": rid,
            "device": device.hex().upper(),
            "frame": base64.b64encode(frame).decode(),
        }
        await wan.publish(f"{base}/down/gbcs", json.dumps(body), qos=1)


def hub_frames(rec: Recorder, hub: Hub) -> list[tuple[str, Frame]]:
    """Frames the hub itself originated that arrived upstream, each signature checked."""
    infos = rec.on("/bridge/info")
    if not infos:  # not arrived yet: a wait_for predicate may run before it does
        return []
    info = infos[-1].json()
    public = signature.load_public_key(info["hub_key"]["public_key_pem"].encode())
    found = []
    for m in rec.messages:
        if "/up/" not in m.topic:
            continue
        frame = parse_frame(base64.b64decode(m.json()["frame"]))
        if frame.originator != hub.hub_eui64:
            continue
        assert frame.signature is not None, "every frame the hub originates is signed"
        assert signature.verify(public, frame.signed_bytes, frame.signature)
        found.append((m.topic.split("/up/")[1], frame))
    return found


async def left(hub: Hub, sim: SimEsme) -> None:
    """Wait (up to 10 s) until zigpy has removed the device."""
    assert hub.app is not None
    for _ in range(200):
        if sim.ieee not in hub.app.devices:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sim.eui64.hex()} was not removed from the network")


def result(rec: Recorder, rid: str) -> dict[str, object] | None:
    for m in rec.on("/down/result"):
        if m.json()["id"] == rid:
            return dict(m.json())
    return None


async def test_ccs01_ccs02_manage_the_log_with_cs14(tmp_path: Path, broker: Broker) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    base = f"test/{config.hub_id}"
    counter = int(time.time() * 1000)
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (
            hub,
            _lab,
        ),
    ):
        hub_eui = hub.hub_eui64
        await send_down(
            broker, base, "add-1", hub_eui, ccs(counter + 1, hub_eui, NEW_METER, GOOD_CODE)
        )
        await rec.wait_for(lambda _m: result(rec, "add-1") is not None, timeout=10)
        assert result(rec, "add-1") == {
            "id": "add-1",
            "status": "delivered",
            "message_code": "0x0001",
            "reason": f"actioned by the hub: {NEW_METER.hex().upper()} added to the device log",
        }
        await rec.wait_for(lambda _m: len(hub_frames(rec, hub)) >= 2, timeout=10)
        assert hub.device_log.admits(NEW_METER)
        saved = json.loads((config.state_dir / "device-log.json").read_text())
        assert saved["added"] == [
            {"eui64": NEW_METER.hex().upper(), "install_code": GOOD_CODE.hex().upper()}
        ]

        # The meter now joins and gets its tunnel.
        meter = SimEsme(NEW_METER, 0x1A0B)
        hub.app.attach(meter)  # type: ignore[union-attr]
        async with asyncio.timeout(10):
            await hub.router.tunnel_ready.setdefault(NEW_METER, asyncio.Event()).wait()  # type: ignore[union-attr]

        # A second CCS01 for a listed device succeeds without a change (no CS14).
        await send_down(
            broker, base, "add-2", hub_eui, ccs(counter + 2, hub_eui, NEW_METER, GOOD_CODE)
        )
        # A CCS01 whose install code fails its CRC is refused and changes nothing.
        bad = GOOD_CODE[:-1] + bytes([GOOD_CODE[-1] ^ 0xFF])
        other = bytes.fromhex("00DB1234567890C1")
        await send_down(broker, base, "add-bad", hub_eui, ccs(counter + 3, hub_eui, other, bad))
        await send_down(broker, base, "rm-1", hub_eui, ccs(counter + 4, hub_eui, NEW_METER, None))
        await rec.wait_for(lambda _m: result(rec, "rm-1") is not None, timeout=10)
        await rec.wait_for(lambda _m: len(hub_frames(rec, hub)) >= 5, timeout=10)
        await left(hub, meter)
        snapshot = hub.health_snapshot()

    assert result(rec, "add-2") is not None and result(rec, "add-2")["reason"] == (  # type: ignore[index]
        f"actioned by the hub: {NEW_METER.hex().upper()} already listed"
    )
    bad_result = result(rec, "add-bad")
    assert bad_result is not None and bad_result["status"] == "refused"
    assert "CRC does not match" in str(bad_result["reason"])
    assert result(rec, "rm-1")["status"] == "delivered"  # type: ignore[index]
    assert not hub.device_log.admits(NEW_METER) and not hub.device_log.admits(other)
    frames = hub_frames(rec, hub)
    # add: response + CS14; add again: response only; bad: nothing; remove: response + CS14.
    # (The outbox publishes by priority, so only the order within each kind is fixed.)
    responses = [f.message_code for _t, f in frames if f.cra is Cra.RESPONSE]
    alerts = [f for _t, f in frames if f.cra is Cra.ALERT]
    assert responses == [0x0001, 0x0001, 0x0002]
    assert [a.message_code for a in alerts] == [0x0018, 0x0018]
    response_counters = [f.counter for _t, f in frames if f.cra is Cra.RESPONSE]
    assert response_counters == [counter + 1, counter + 2, counter + 4]
    cs14_added, cs14_removed = alerts
    assert cs14_added.alert_code == 0x8F12 and cs14_added.recipient == ACB
    assert NEW_METER in cs14_added.payload and NEW_METER not in cs14_removed.payload
    assert snapshot["device_log"]["changes"] == 2  # type: ignore[index]


async def test_join_outside_the_log_is_refused_with_a_security_alert(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    stranger = bytes.fromhex("00DB12345678DEAD")
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        running_hub(config) as (hub, _lab),
    ):
        intruder = SimEsme(stranger, 0x1A0C)
        hub.app.attach(intruder)  # type: ignore[union-attr]
        await rec.wait_for(lambda _m: len(hub_frames(rec, hub)) >= 1, timeout=10)
        await left(hub, intruder)
        await asyncio.sleep(0.5)  # time enough for an interview and tunnel, had one started
        assert intruder.tunnel_id is None, "no tunnel to a device outside the log"
        assert stranger not in hub.router.devices  # type: ignore[union-attr]
        refused = hub.health_snapshot()["device_log"]["refused_joins"]  # type: ignore[index]
    ((topic, alert),) = hub_frames(rec, hub)
    assert topic == "security"
    assert alert.cra is Cra.ALERT and alert.alert_code == 0x8F3E
    assert alert.payload.endswith(b"\x09\x08" + stranger)
    assert refused == [stranger.hex().upper()]


async def test_health_lists_only_the_latest_refused_joins(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A device that keeps trying must not grow the retained health message without end.
    monkeypatch.setattr(hub_commands, "REFUSALS_KEPT", 2)
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    strangers = [bytes.fromhex(f"00DB12345678DE{n:02X}") for n in range(3)]
    async with running_hub(config) as (hub, _lab):
        for n, stranger in enumerate(strangers):
            intruder = SimEsme(stranger, 0x1B00 + n)
            hub.app.attach(intruder)  # type: ignore[union-attr]
            await left(hub, intruder)
        device_log = hub.health_snapshot()["device_log"]
    assert device_log["refused_joins"] == [s.hex().upper() for s in strangers[1:]]  # type: ignore[index]
    assert device_log["refused_joins_total"] == 3  # type: ignore[index]


async def test_meter_that_stops_answering_raises_failure_to_deliver(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        lab.esme.answering = False
        command = lab.supplier.command(lab.esme.eui64, LabCommand(0x0052, critical=False))
        outcome = await hub.command_from_wan("dead-1", lab.esme.eui64, command)
        await rec.wait_for(lambda _m: len(hub_frames(rec, hub)) >= 1, timeout=10)
        await rec.wait_for(lambda _m: result(rec, "dead-1") is not None, timeout=10)
    assert outcome.status == "refused" and outcome.reason.startswith("delivery failed")
    assert lab.esme.commands_received == []
    ((topic, alert),) = hub_frames(rec, hub)
    sent = parse_frame(command)
    assert topic == "critical_alert"
    assert alert.message_code == 0x00D5 and alert.alert_code == 0x8F84
    # It names the message (originator, target, CRA, counter), never carries its content.
    assert sent.originator in alert.payload and lab.esme.eui64 in alert.payload
    assert sent.counter.to_bytes(8, "big") in alert.payload
    assert sent.payload not in alert.payload
    assert result(rec, "dead-1")["status"] == "refused"  # type: ignore[index]
