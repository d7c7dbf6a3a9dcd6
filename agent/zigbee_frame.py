"""A HAN packet as the IEEE 802.15.4 frame Wireshark's Zigbee and ZCL dissectors read, and back.

zigpy hands the hub a packet's APS-level fields (addresses, endpoints, profile, cluster, the ZCL
or ZDO bytes), not the frame that was on the air: the NCP removed the MAC and NWK headers and the
NWK security. For a capture (agent/han_capture.py) the frame is synthesized around those fields:

    802.15.4 MAC data frame, no FCS, intra-PAN, 16-bit addresses (one hop: MAC = NWK addresses)
    Zigbee PRO NWK data frame (protocol version 2) WITHOUT NWK security, with the 64-bit
    source/destination addresses when the hub knows them
    APS data frame, no APS security, unicast/broadcast/group as the packet was
    the ZCL or ZDO bytes, exactly as zigpy sent or received them

It is the hub's decrypted view, not what a sniffer hears: the security headers, MIC, MAC
acknowledgements, retries and APS fragmentation of the real air are not in it, and the sequence
numbers (MAC, NWK, APS counter) are the capture's own. Wireshark needs no key to read it.

Pure: no I/O. `parse` reads back what `build` writes (replay uses it on a capture file), and
raises `FrameError` on anything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

BROADCAST_MIN: Final = 0xFFF8  # NWK 0xFFF8-0xFFFF are broadcast addresses
MAC_BROADCAST: Final = 0xFFFF

# 802.15.4 frame control: data frame, PAN id compression, 16-bit destination and source.
_MAC_DATA: Final = 0x0001
_MAC_ACK_REQUEST: Final = 0x0020
_MAC_PAN_COMPRESSION: Final = 0x0040
_MAC_SHORT_ADDRESSES: Final = (2 << 10) | (2 << 14)
_MAC_SECURITY: Final = 0x0008

# Zigbee NWK frame control (Zigbee PRO, protocol version 2).
_NWK_VERSION: Final = 2 << 2
_NWK_MULTICAST: Final = 1 << 8
_NWK_SECURITY: Final = 1 << 9
_NWK_SOURCE_ROUTE: Final = 1 << 10
_NWK_DST_IEEE: Final = 1 << 11
_NWK_SRC_IEEE: Final = 1 << 12

# APS frame control.
_APS_SECURITY: Final = 1 << 5
_APS_ACK_REQUEST: Final = 1 << 6
_APS_EXTENDED: Final = 1 << 7


class Delivery(IntEnum):
    """APS delivery mode (frame control bits 2-3)."""

    UNICAST = 0
    BROADCAST = 2
    GROUP = 3


class FrameError(ValueError):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True)
class HanPacket:
    """One APS data frame between two HAN nodes. EUI-64s are 8 bytes, most significant first (as
    GBCS and zigpy's text write them); `destination` is a NWK address, or the group for GROUP."""

    source: int
    destination: int
    source_endpoint: int
    destination_endpoint: int
    profile: int
    cluster: int
    payload: bytes
    delivery: Delivery = Delivery.UNICAST
    source_eui64: bytes | None = None
    destination_eui64: bytes | None = None
    pan_id: int = 0xFFFF
    sequence: int = 0  # the MAC sequence number, the NWK one and the APS counter (mod 256)
    radius: int = 30


def build(packet: HanPacket) -> bytes:
    seq = packet.sequence & 0xFF
    unicast = packet.delivery is Delivery.UNICAST and packet.destination < BROADCAST_MIN
    mac_dst = packet.destination if unicast else MAC_BROADCAST
    mac_fc = _MAC_DATA | _MAC_PAN_COMPRESSION | _MAC_SHORT_ADDRESSES
    if unicast:
        mac_fc |= _MAC_ACK_REQUEST
    mac = struct.pack("<HBHHH", mac_fc, seq, packet.pan_id, mac_dst, packet.source)

    nwk_fc = _NWK_VERSION
    nwk_dst = MAC_BROADCAST if packet.delivery is Delivery.GROUP else packet.destination
    tail = b""
    if packet.destination_eui64 is not None and packet.delivery is not Delivery.GROUP:
        nwk_fc |= _NWK_DST_IEEE
        tail += _eui64(packet.destination_eui64)
    if packet.source_eui64 is not None:
        nwk_fc |= _NWK_SRC_IEEE
        tail += _eui64(packet.source_eui64)
    nwk = struct.pack("<HHHBB", nwk_fc, nwk_dst, packet.source, packet.radius, seq) + tail

    aps_fc = int(packet.delivery) << 2
    if packet.delivery is Delivery.GROUP:
        address = struct.pack("<H", packet.destination)
    else:
        address = bytes([packet.destination_endpoint])
    aps = (
        bytes([aps_fc])
        + address
        + struct.pack("<HHBB", packet.cluster, packet.profile, packet.source_endpoint, seq)
    )
    return mac + nwk + aps + packet.payload


def _eui64(eui64: bytes) -> bytes:
    if len(eui64) != 8:
        raise ValueError(f"an EUI-64 is 8 bytes, not {len(eui64)}")
    return eui64[::-1]  # little-endian on the air


def parse(frame: bytes) -> HanPacket:
    """The HAN packet of a frame `build` wrote (or any unsecured single-hop data frame of the
    same shape)."""
    if len(frame) < 9:
        raise FrameError(0, f"{len(frame)} bytes, too short for an 802.15.4 data frame")
    mac_fc, seq, pan_id, _mac_dst, _mac_src = struct.unpack_from("<HBHHH", frame, 0)
    if mac_fc & 0x7 != _MAC_DATA:
        raise FrameError(0, f"802.15.4 frame type {mac_fc & 0x7}, not a data frame (1)")
    if mac_fc & _MAC_SECURITY:
        raise FrameError(0, "802.15.4 security is on: not a frame the hub wrote")
    if mac_fc & ((3 << 10) | (3 << 14) | _MAC_PAN_COMPRESSION) != (
        _MAC_SHORT_ADDRESSES | _MAC_PAN_COMPRESSION
    ):
        raise FrameError(0, "not intra-PAN with 16-bit MAC addresses")
    at = 9
    if len(frame) < at + 8:
        raise FrameError(at, "too short for a Zigbee NWK header")
    nwk_fc, nwk_dst, nwk_src, radius, _nwk_seq = struct.unpack_from("<HHHBB", frame, at)
    if nwk_fc & 0x3 != 0:
        raise FrameError(at, f"Zigbee NWK frame type {nwk_fc & 0x3}, not a data frame (0)")
    if nwk_fc & _NWK_SECURITY:
        raise FrameError(at, "NWK security is on: a sniffer capture, not the hub's decrypted one")
    if nwk_fc & (_NWK_MULTICAST | _NWK_SOURCE_ROUTE):
        raise FrameError(at, "NWK multicast or source route: not a frame the hub wrote")
    at += 8
    dst_eui64 = src_eui64 = None
    if nwk_fc & _NWK_DST_IEEE:
        dst_eui64, at = _read_eui64(frame, at)
    if nwk_fc & _NWK_SRC_IEEE:
        src_eui64, at = _read_eui64(frame, at)
    if len(frame) < at + 1:
        raise FrameError(at, "no APS header")
    aps_fc = frame[at]
    if aps_fc & 0x3 != 0:
        raise FrameError(at, f"APS frame type {aps_fc & 0x3}, not a data frame (0)")
    if aps_fc & (_APS_SECURITY | _APS_EXTENDED):
        raise FrameError(at, "APS security or extended header: not a frame the hub wrote")
    mode = (aps_fc >> 2) & 0x3
    if mode == 1:
        raise FrameError(at, "APS delivery mode 1 is reserved")
    delivery = Delivery(mode)
    at += 1
    if delivery is Delivery.GROUP:
        if len(frame) < at + 2:
            raise FrameError(at, "too short for a group address")
        (destination,) = struct.unpack_from("<H", frame, at)
        destination_endpoint = 0xFF
        at += 2
    else:
        if len(frame) < at + 1:
            raise FrameError(at, "too short for a destination endpoint")
        destination, destination_endpoint = nwk_dst, frame[at]
        at += 1
    if len(frame) < at + 6:
        raise FrameError(at, "too short for the APS cluster, profile, endpoint and counter")
    cluster, profile, source_endpoint, _counter = struct.unpack_from("<HHBB", frame, at)
    at += 6
    return HanPacket(
        source=nwk_src,
        destination=destination,
        source_endpoint=source_endpoint,
        destination_endpoint=destination_endpoint,
        profile=profile,
        cluster=cluster,
        payload=bytes(frame[at:]),
        delivery=delivery,
        source_eui64=src_eui64,
        destination_eui64=dst_eui64,
        pan_id=pan_id,
        sequence=seq,
        radius=radius,
    )


def _read_eui64(frame: bytes, at: int) -> tuple[bytes, int]:
    if len(frame) < at + 8:
        raise FrameError(at, "too short for a 64-bit NWK address")
    return bytes(frame[at : at + 8][::-1]), at + 8


# -- the ZCL Tunneling TransferData a GBCS message rides -----------------------------------------

TUNNELING: Final = 0x0704
_ZCL_CLUSTER_SPECIFIC: Final = 0x01
_ZCL_MANUFACTURER: Final = 0x04
_ZCL_SERVER_TO_CLIENT: Final = 0x08
CLIENT_TRANSFER_DATA: Final = 0x02  # client -> server (the hub to an ESME; a GSME to the hub)
SERVER_TRANSFER_DATA: Final = 0x01  # server -> client (an ESME to the hub; the hub to a GSME)


@dataclass(frozen=True)
class TransferData:
    from_server: bool  # sent by the tunnel server (an ESME, or the hub to a GSME)
    tsn: int
    tunnel_id: int
    data: bytes


def transfer_data(cluster: int, zcl: bytes) -> TransferData | None:
    """The Tunneling TransferData in ZCL bytes on `cluster`, or None for any other frame."""
    if cluster != TUNNELING or len(zcl) < 3:
        return None
    control = zcl[0]
    if control & 0x3 != _ZCL_CLUSTER_SPECIFIC:
        return None
    at = 3 if not control & _ZCL_MANUFACTURER else 5
    if len(zcl) < at + 2:
        return None
    from_server = bool(control & _ZCL_SERVER_TO_CLIENT)
    command = zcl[at - 1]
    if command != (SERVER_TRANSFER_DATA if from_server else CLIENT_TRANSFER_DATA):
        return None
    (tunnel_id,) = struct.unpack_from("<H", zcl, at)
    return TransferData(from_server, zcl[at - 2], tunnel_id, bytes(zcl[at + 2 :]))
