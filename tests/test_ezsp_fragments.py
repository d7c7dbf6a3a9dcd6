"""The EZSP radio sends long unicasts as APS fragments, through bellows' real EZSP objects.

bellows' EZSP object, its protocol handler (the command table and schemas of the EZSP version
under test) and the hub's EzspRadioApp run unchanged; only the serial link and the NCP are a
stand-in (tests/ezsp_stand_in.py), since no dongle runs here. Commands go down the way the hub
sends them: a Tunneling TransferData through zigpy's cluster command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bellows.ezsp
import bellows.types as bt
import pytest
import zigpy.config
import zigpy.endpoint
import zigpy.exceptions
import zigpy.types as t
from ezsp_stand_in import StandInNcp

from gbcs import signature
from gbcs.frame import Cra, build_frame
from hal import aps_fragments
from hal.ezsp import EzspRadioApp
from hal.radio import RadioSettings, zigpy_config
from hal.tunneling import MAX_INCOMING_TRANSFER_SIZE, Tunneling

METER_IEEE = t.EUI64.convert("00:db:12:34:56:78:90:a0")
METER_NWK = 0x1A01
TUNNEL_ID = 7
SUPPLIER = signature.generate_key()
LATEST = max(bellows.ezsp.EZSP._BY_VERSION)


def signed_command(payload_len: int = 48) -> bytes:
    """A signed critical GBCS command (CS06-like) with a GBCS MAC, as the WAN sends one."""
    return build_frame(
        cra=Cra.COMMAND,
        counter=0x0100000000000042,
        originator=bytes.fromhex("90B3D51F30010000"),
        recipient=bytes(METER_IEEE)[::-1],
        message_code=0x0012,
        payload=bytes(i % 251 for i in range(payload_len)),
        signer=lambda d: signature.sign(SUPPLIER, d),
        mac_key=bytes(16),
    )


async def make_app(tmp_path: Path, ncp: StandInNcp) -> EzspRadioApp:
    settings = RadioSettings(type="ezsp", path="/dev/ttyUSB-stand-in")
    app = EzspRadioApp(zigpy_config(settings, tmp_path))
    app._ezsp = ncp.ezsp
    ncp.neighbours[METER_IEEE] = METER_NWK
    ncp.ezsp.add_callback(app.ezsp_callback_handler)
    app.controller_event.set()
    device = app.add_device(METER_IEEE, METER_NWK)
    endpoint = device.add_endpoint(1)
    endpoint.profile_id = 0x0109
    endpoint.add_input_cluster(Tunneling.cluster_id)
    endpoint.status = zigpy.endpoint.Status.ZDO_INIT
    return app


@pytest.fixture(params=[13, LATEST], ids=lambda v: f"ezsp-v{v}")
async def version(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    yield request.param


async def transfer(app: EzspRadioApp, gbcs: bytes) -> None:
    """What agent/router.py does to send GBCS bytes down a tunnel."""
    device: Any = app.get_device(ieee=METER_IEEE)
    await (
        device.endpoints[1]
        .in_clusters[Tunneling.cluster_id]
        .command(
            Tunneling.ServerCommandDefs.client_transfer_data.id,
            tunnel_id=TUNNEL_ID,
            data=t.Bytes(gbcs),
            expect_reply=False,
        )
    )


def zcl_payload_of(gbcs: bytes, ncp: StandInNcp) -> bytes:
    """The ZCL frame the NCP got: header (3) + tunnel id (2) + the GBCS bytes, unchanged."""
    payload = ncp.delivered[-1]
    assert payload[3:5] == TUNNEL_ID.to_bytes(2, "little")
    assert payload[5:] == gbcs
    return payload


async def test_a_signed_command_goes_as_blocks_and_reassembles_exactly(
    tmp_path: Path, version: int
) -> None:
    ncp = StandInNcp(version=version, window=1)
    app = await make_app(tmp_path, ncp)
    command = signed_command()
    assert len(command) + 5 >= 150
    await transfer(app, command)

    zcl = zcl_payload_of(command, ncp)
    assert ncp.checked == [zcl] and not ncp.refusals
    blocks = ncp.unicasts
    count = -(-len(zcl) // aps_fragments.max_aps_payload(fragment=True))
    assert len(blocks) == count >= 2
    assert [u.aps_frame.groupId for u in blocks] == [(count << 8) | i for i in range(count)]
    fragment = bt.EmberApsOption.APS_OPTION_FRAGMENT
    assert all(u.aps_frame.options & fragment for u in blocks)
    assert all(u.aps_frame.options & bt.EmberApsOption.APS_OPTION_RETRY for u in blocks)
    # one message on air: later blocks carry the APS counter the NCP gave block 0
    assert {u.aps_sequence for u in blocks} == {blocks[0].aps_sequence}
    assert {u.aps_frame.sequence for u in blocks[1:]} == {blocks[0].aps_sequence}
    assert {u.aps_frame.clusterId for u in blocks} == {Tunneling.cluster_id}
    assert all(len(u.data) <= aps_fragments.max_aps_payload(fragment=True) for u in blocks)
    assert ncp.max_in_flight == 1
    assert not app._pending_requests  # every tag bellows tracked is released


async def test_the_window_is_the_ncps_and_never_exceeded(tmp_path: Path) -> None:
    ncp = StandInNcp(version=LATEST, window=3, confirm_delay=0.02)
    app = await make_app(tmp_path, ncp)
    command = signed_command(600)
    await transfer(app, command)
    zcl = zcl_payload_of(command, ncp)
    assert ncp.checked == [zcl] and not ncp.refusals
    assert len(ncp.unicasts) > 6
    assert ncp.max_in_flight == 3
    assert ncp.commands.count("getConfigurationValue") == 1  # asked once, then kept


async def test_the_largest_command_the_hub_carries_reassembles_intact(tmp_path: Path) -> None:
    """A signed command filling a meter's whole tunnel (the router refuses anything larger)."""
    ncp = StandInNcp(version=LATEST, window=8)
    app = await make_app(tmp_path, ncp)
    size = MAX_INCOMING_TRANSFER_SIZE - len(signed_command(0))
    while len(command := signed_command(size)) > MAX_INCOMING_TRANSFER_SIZE:
        size -= 1  # the BER lengths grow with the payload
    assert len(command) >= MAX_INCOMING_TRANSFER_SIZE - 2
    await transfer(app, command)
    zcl_payload_of(command, ncp)
    assert ncp.checked == [ncp.delivered[0]] and not ncp.refusals


async def test_a_block_not_delivered_fails_the_command_with_its_number(
    tmp_path: Path, version: int
) -> None:
    def lose_the_second(u: Any) -> bt.sl_Status:
        if u.aps_frame.groupId & 0xFF == 1:
            return bt.sl_Status.ZIGBEE_DELIVERY_FAILED
        return bt.sl_Status.OK

    ncp = StandInNcp(version=version, outcome=lose_the_second)
    app = await make_app(tmp_path, ncp)
    with pytest.raises(zigpy.exceptions.DeliveryError) as failed:
        await transfer(app, signed_command())
    assert str(failed.value).startswith("APS fragment 2 of ")
    assert str(failed.value).endswith(
        f"not delivered: ZIGBEE_DELIVERY_FAILED (to 0x{METER_NWK:04X})"
    )
    # zigpy retries a failed request twice, forcing route discovery; each attempt is a new
    # message (its own APS counter) and stops at the failed block
    assert [u.aps_frame.groupId & 0xFF for u in ncp.unicasts] == [0, 1] * 3
    assert len({u.aps_sequence for u in ncp.unicasts}) == 3
    force = bt.EmberApsOption.APS_OPTION_FORCE_ROUTE_DISCOVERY
    assert [bool(u.aps_frame.options & force) for u in ncp.unicasts] == [False] * 2 + [True] * 4
    assert not ncp.delivered and not app._pending_requests


async def test_a_lost_confirmation_times_out_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bellows' own waits for a messageSentHandler (3 s mains, 8 s sleepy), shortened
    monkeypatch.setattr("hal.ezsp.MESSAGE_SEND_TIMEOUT_MAINS", 0.3)
    monkeypatch.setattr("hal.ezsp.MESSAGE_SEND_TIMEOUT_BATTERY", 0.3)
    ncp = StandInNcp(
        version=LATEST,
        outcome=lambda u: None if u.aps_frame.groupId & 0xFF == 2 else bt.sl_Status.OK,
    )
    app = await make_app(tmp_path, ncp)
    with pytest.raises(zigpy.exceptions.DeliveryError, match="APS fragment 3 of ") as failed:
        await transfer(app, signed_command())
    assert "not confirmed: no messageSentHandler from the NCP within 0.3 s (to 0x1A01)" in str(
        failed.value
    )
    assert not app._pending_requests


async def test_small_frames_go_as_before_in_one_unicast(tmp_path: Path) -> None:
    ncp = StandInNcp(version=LATEST)
    app = await make_app(tmp_path, ncp)
    short = bytes(range(aps_fragments.MAX_APS_PAYLOAD - 5))  # exactly the 82-byte limit
    await transfer(app, short)
    (only,) = ncp.unicasts
    assert only.data[5:] == short and len(only.data) == aps_fragments.MAX_APS_PAYLOAD
    assert not only.aps_frame.options & bt.EmberApsOption.APS_OPTION_FRAGMENT
    assert only.aps_frame.groupId == 0
    assert "getConfigurationValue" not in ncp.commands
    assert not ncp.refusals
    # the blocks of a long one carry the very APS frame bellows built for the short one
    await transfer(app, signed_command())
    first = ncp.unicasts[1].aps_frame
    fragment = bt.EmberApsOption.APS_OPTION_FRAGMENT
    assert first.options == only.aps_frame.options | fragment
    for name in ("profileId", "clusterId", "sourceEndpoint", "destinationEndpoint"):
        assert getattr(first, name) == getattr(only.aps_frame, name)


async def test_the_stand_in_refuses_an_unfragmented_long_payload(tmp_path: Path) -> None:
    """What the hub would meet on a real NCP without fragmentation: bellows' own send."""
    ncp = StandInNcp(version=LATEST)
    app = await make_app(tmp_path, ncp)
    packet = t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000),
        src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=METER_NWK),
        dst_ep=1,
        tsn=1,
        profile_id=0x0109,
        cluster_id=Tunneling.cluster_id,
        data=t.SerializableBytes(bytes(150)),
        tx_options=t.TransmitOptions.ACK,
    )
    with pytest.raises(zigpy.exceptions.DeliveryError, match="MESSAGE_TOO_LONG"):
        await super(EzspRadioApp, app).send_packet(packet)
    assert ncp.refusals == ["150 bytes over the 82-byte APS limit"]


async def test_a_block_the_ncp_refuses_fails_the_command_with_the_ncps_status(
    tmp_path: Path,
) -> None:
    ncp = StandInNcp(version=LATEST, hidden_overhead=4)
    app = await make_app(tmp_path, ncp)
    with pytest.raises(zigpy.exceptions.DeliveryError) as failed:
        await transfer(app, signed_command())
    assert str(failed.value).startswith("APS fragment 1 of ")
    assert str(failed.value).endswith("refused by the NCP: MESSAGE_TOO_LONG (to 0x1A01)")
    assert not ncp.unicasts and not app._pending_requests


def test_limits_follow_encryption_and_source_routes(tmp_path: Path) -> None:
    settings = RadioSettings(type="ezsp", path="/dev/ttyUSB-stand-in")
    app = EzspRadioApp(zigpy_config(settings, tmp_path))

    def packet(**kw: Any) -> t.ZigbeePacket:
        return t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000),
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=METER_NWK),
            data=t.SerializableBytes(b""),
            **kw,
        )

    assert app.aps_payload_limit(packet(), fragment=False) == 82
    assert app.aps_payload_limit(packet(), fragment=True) == 80
    secured = packet(tx_options=t.TransmitOptions.APS_Encryption)
    assert app.aps_payload_limit(secured, fragment=False) == 73
    assert app.aps_payload_limit(secured, fragment=True) == 71
    routed = packet(source_route=[0x1111, 0x2222])
    assert app.aps_payload_limit(routed, fragment=False) == 82 - 2 - 4
    app.config[zigpy.config.CONF_SOURCE_ROUTING] = True  # the NCP may route on its own
    assert app.aps_payload_limit(secured, fragment=True) == 61
