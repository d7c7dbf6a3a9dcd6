"""Frames off the air are handled at the event loop's next turn, all of one turn together.

`Hub.frame_arrived` (the router's handler) only queues; the frames of one turn are parsed,
decided and queued for the WAN back to back at the next turn. These tests pin what that must not
change: every frame is handled, in arrival order, with the time it arrived, and a failure on one
frame loses none of the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Broker, write_config
from mqtt_helpers import recording
from test_e2e import running_hub

from agent import envelope
from agent.config import load_config
from agent.consent import Mode
from agent.envelope import dedup_id
from agent.hub import Hub
from agent.policy import Decision
from gbcs.frame import Frame, parse_frame
from hal.sim.esme import SimEsme
from hal.virtual import VirtualRadioApp

SECURITY_ALERT = 0x8F3E  # critical, signed, forwarded in both modes: one priority, one order


def meters(count: int) -> list[SimEsme]:
    return [SimEsme(bytes.fromhex(f"00DB1234BA{i:06X}"), 0x2B00 + i) for i in range(count)]


async def test_frames_of_one_turn_are_handled_at_the_next_in_arrival_order(
    tmp_path: Path,
) -> None:
    hub = Hub(load_config(write_config(tmp_path, None, mode="restricted")))
    await hub.outbox.open()
    try:
        sent = [(m.eui64, m.alert(SECURITY_ALERT)) for m in meters(3) for _ in range(4)]
        before_ms = time.time_ns() // 1_000_000
        for device, data in sent:
            hub.frame_arrived(device, data)
        after_ms = time.time_ns() // 1_000_000
        time.sleep(0.05)  # noqa: ASYNC251 (the loop held on purpose: handled later than arrived)
        assert hub.counters.received == 0, "nothing is handled within the turn it arrived in"
        await asyncio.sleep(0)
        assert hub.counters.received == len(sent)
        assert hub.counters.forwarded == len(sent)
        await hub.outbox.flush()
        records = hub.outbox.take(100)
    finally:
        await hub.outbox.close()
    assert [r.dedup_id for r in records] == [dedup_id(parse_frame(data)) for _, data in sent]
    for record, (device, _data) in zip(records, sent, strict=True):
        fields = envelope_fields(record.payload)
        assert fields["device"] == device.hex().upper()
        stamped = iso_ms(str(fields["received_at"]))
        assert before_ms <= stamped <= after_ms, "received_at is when the frame arrived"


@pytest.mark.parametrize(("before", "after"), [("restricted", "full"), ("full", "restricted")])
async def test_a_frame_is_decided_under_the_consent_in_force_when_it_arrived(
    tmp_path: Path, before: str, after: str
) -> None:
    hub = Hub(load_config(write_config(tmp_path, None, mode=before)))
    meter = meters(1)[0]
    # Low credit (prepayment): forwarded in full mode, blocked in restricted mode.
    hub.frame_arrived(meter.eui64, meter.alert(0x810D, critical=False))
    # A consent change accepted in the same turn (the hub replaces its record, as
    # _on_consent_request does) does not reach back to the frame already off the air.
    hub.consent = replace(hub.consent, mode=Mode(after), reason="changed in between")
    await asyncio.sleep(0)
    if before == "full":
        assert (hub.counters.forwarded, hub.counters.blocked) == (1, 0)
        assert envelope_fields(hub.outbox._pending[0].payload)["mode"] == "full"
    else:
        assert (hub.counters.forwarded, hub.counters.blocked) == (0, 1)
    # The next frame is decided by the new record.
    hub.frame_arrived(meter.eui64, meter.alert(0x810D, critical=False))
    await asyncio.sleep(0)
    assert hub.counters.forwarded + hub.counters.blocked == 2
    assert hub.counters.forwarded == (1 if after == "full" else 0) + (1 if before == "full" else 0)


async def test_a_failure_on_one_frame_loses_none_of_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(load_config(write_config(tmp_path, None, mode="full")))
    good, bad = meters(2)
    real = envelope.upstream_envelope

    def failing_for_bad(
        frame: Frame, device: bytes, decision: Decision, mode: Mode, received_ns: int
    ) -> tuple[str, bytes]:
        if device == bad.eui64:
            raise RuntimeError("a bug in the envelope")
        return real(frame, device, decision, mode, received_ns)

    # A bug cannot be provoked with real input, so one is put in for one device.
    monkeypatch.setattr(envelope, "upstream_envelope", failing_for_bad)
    sent = [good.alert(SECURITY_ALERT), bad.alert(SECURITY_ALERT), good.alert(SECURITY_ALERT)]
    with caplog.at_level(logging.ERROR, logger="agent.hub"):
        hub.frame_arrived(good.eui64, sent[0])
        hub.frame_arrived(bad.eui64, sent[1])
        hub.frame_arrived(good.eui64, sent[2])
        await asyncio.sleep(0)
    assert hub.counters.received == 3
    assert hub.counters.failed == 1
    assert hub.counters.forwarded == 2
    assert hub.outbox.pending == 2, "both of the good meter's frames are accepted"
    [record] = [r for r in caplog.records if r.name == "agent.hub"]
    assert record.getMessage() == f"handling a frame from {bad.eui64.hex().upper()} failed"
    assert record.exc_info is not None and "a bug in the envelope" in str(record.exc_info[1])
    assert hub.counters.as_dict()["failed"] == 1
    # Handled at once (the hub's own alerts, a GSME's): the caller does not see the bug either.
    hub.on_frame(bad.eui64, bad.alert(SECURITY_ALERT))
    assert hub.counters.failed == 2


async def test_a_burst_through_the_radio_arrives_whole_and_in_order(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/up/security") as rec,
        running_hub(config) as (hub, lab),
    ):
        app = hub.app
        assert isinstance(app, VirtualRadioApp)
        frames = [lab.esme.alert(SECURITY_ALERT) for _ in range(200)]
        packets = [lab.esme.tunnel_packet(frame) for frame in frames]
        received = hub.counters.received
        for packet in packets:  # all in one turn of the loop, as a radio's burst
            app.packet_received(packet)
        await rec.wait_for(lambda messages: len(messages) >= len(frames), timeout=20)
        assert hub.counters.received - received == len(frames)
    ids = [m.json()["id"] for m in rec.messages]
    assert ids == [dedup_id(parse_frame(frame)) for frame in frames]


def envelope_fields(payload: bytes) -> dict[str, object]:
    fields = json.loads(payload)
    assert isinstance(fields, dict)
    return fields


def iso_ms(text: str) -> int:
    """Milliseconds since the epoch of an envelope's `received_at` (e.g. ...T12:00:00.123Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
