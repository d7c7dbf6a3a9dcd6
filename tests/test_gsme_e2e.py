"""The sleepy gas meter: it opens its tunnel to the hub, which queues its commands and serves
them on GET; an unpolled command expires and is reported. Real mosquitto, zigpy over the
virtual radio, restricted mode.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, write_config
from mqtt_helpers import recording
from test_consent_mqtt import TRUST_LAB, ask, signed
from test_device_log_e2e import GOOD_CODE, ccs, hub_frames, result, send_down
from test_e2e import running_hub

from agent.config import load_config
from agent.consent import Mode
from agent.hub import Hub
from agent.lab import LabCommand
from agent.state import StateError
from gbcs.frame import Cra, parse_frame
from hal.sim.gsme import SimGsme

GSME = bytes.fromhex("00DB1234567890C7")
READ_FIRMWARE = LabCommand(0x0059, critical=False)  # ECS52: firmware, allowed in restricted mode
READ_REGISTERS = LabCommand(0x0027, critical=False)  # ECS17b: a read, blocked in restricted mode


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(500):  # up to 10 s
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def joined_gsme(hub: Hub) -> SimGsme:
    """The GSME on the device log, joined, initialised and with its tunnel to the hub open."""
    assert hub.app is not None
    hub.device_log.add(GSME, GOOD_CODE)
    gsme = SimGsme(GSME, 0x1A0C)
    hub.app.attach(gsme)  # type: ignore[attr-defined]
    await until(lambda: hub.gsme.is_gsme(GSME), "the GSME to be initialised")
    gsme.request_tunnel()
    await until(lambda: gsme.tunnel_id is not None, "the GSME's tunnel")
    return gsme


async def test_gsme_queue_served_on_poll_and_expiry_reported(
    tmp_path: Path, broker: Broker
) -> None:
    extra = "[gsme]\nqueue_expiry = 1.5\nmax_queued = 2\n"
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=extra))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        gsme = await joined_gsme(hub)

        first = lab.supplier.command(GSME, READ_FIRMWARE)
        second = lab.supplier.command(GSME, READ_FIRMWARE)
        third = lab.supplier.command(GSME, READ_FIRMWARE)
        blocked = lab.supplier.command(GSME, READ_REGISTERS)
        for rid, frame in (("g-1", first), ("g-2", second), ("g-3", third), ("g-b", blocked)):
            await send_down(broker, base, rid, GSME, frame)
            await rec.wait_for(lambda _m, rid=rid: result(rec, rid) is not None, timeout=10)
        queued_then = [result(rec, rid) for rid in ("g-1", "g-2", "g-3", "g-b")]
        received_before_poll = list(gsme.commands_received)

        gsme.poll()  # wakes: gets the oldest, answers it by PUT
        await until(lambda: len(gsme.get_responses) == 1 and len(gsme.sent) == 1, "GET + PUT")
        await rec.wait_for(
            lambda _m: (
                any("/up/" in m.topic for m in rec.messages)
                and any(
                    m.json().get("reason") == "served on the GSME's GET"
                    for m in rec.on("/down/result")
                )
            ),
            timeout=10,
        )
        # g-2 is never polled: it expires and is reported.
        await rec.wait_for(
            lambda _m: any(m.json()["status"] == "expired" for m in rec.on("/down/result")),
            timeout=10,
        )
        await rec.wait_for(lambda _m: len(hub_frames(rec, hub)) >= 1, timeout=10)
        gsme.poll()
        await until(lambda: len(gsme.get_responses) == 2, "the second GET-RESPONSE")
        alert = gsme.raise_alert(0x8F3E)  # an alert also goes to the hub by PUT
        await rec.wait_for(lambda _m: any("/up/security" in m.topic for m in rec.messages), 10)
        health = hub.health_snapshot()

    assert [r["status"] for r in queued_then] == ["queued", "queued", "refused", "blocked"]  # type: ignore[index]
    assert queued_then[0]["reason"].endswith("queued for the GSME's next GET (expires in 1.5 s)")  # type: ignore[index]
    assert queued_then[2]["reason"] == "the GSME's queue is full (2 commands waiting)"  # type: ignore[index]
    assert received_before_poll == []  # nothing is pushed to a sleepy meter
    assert gsme.get_responses[0] == (1, first)  # 02 01 + the command, unchanged
    assert [c.raw for c in gsme.commands_received] == [first]
    assert gsme.get_responses[1] == (0, b"")  # 02 00: nothing waits any more
    results = {(m.json()["id"], m.json()["status"]): m.json() for m in rec.on("/down/result")}
    assert ("g-1", "delivered") in results
    assert results[("g-2", "expired")]["reason"] == "not retrieved by the GSME within 1.5 s"
    assert ("g-2", "delivered") not in results
    # The GSME's response came up by PUT, unchanged, on up/firmware.
    ups = [m for m in rec.messages if "/up/" in m.topic]
    response = [
        m for m in ups if parse_frame(base64.b64decode(m.json()["frame"])).originator == GSME
    ]
    assert len(response) == 2 and response[0].topic.endswith("/up/firmware")
    assert response[1].topic.endswith("/up/security")
    assert base64.b64decode(response[1].json()["frame"]) == alert
    assert base64.b64decode(response[0].json()["frame"]) == gsme.sent[0]
    assert parse_frame(gsme.sent[0]).cra is Cra.RESPONSE
    # The expiry also raised the hub's signed 0x00D5 naming the command, never its content.
    [(topic, alert)] = [(t, f) for t, f in hub_frames(rec, hub) if f.message_code == 0x00D5]
    assert topic == "critical_alert"
    expired = parse_frame(second)
    assert (
        expired.counter.to_bytes(8, "big") in alert.payload and expired.payload not in alert.payload
    )
    assert health["gsme"][GSME.hex().upper()] == {  # type: ignore[index]
        "tunnel": True,
        "queued": 0,
        "served": 1,
        "expired": 1,
        "frames_in": 2,
    }


async def test_a_switch_to_restricted_withdraws_what_the_gsme_has_not_collected(
    tmp_path: Path, broker: Broker
) -> None:
    # Queued under full mode, a read must not reach the GSME after the consumer opts out: it
    # is answered `blocked`, and the GSME's next GET finds only what restricted mode allows.
    config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        gsme = await joined_gsme(hub)
        read = lab.supplier.command(GSME, READ_REGISTERS)
        firmware = lab.supplier.command(GSME, READ_FIRMWARE)
        for rid, frame in (("w-read", read), ("w-fw", firmware)):
            await send_down(broker, base, rid, GSME, frame)
            await rec.wait_for(lambda _m, rid=rid: result(rec, rid) is not None, timeout=10)
        answer = await ask(wan, rec, base, signed(config.hub_id, Mode.RESTRICTED, 7100), "c")
        assert answer["status"] == "ok"
        await rec.wait_for(
            lambda _m: any(m.json()["status"] == "blocked" for m in rec.on("/down/result")), 10
        )
        queued_after = hub.gsme.stats()[GSME.hex().upper()]["queued"]  # type: ignore[index]
        gsme.poll()
        await until(lambda: len(gsme.get_responses) == 1, "the GET-RESPONSE")

    statuses = [(m.json()["id"], m.json()["status"]) for m in rec.on("/down/result")]
    assert statuses[:2] == [("w-read", "queued"), ("w-fw", "queued")]
    [withdrawn] = [m.json() for m in rec.on("/down/result") if m.json()["status"] == "blocked"]
    assert withdrawn["id"] == "w-read" and withdrawn["message_code"] == "0x0027"
    assert withdrawn["reason"].startswith("restricted by consumer choice: ")
    assert withdrawn["reason"].endswith("(the policy changed while it waited for the GSME)")
    assert queued_after == 1
    assert gsme.get_responses[0] == (0, firmware)  # the read is gone; the firmware read stays
    assert [c.raw for c in gsme.commands_received] == [firmware]


async def test_the_gsme_queue_survives_a_restart(tmp_path: Path, broker: Broker) -> None:
    # A supplier told "queued" must get the command delivered, or hear it expired, even if the
    # hub restarts meanwhile: one command is served after the restart, the other expires while
    # the hub is down and is reported at the next start.
    extra = "[gsme]\nqueue_expiry = 3\n"
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=extra))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        await joined_gsme(hub)
        kept = lab.supplier.command(GSME, READ_FIRMWARE)
        await send_down(broker, base, "r-1", GSME, kept)
        await rec.wait_for(lambda _m: result(rec, "r-1") is not None, timeout=10)
    saved = json.loads((config.state_dir / "gsme-queue.json").read_text())
    assert [q["request_id"] for q in saved["queued"]] == ["r-1"]

    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, _lab),
    ):
        assert hub.gsme.stats()[GSME.hex().upper()]["queued"] == 1  # type: ignore[index]
        gsme = await joined_gsme(hub)
        gsme.poll()
        await until(lambda: len(gsme.get_responses) == 1, "the GET-RESPONSE")
        await rec.wait_for(
            lambda _m: any(m.json()["status"] == "delivered" for m in rec.on("/down/result")), 10
        )
        expiring = lab.supplier.command(GSME, READ_FIRMWARE)
        await send_down(broker, base, "r-2", GSME, expiring)
        await rec.wait_for(lambda _m: result(rec, "r-2") is not None, timeout=10)
    assert gsme.get_responses[0] == (0, kept)
    await asyncio.sleep(3.5)  # r-2 expires while no hub runs

    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, _lab),
    ):
        await rec.wait_for(
            lambda _m: any(m.json()["status"] == "expired" for m in rec.on("/down/result")), 10
        )
        await rec.wait_for(lambda _m: len(hub_frames(rec, hub)) >= 1, timeout=10)
    [expired] = [m.json() for m in rec.on("/down/result") if m.json()["status"] == "expired"]
    assert expired["id"] == "r-2"
    assert [f.message_code for _t, f in hub_frames(rec, hub)] == [0x00D5]
    assert json.loads((config.state_dir / "gsme-queue.json").read_text())["queued"] == []


async def test_a_gsme_removed_from_the_device_log_is_forgotten_with_its_queue(
    tmp_path: Path, broker: Broker
) -> None:
    # Removed by CCS02, the GSME will never collect what waits for it: the supplier hears so at
    # once (not 24 h later as `expired`), and the GSME leaves health and the saved queues.
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    base = f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        await joined_gsme(hub)
        await send_down(broker, base, "q-1", GSME, lab.supplier.command(GSME, READ_FIRMWARE))
        await rec.wait_for(lambda _m: result(rec, "q-1") is not None, timeout=10)
        removal = ccs(int(time.time() * 1000), hub.hub_eui64, GSME, None)
        await send_down(broker, base, "rm", hub.hub_eui64, removal)
        await rec.wait_for(lambda _m: result(rec, "rm") is not None, timeout=10)
        await rec.wait_for(lambda _m: len(rec.on("/down/result")) >= 3, timeout=10)
        assert GSME.hex().upper() not in hub.gsme.stats()
        assert not hub.gsme.is_gsme(GSME)

    answers = [(m.json()["id"], m.json()["status"]) for m in rec.on("/down/result")]
    assert answers == [("q-1", "queued"), ("q-1", "refused"), ("rm", "delivered")]
    refused = rec.on("/down/result")[1].json()
    assert refused["reason"] == (
        "not delivered: the GSME was removed from the device log while it waited"
    )
    assert json.loads((config.state_dir / "gsme-queue.json").read_text())["queued"] == []


def test_unreadable_gsme_queues_stop_start_up(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, None, mode="restricted"))
    config.state_dir.mkdir(parents=True, exist_ok=True)
    path = config.state_dir / "gsme-queue.json"
    path.write_text('{"format": 1, "queued": [{"request_id": "x", "device": "00DB"}]}')
    with pytest.raises(StateError, match=r"^state error: .*gsme-queue\.json: unreadable"):
        Hub(config)
