"""The whole hub on the virtual radio against a real mosquitto: what arrives upstream, and when.

The simulated supplier sends commands through the hub as the WAN would; the simulated ESME
answers and raises alerts over its Zigbee tunnel, through real zigpy. The expected categories
and decisions below are written out by hand from the code tables (docs/gbcs-notes.md 2 and 3)
and the rules of docs/restricted-profile.md, not computed by the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import ROOT, Broker, write_config
from mqtt_helpers import Recorder, recording

from agent.config import Config, load_config
from agent.hub import Hub
from agent.lab import METER_ALERTS, SUPPLIER_COMMANDS, Lab, LabCommand
from gbcs.frame import Cra, parse_frame
from hal.sim.esme import LAB_MAC_KEY

# The lab's traffic, categorised by hand (docs/gbcs-notes.md 2.3 and 3.2).
RESPONSE_CATEGORY = {
    0x0027: "read",  # ECS17b
    0x0019: "tariff",  # ECS01a
    0x0059: "firmware",  # ECS52
    0x0052: "safety",  # ECS45
    0x003A: "read",  # ECS24
    0x000C: "security",  # CS02e
    0x004F: "safety",  # ECS42
    0x0062: "config",  # ECS70 set clock
}
ALERT_CATEGORY = {
    0x8F3E: "security",
    0x8F35: "safety",
    0x8010: "alert",
    0x8F72: "firmware",
    0x8F0A: "critical_alert",
    0x810D: "prepayment",
    0x8F74: "security",
    0x81A0: "alert",
    0x81BD: "safety",
}
# The default restricted profile (docs/restricted-profile.md), applied by hand to the lab traffic.
RESTRICTED_COMMANDS_DELIVERED = {0x0059, 0x0052, 0x000C, 0x004F, 0x0062}
RESTRICTED_ALERTS_FORWARDED = {0x8F3E, 0x8F35, 0x8F72, 0x8F74, 0x81A0, 0x81BD}

HEX16 = re.compile(r"^[0-9A-F]{16}$")
CODE = re.compile(r"^0x[0-9A-F]{4}$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@contextlib.asynccontextmanager
async def running_hub(config: Config) -> AsyncIterator[tuple[Hub, Lab]]:
    hub = Hub(config)
    lab = Lab(hub, config.lab)
    await hub.start()
    try:
        await lab.start(traffic=False, join_timeout=20)
        async with asyncio.timeout(10):
            await hub.uplink.connected.wait()
        yield hub, lab
    finally:
        await lab.stop()
        await hub.stop()


def ups(recorder: Recorder) -> list[tuple[str, dict[str, object]]]:
    return [(m.topic.split("/up/")[1], m.json()) for m in recorder.messages if "/up/" in m.topic]


async def test_full_mode_forwards_every_frame_unchanged(tmp_path: Path, broker: Broker) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full"))
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        running_hub(config) as (_hub, lab),
    ):
        for spec in SUPPLIER_COMMANDS:
            assert await lab.send_command(spec) == "delivered"
        for alert in METER_ALERTS:
            lab.raise_alert(alert)
        expected = len(SUPPLIER_COMMANDS) + len(METER_ALERTS)
        await rec.wait_for(lambda _m: len(ups(rec)) >= expected, timeout=15)
        sent = list(lab.esme.sent)

    assert len(sent) == expected
    received = ups(rec)
    assert len(received) == expected
    by_bytes = {base64.b64decode(str(env["frame"])): (topic, env) for topic, env in received}
    assert set(by_bytes) == set(sent), "every frame the meter sent arrives, bytes unchanged"
    for raw, (topic, env) in by_bytes.items():
        frame = parse_frame(raw)
        if frame.cra is Cra.RESPONSE:
            assert topic == RESPONSE_CATEGORY[frame.message_code]
        else:
            assert frame.alert_code is not None
            assert topic == ALERT_CATEGORY[frame.alert_code]
        assert env["category"] == topic
        assert env["device"] == lab.esme.eui64.hex().upper()
        assert HEX16.match(str(env["device"]))
        assert env["cra"] == frame.cra.label
        assert env["message_code"] == f"0x{frame.message_code:04X}"
        assert CODE.match(str(env["message_code"]))
        if frame.alert_code is None:
            assert env["alert_code"] is None
        else:
            assert env["alert_code"] == f"0x{frame.alert_code:04X}"
        assert env["critical"] is frame.critical
        assert isinstance(env["critical"], bool)
        assert ISO_UTC.match(str(env["received_at"]))
        assert env["id"] == (
            f"{frame.originator.hex().upper()}-{frame.recipient.hex().upper()}"
            f"-{int(frame.cra)}-{frame.counter}"
        )
    results = [m.json() for m in rec.on("/down/result")]
    assert [r["status"] for r in results] == ["delivered"] * len(SUPPLIER_COMMANDS)


def outcome_of(message_code: int, command_counter: int) -> bytes:
    """The DLMS body tail of a 0x00CC future-dated outcome alert: the command it reports on."""
    descriptor = b"\x00\x01" + bytes([0, 0, 96, 1, 0, 255]) + b"\x02"
    body = message_code.to_bytes(2, "big") + command_counter.to_bytes(8, "big") + descriptor
    return b"\x09" + bytes([len(body)]) + body


async def test_restricted_mode_forwards_exactly_the_allowed_set(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        statuses = {spec.message_code: await lab.send_command(spec) for spec in SUPPLIER_COMMANDS}
        for alert in METER_ALERTS:
            lab.raise_alert(alert)
        # A meter answering late a read and a tariff command delivered before the consumer's
        # choice took effect: the responses must not go up either.
        for code in (0x0027, 0x0019):
            late = lab.supplier.command(lab.esme.eui64, LabCommand(code, critical=code == 0x0019))
            lab.esme.send_gbcs(lab.esme.response_to(parse_frame(late)))
        # A future-dated outcome alert reporting that a tariff command ran: a critical alert
        # carrying an outcome, not tariff data, so it goes up (docs/restricted-profile.md).
        outcome = lab.esme.raise_alert(
            0x8F66, message_code=0x00CC, critical=True, extra=outcome_of(0x0019, 41)
        )
        # A malformed frame is counted and dropped; HAN-local IHD traffic never goes up.
        lab.esme.send_gbcs(b"\xdf\x09\x07" + bytes(40))
        lab.ihd.read_time()
        # A last allowed alert: QoS 1 from one publisher keeps order, so once it is in,
        # everything sent before it has been decided and, if forwarded, delivered.
        sentinel = lab.esme.raise_alert(0x8F3D, critical=True)
        await rec.wait_for(
            lambda _m: any(base64.b64decode(str(e["frame"])) == sentinel for _t, e in ups(rec)),
            timeout=15,
        )
        await asyncio.sleep(0.3)
        counters = hub.counters
        health = hub.health_snapshot()

    expected_status = {
        code: "delivered" if code in RESTRICTED_COMMANDS_DELIVERED else "blocked"
        for code in RESPONSE_CATEGORY
    }
    assert statuses == expected_status
    got = set()
    for topic, env in ups(rec):
        frame = parse_frame(base64.b64decode(str(env["frame"])))
        got.add((frame.cra.label, frame.message_code, frame.alert_code))
        assert topic == env["category"]
        assert env["mode"] == "restricted"
    want = {("response", code, None) for code in RESTRICTED_COMMANDS_DELIVERED}
    want |= {
        ("alert", a.message_code or (0x1000 if a.critical else 0x1001), a.alert_code)
        for a in METER_ALERTS
        if a.alert_code in RESTRICTED_ALERTS_FORWARDED
    }
    want.add(("alert", 0x1000, 0x8F3D))
    want.add(("alert", 0x00CC, 0x8F66))
    assert got == want
    [(outcome_topic, _)] = [
        (t, e) for t, e in ups(rec) if base64.b64decode(str(e["frame"])) == outcome
    ]
    assert outcome_topic == "critical_alert"
    assert ("alert", 0x0061, 0x8F0A) not in got, "the billing-data critical alert stays home"
    assert counters.malformed == 1
    # Health tells a choice from a fault: mode and reason beside radio and device states.
    assert health["mode"] == "restricted"
    assert health["radio"]["state"] == "ok"
    esme = lab.esme.eui64.hex().upper()
    assert health["devices"][esme]["state"] == "ok"
    assert health["counters"]["blocked_by_category"] == {
        "read": 1,
        "tariff": 1,
        "alert": 1,
        "critical_alert": 1,
        "prepayment": 1,
    }
    [published] = [m.json() for m in rec.on("/health")][:1]
    assert published["mode"] == "restricted"

    results = {r["message_code"]: r for r in (m.json() for m in rec.on("/down/result"))}
    for code, status in expected_status.items():
        result = results[f"0x{code:04X}"]
        assert result["status"] == status
        if status == "blocked":
            assert "restricted by consumer choice" in result["reason"]
            assert set(result) == {"id", "status", "message_code", "reason"}


async def test_wan_command_over_mqtt_and_refusals(tmp_path: Path, broker: Broker) -> None:
    """down/gbcs: a delivered command, a blocked one, and each refusal with its own reason."""
    import json

    import aiomqtt

    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (_hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        esme = lab.esme.eui64
        firmware_read = lab.supplier.command(esme, LabCommand(0x0059, critical=False))
        energy_read = lab.supplier.command(esme, LabCommand(0x0027, critical=False))
        response = lab.esme.response_to(parse_frame(firmware_read))
        requests = [
            {"id": "r1", "device": esme.hex().upper(), "frame": firmware_read},
            {"id": "r2", "device": esme.hex().upper(), "frame": energy_read},
            {"id": "r3", "device": "0011223344556677", "frame": firmware_read},
            {"id": "r4", "device": esme.hex().upper(), "frame": response},
            {"id": "r5", "device": esme.hex().upper(), "frame": b"\xdd\x09\x00"},
        ]
        for request in requests:
            body = dict(request, frame=base64.b64encode(request["frame"]).decode())
            await wan.publish(f"{base}/down/gbcs", json.dumps(body), qos=1)
        await wan.publish(f"{base}/down/gbcs", b"not json", qos=1)
        await rec.wait_for(lambda _m: len(rec.on("/down/result")) >= 6, timeout=10)
        await rec.wait_for(lambda _m: len(ups(rec)) >= 1, timeout=10)

    results = {r["id"]: r for r in (m.json() for m in rec.on("/down/result"))}
    assert results["r1"]["status"] == "delivered"
    assert results["r2"]["status"] == "blocked"
    assert "restricted by consumer choice" in results["r2"]["reason"]
    assert results["r3"]["status"] == "refused" and "not on this HAN" in results["r3"]["reason"]
    assert results["r4"]["status"] == "refused" and "not a command" in results["r4"]["reason"]
    # A GBT block is parsed now (its routing header); this one's CRA flag is 0, so refused.
    assert results["r5"]["status"] == "refused" and "CRA flag 0x00" in results["r5"]["reason"]
    assert results[""]["status"] == "refused" and "malformed request" in results[""]["reason"]
    [(topic, env)] = ups(rec)
    assert topic == "firmware" and env["message_code"] == "0x0059"
    assert lab.esme.commands_received[-1].raw == firmware_read, "delivered bytes are unchanged"


def _agent(config: Path) -> subprocess.Popen[bytes]:
    """The agent as a subprocess; its log goes to agent.log beside the config. (A pipe nobody
    reads fills up under load and stalls the agent on its next log line.)"""
    with open(config.parent / "agent.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config), "--quiet"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def agent_log(config: Path) -> str:
    return (config.parent / "agent.log").read_text(errors="replace")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
async def test_bridge_state_offline_when_the_agent_dies_or_stops(
    tmp_path: Path, broker: Broker, how: str
) -> None:
    config_path = write_config(tmp_path, broker, mode="restricted", lab=True)
    hub_id = load_config(config_path).hub_id
    state_topic = f"test/{hub_id}/bridge/state"
    async with recording(broker.host, broker.port, state_topic) as rec:
        agent = _agent(config_path)
        try:
            await rec.wait_for(
                lambda m: any(x.json() == {"state": "online"} for x in m), timeout=30
            )
            os.kill(agent.pid, getattr(signal, how))
            await rec.wait_for(
                lambda m: bool(m) and m[-1].json() == {"state": "offline"}, timeout=15
            )
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(agent.wait, 15)
        finally:
            if agent.poll() is None:
                agent.kill()
            agent.wait(timeout=10)
    if how == "SIGTERM":
        assert agent.returncode == 0, agent_log(config_path)
    else:
        assert agent.returncode == -signal.SIGKILL
    # The retained state now reads offline for anyone who subscribes later.
    async with recording(broker.host, broker.port, state_topic) as late:
        await late.wait_for(lambda m: bool(m), timeout=5)
    assert late.messages[0].retain and late.messages[0].json() == {"state": "offline"}


def test_lab_supplier_frames_are_real_gbcs() -> None:
    """The lab's commands parse, and critical ones carry a verifiable supplier signature."""
    from agent.lab import LabSupplier
    from gbcs import signature
    from gbcs.frame import verify_mac

    supplier = LabSupplier(bytes.fromhex("90B3D51F30010000"))
    target = bytes.fromhex("00DB1234567890A0")
    for spec in SUPPLIER_COMMANDS:
        frame = parse_frame(supplier.command(target, spec))
        assert frame.cra is Cra.COMMAND and frame.message_code == spec.message_code
        assert frame.critical is spec.critical
        assert verify_mac(LAB_MAC_KEY, frame)
        if spec.critical:
            assert frame.signature is not None
            assert signature.verify(supplier.key.public_key(), frame.signed_bytes, frame.signature)
    # Counters strictly increase, as a receiving device requires.
    a = parse_frame(supplier.command(target, SUPPLIER_COMMANDS[0])).counter
    b = parse_frame(supplier.command(target, SUPPLIER_COMMANDS[0])).counter
    assert b > a
