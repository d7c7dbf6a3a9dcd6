"""A hostile or careless WAN against a lab hub on a real mosquitto: every request is answered once
with a reason, nothing from the WAN reaches storage unchecked, and meter alerts keep flowing.

The first test is the defect that silenced the hub: a `down/gbcs` id holding a lone surrogate
(valid JSON, not valid Unicode) was taken, failed every outbox commit after it, and ended the
outbox writer, so no alert went upstream again and nothing said why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, write_config
from mqtt_helpers import Recorder, recording
from test_e2e import running_hub

from agent.config import load_config
from agent.lab import METER_ALERTS, SUPPLIER_COMMANDS, Lab
from gbcs.frame import Cra, build_frame
from hal.sim.esme import LAB_MAC_KEY

SECURITY_ALERT = next(a for a in METER_ALERTS if a.alert_code == 0x8F3E)  # allowed restricted
FIRMWARE_READ = next(c for c in SUPPLIER_COMMANDS if c.message_code == 0x0059)  # ECS52


def results(rec: Recorder) -> list[dict[str, object]]:
    return [m.json() for m in rec.on("/down/result")]


def answers(rec: Recorder, name: str) -> list[dict[str, object]]:
    return [m.json() for m in rec.on(f"/bridge/response/{name}")]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    with_trace = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not with_trace, with_trace


async def raise_and_see_alerts(lab: Lab, rec: Recorder, count: int) -> None:
    before = len(rec.on("/up/security"))
    for _ in range(count):
        lab.raise_alert(SECURITY_ALERT)
    await rec.wait_for(lambda _m: len(rec.on("/up/security")) >= before + count, timeout=15)


async def test_a_surrogate_id_is_refused_and_alerts_keep_flowing(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(write_config(tmp_path, broker))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        device = lab.esme.eui64.hex().upper()
        frame = base64.b64encode(lab.supplier.command(lab.esme.eui64, FIRMWARE_READ)).decode()
        # JSON's escape for a lone surrogate, as the attacker sent it.
        hostile = json.dumps({"id": "\ud800", "device": device, "frame": frame})
        assert '"\\ud800"' in hostile
        await wan.publish(f"{base}/down/gbcs", hostile.encode(), qos=1)
        await rec.wait_for(lambda _m: len(results(rec)) >= 1, timeout=10)
        (refusal,) = results(rec)
        assert refusal["status"] == "refused"
        assert refusal["id"] == ""
        assert "id must be printable text" in str(refusal["reason"])
        assert lab.esme.commands_received == [], "the command with a hostile id is not delivered"

        # The hub still works, both ways: alerts go up, a good command is delivered.
        await raise_and_see_alerts(lab, rec, 3)
        good = {"id": "after", "device": device, "frame": frame}
        await wan.publish(f"{base}/down/gbcs", json.dumps(good).encode(), qos=1)
        await rec.wait_for(lambda _m: any(r["id"] == "after" for r in results(rec)), timeout=10)
        assert next(r for r in results(rec) if r["id"] == "after")["status"] == "delivered"
        assert hub.outbox.writer_healthy()
        snapshot = hub.health_snapshot()
        assert snapshot["status"] == "ok", snapshot["problems"]
    no_tracebacks(caplog)


# (topic suffix, payload, words the answer's reason must hold)
MALFORMED = [
    ("down/gbcs", b"[1,2]", "must be a JSON object, not an array"),
    ("down/gbcs", b"[" * 100_00, "nested more than 8 levels"),
    ("down/gbcs", b'{"id":true,"device":"00DB1234567890A0","frame":"AA=="}', "not a boolean"),
    ("down/gbcs", b'{"id":"x","device":"00 DB 12 34 56 78 90 A0","frame":"AA=="}', "16 hex"),
    ("down/gbcs", b'{"id":"x","device":"00DB1234567890A0","frame":"%%%"}', "not valid base64"),
    ("down/gbcs", b'{"id":"x\xff"}', "not UTF-8 (invalid byte at offset 8)"),
    ("down/gbcs", b"{" + b" " * 17000 + b"}", "over this topic's 16384"),
    ("bridge/request/permit_join", b'{"seconds": 10, "transaction": -Infinity}', "-Infinity"),
    ("bridge/request/permit_join", b'{"seconds":' + b"[" * 1000, "nested more than 8"),
    ("bridge/request/permit_join", b'{"seconds":' + b"[" * 5000, "over this topic's 1024"),
    ("bridge/request/permit_join", b'{"seconds": 1, "transaction": "' + b"t" * 70 + b'"}', "64"),
    ("bridge/request/permit_join", b'{"seconds": 1e400}', "whole number"),
    ("bridge/request/consent", b"7", "must be a JSON object, not a number"),
    ("bridge/request/consent", b'{"a":' * 3000, "nested more than 8"),
    ("bridge/request/consent", b'{"transaction": NaN}', "NaN is not a JSON number"),
    ("bridge/request/firmware", b"[1,2]", "must be a JSON object, not an array"),
    ("bridge/request/firmware", b'{"targets":["00DB1234567890A0 "],"image":"AA=="}', "16 hex"),
    ("bridge/request/firmware", b'{"targets":["00DB1234567890A0"],"image":7}', "base64"),
    ("bridge/request/firmware", b'{"x":' * 3000, "nested more than 8"),
]


async def test_every_malformed_request_gets_exactly_one_answer_with_its_reason(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(write_config(tmp_path, broker))
    base = f"test/{config.hub_id}"
    expected: dict[str, list[str]] = {}
    for suffix, _payload, words in MALFORMED:
        name = "result" if suffix == "down/gbcs" else suffix.rsplit("/", 1)[1]
        expected.setdefault(name, []).append(words)

    def answered(name: str) -> list[dict[str, object]]:
        return results(rec) if name == "result" else answers(rec, name)

    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        for suffix, payload, _words in MALFORMED:
            await wan.publish(f"{base}/{suffix}", payload, qos=1)
        await rec.wait_for(
            lambda _m: all(len(answered(n)) >= len(w) for n, w in expected.items()), timeout=20
        )
        await raise_and_see_alerts(lab, rec, 2)  # after them: nothing stuck
        for name, words in expected.items():
            got = answered(name)
            assert len(got) == len(words), (name, got)  # exactly one answer each
            for answer, word in zip(got, words, strict=True):  # in order, within a topic
                reason = str(answer.get("reason") or answer.get("error"))
                assert answer["status"] in ("refused", "error"), answer
                assert word in reason, (word, reason)
                assert "transaction" not in answer, "an invalid transaction is never echoed"
        inbound = hub.health_snapshot()["inbound"]
        assert inbound["too_large"] == {"down/gbcs": 1, "bridge/request/permit_join": 1}
        assert inbound["failed"] == 0
        assert inbound["shed_total"] == 0
    no_tracebacks(caplog)


async def test_a_repeated_refusal_is_logged_once(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(write_config(tmp_path, broker))
    base = f"test/{config.hub_id}"
    caplog.set_level(logging.WARNING)
    async with (
        recording(broker.host, broker.port, f"{base}/down/result") as rec,
        running_hub(config),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        for _ in range(200):
            await wan.publish(f"{base}/down/gbcs", b"[1,2]", qos=1)
        await rec.wait_for(lambda _m: len(results(rec)) >= 200, timeout=20)
    lines = [r for r in caplog.records if "refused a request on down/gbcs" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]


def command_of_size(lab: Lab, size: int) -> bytes:
    """A well-formed ECS52 from the lab's supplier of exactly `size` bytes."""
    for payload_size in range(size - 64, size):
        frame = build_frame(
            cra=Cra.COMMAND,
            counter=lab.supplier.counter + 1,
            originator=lab.supplier.eui64,
            recipient=lab.esme.eui64,
            message_code=0x0059,
            payload=bytes(payload_size),
            mac_key=LAB_MAC_KEY,
        )
        if len(frame) == size:
            return frame
    raise AssertionError(f"no payload size gives a {size}-byte frame")


async def test_a_frame_larger_than_the_meters_tunnel_takes_is_refused(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full"))
    async with running_hub(config) as (hub, lab):
        small = lab.supplier.command(lab.esme.eui64, FIRMWARE_READ)
        big = command_of_size(lab, 1501)
        result = await hub.command_from_wan("big", lab.esme.eui64, big)
        assert result.status == "refused"
        assert result.reason == "1501 bytes is more than the 1500 the meter's tunnel takes"
        assert all(c.raw != big for c in lab.esme.commands_received)
        assert (await hub.command_from_wan("ok", lab.esme.eui64, small)).status == "delivered"


async def test_a_hub_task_that_ends_is_said_and_starves_the_watchdog(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.watchdog import judge  # the watchdog's own verdict

    config = load_config(write_config(tmp_path, broker))
    async with running_hub(config) as (hub, _lab):
        assert hub.health_snapshot()["status"] == "ok"

        async def breaks() -> None:
            raise RuntimeError("a bug")

        task = hub._watched("probe", breaks())
        await asyncio.gather(task, return_exceptions=True)
        snapshot = hub.health_snapshot()
        assert snapshot["status"] == "degraded"
        assert snapshot["problems"] == ["tasks: probe stopped: RuntimeError('a bug')"]
        verdict = judge(hub.health, radio_recovery=120)
        assert not verdict.ok and "probe stopped" in verdict.reason
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "the hub's probe task stopped: RuntimeError('a bug'); the watchdog is no longer fed"
    ]
