"""The TransferData fast path against zigpy's own receive path, on the real virtual radio.

zigpy runs for real: the virtual radio, its interview of a simulated ESME, the hub's router
opening the tunnel. Each test puts a packet on the air and checks that the fast path hands the
listener exactly what zigpy's generic path hands it, or leaves the packet to zigpy when it must.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import zigpy.application
import zigpy.types as t
from zigpy.zcl import foundation

from agent.health import Health
from agent.router import HanRouter
from hal import tunnel_fast_path
from hal.radio import RadioSettings, open_radio
from hal.se_profile import PROFILE_HOME_AUTOMATION
from hal.sim.esme import SimEsme
from hal.tunneling import CLUSTER_ID as TUNNELING
from hal.tunneling import Tunneling
from hal.virtual import VirtualRadioApp

GBCS = bytes.fromhex("DD0000000000004B0E") + bytes(range(40))  # any bytes: not parsed here


class Han:
    """A virtual radio with one simulated ESME whose tunnel to the hub is open."""

    def __init__(self, app: VirtualRadioApp, esme: SimEsme, router: HanRouter) -> None:
        self.app = app
        self.esme = esme
        self.router = router
        self.frames: list[tuple[bytes, bytes]] = []
        self.heard: list[tuple[int, int, int, bytes]] = []  # what the cluster's listeners got
        device = app.get_device(ieee=esme.ieee)
        self.device = device
        self.cluster = device.endpoints[1].in_clusters[TUNNELING]
        self.cluster.add_listener(self)

    def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
        self.heard.append((tsn, command_id, args.tunnel_id, bytes(args.data)))

    def packet(self, data: bytes = GBCS, *, frame_control: int | None = None) -> t.ZigbeePacket:
        packet = self.esme.tunnel_packet(data)
        if frame_control is not None:
            raw = bytearray(packet.data.serialize())
            raw[0] = frame_control
            packet = packet.replace(data=t.SerializableBytes(bytes(raw)))
        return packet

    def through_zigpy(self, packet: t.ZigbeePacket) -> None:
        """zigpy's own receive path, as the hub took it before the fast path existed."""
        zigpy.application.ControllerApplication.packet_received(
            self.app, packet.replace(profile_id=PROFILE_HOME_AUTOMATION)
        )


@pytest.fixture
async def han(tmp_path: Path) -> AsyncIterator[Han]:
    app = await open_radio(RadioSettings(type="virtual", channel=15), tmp_path)
    assert isinstance(app, VirtualRadioApp)
    router = HanRouter(app, lambda device, data: None, Health(3600))
    router.start()
    esme = SimEsme("00DB1234FA000001", 0x3A01)
    app.attach(esme)
    try:
        async with asyncio.timeout(20):
            await router.tunnel_ready.setdefault(esme.eui64, asyncio.Event()).wait()
        net = Han(app, esme, router)
        router.on_frame = lambda device, data: net.frames.append((device, data))
        yield net
    finally:
        await router.close()
        await app.shutdown()


async def test_a_meters_transfer_data_reaches_the_listener_as_zigpy_would_hand_it(han: Han) -> None:
    fast, slow = han.packet(), han.packet()
    assert tunnel_fast_path.deliver(han.app, fast) is True
    han.through_zigpy(slow)
    assert len(han.heard) == 2
    (tsn_a, cmd_a, tunnel_a, data_a), (tsn_b, cmd_b, tunnel_b, data_b) = han.heard
    assert (cmd_a, tunnel_a, data_a) == (cmd_b, tunnel_b, data_b)
    assert cmd_a == Tunneling.ClientCommandDefs.server_transfer_data.id
    assert tunnel_a == han.esme.tunnel_id and data_a == GBCS
    assert (tsn_a, tsn_b) == (fast.data.serialize()[1], slow.data.serialize()[1])
    # The router's listener took both: the hub got the GBCS bytes with the meter's EUI-64.
    assert han.frames == [(han.esme.eui64, GBCS), (han.esme.eui64, GBCS)]


async def test_the_radio_path_takes_the_fast_path_and_keeps_zigpys_bookkeeping(han: Han) -> None:
    packet = han.packet()
    packet = packet.replace(lqi=201, rssi=-48)
    before = han.device.last_seen
    calls: list[Any] = []
    original = han.cluster.deserialize
    han.cluster.deserialize = lambda data: calls.append(data) or original(data)
    han.app.packet_received(packet)  # the SE-profile entry every radio uses
    assert calls == []  # zigpy's generic parser was not involved
    assert han.frames == [(han.esme.eui64, GBCS)]
    assert han.device.lqi == 201 and han.device.rssi == -48
    assert han.device.last_seen is not None and han.device.last_seen >= (before or 0)
    # The same frame heard twice (a MAC retry): dropped, as zigpy drops it.
    han.app.packet_received(packet)
    assert han.frames == [(han.esme.eui64, GBCS)]


@pytest.mark.parametrize(
    ("frame_control", "why"),
    [
        (0x09, "asks for a default response"),
        (0x1D, "manufacturer-specific"),
        (0x11, "client to server"),
        (0x18, "a profile-wide command"),
        (0x39, "reserved bits set"),
    ],
)
async def test_frames_outside_the_common_case_are_left_to_zigpy(
    han: Han, frame_control: int, why: str
) -> None:
    assert tunnel_fast_path.deliver(han.app, han.packet(frame_control=frame_control)) is False, why


async def test_a_default_response_request_is_answered_by_zigpy(han: Han) -> None:
    sent = han.app.tx_count
    han.app.packet_received(han.packet(frame_control=0x09))
    await asyncio.sleep(0.05)
    assert han.frames == [(han.esme.eui64, GBCS)]  # still delivered, through zigpy
    assert han.app.tx_count == sent + 1  # and zigpy sent the Default Response to the meter


async def test_short_frames_other_commands_and_unknown_devices_are_left_to_zigpy(
    han: Han,
) -> None:
    packet = han.packet()
    raw = packet.data.serialize()
    short = packet.replace(data=t.SerializableBytes(raw[:4]))
    assert tunnel_fast_path.deliver(han.app, short) is False
    other = packet.replace(data=t.SerializableBytes(raw[:2] + b"\x06" + raw[3:]))
    assert tunnel_fast_path.deliver(han.app, other) is False
    stranger = packet.replace(src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x7777))
    assert tunnel_fast_path.deliver(han.app, stranger) is False
    elsewhere = packet.replace(cluster_id=0x0702)
    assert tunnel_fast_path.deliver(han.app, elsewhere) is False
    assert han.heard == []


async def test_a_zigpy_response_listener_that_could_match_gets_the_frame_through_zigpy(
    han: Han,
) -> None:
    got: list[Any] = []
    matcher = Tunneling.ClientCommandDefs.server_transfer_data.schema(tunnel_id=None, data=None)
    with han.app.callback_for_response(han.device, [matcher], lambda hdr, cmd: got.append(cmd)):
        assert tunnel_fast_path.deliver(han.app, han.packet()) is False
        han.app.packet_received(han.packet(GBCS + b"\x01"))
    assert len(got) == 1 and bytes(got[0].data) == GBCS + b"\x01"
    # A listener for another command does not count: zigpy keeps one for Poll Control
    # check-ins on every device, and with it alone the fast path is taken.
    waiting = han.app._req_listeners.get(han.device)
    assert waiting and all(
        isinstance(m, foundation.CommandSchema) for w in waiting for m in w.matchers
    )
    assert tunnel_fast_path.deliver(han.app, han.packet(GBCS + b"\x02")) is True
