"""What the hub checks before it acts on a command to itself (CCS01/CCS02, its device log),
and that a command left retained on the broker is never acted on.

Whether or not the ACB's MAC is checked (tests/test_hub_command_mac.py), these checks stand
between a replayed or misaddressed command and the hub's whitelist: the GBCS recipient must be
the hub, and the originator counter must be above the last one accepted, across restarts.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, write_config
from mqtt_helpers import recording
from test_device_log_e2e import GOOD_CODE, NEW_METER, ccs, result, send_down
from test_e2e import running_hub

from agent.config import load_config
from agent.hub import Hub
from agent.state import StateError


async def test_a_command_addressed_to_another_hub_is_refused(tmp_path: Path) -> None:
    hub = Hub(load_config(write_config(tmp_path, None, mode="restricted")))
    other = bytes.fromhex("00DB1234567890FF")
    answer = await hub.command_from_wan("x", hub.hub_eui64, ccs(5000, other, NEW_METER, GOOD_CODE))
    assert answer.status == "refused"
    assert answer.reason == (
        "not actioned by the hub: addressed to 00DB1234567890FF, "
        f"not to this hub ({hub.hub_eui64.hex().upper()})"
    )
    assert not hub.device_log.admits(NEW_METER)


async def test_a_replayed_or_older_command_is_refused_even_after_a_restart(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, None, mode="restricted"))
    hub = Hub(config)
    add = ccs(5000, hub.hub_eui64, NEW_METER, GOOD_CODE)
    assert (await hub.command_from_wan("a", hub.hub_eui64, add)).status == "delivered"
    again = await hub.command_from_wan("b", hub.hub_eui64, add)
    assert again.status == "refused"
    assert again.reason == (
        "not actioned by the hub: replayed or out of order (counter 5000 is not above 5000, "
        "the last accepted from 90B3D51F30000002)"
    )
    older = ccs(4999, hub.hub_eui64, NEW_METER, None)  # a removal, but older than the add
    assert (await hub.command_from_wan("c", hub.hub_eui64, older)).status == "refused"
    assert hub.device_log.admits(NEW_METER)

    restarted = Hub(config)  # the same state directory: the counter was kept
    assert (await restarted.command_from_wan("d", hub.hub_eui64, older)).status == "refused"
    newer = ccs(5001, hub.hub_eui64, NEW_METER, None)
    assert (await restarted.command_from_wan("e", hub.hub_eui64, newer)).status == "delivered"
    assert not restarted.device_log.admits(NEW_METER)


def test_an_unreadable_counters_file_stops_start_up(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, None, mode="restricted"))
    config.state_dir.mkdir(parents=True, exist_ok=True)
    path = config.state_dir / "hub-commands.json"
    path.write_text('{"last_counter": {"90B3D51F30000002": "5000"}}')
    with pytest.raises(StateError, match=r"^state error: .*hub-commands\.json: unreadable"):
        Hub(config)
    assert path.read_text() == '{"last_counter": {"90B3D51F30000002": "5000"}}'


async def test_a_command_left_retained_on_the_broker_is_never_acted_on(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted"))
    base = f"test/{config.hub_id}"
    hub_eui64 = bytes.fromhex(config.hub_id)
    stale = {
        "id": "stale",
        "device": config.hub_id,
        "frame": base64.b64encode(ccs(6000, hub_eui64, NEW_METER, GOOD_CODE)).decode(),
    }
    async with aiomqtt.Client(broker.host, broker.port) as wan:
        await wan.publish(f"{base}/down/gbcs", json.dumps(stale), qos=1, retain=True)
    try:
        async with (
            recording(broker.host, broker.port, f"{base}/down/result") as rec,
            running_hub(config) as (hub, _lab),
        ):
            # A live command sent after the hub subscribed is acted on, and its result is the
            # only one: the retained one, delivered at subscription, was ignored.
            await send_down(broker, base, "live", hub_eui64, ccs(6001, hub_eui64, NEW_METER, None))
            await rec.wait_for(lambda _m: result(rec, "live") is not None, timeout=10)
            await asyncio.sleep(0.2)
            admitted = hub.device_log.admits(NEW_METER)
    finally:
        async with aiomqtt.Client(broker.host, broker.port) as wan:
            await wan.publish(f"{base}/down/gbcs", b"", qos=1, retain=True)  # clear it
    assert [m.json()["id"] for m in rec.messages] == ["live"]
    assert result(rec, "live")["reason"].endswith("was not listed")  # type: ignore[index]
    assert not admitted
