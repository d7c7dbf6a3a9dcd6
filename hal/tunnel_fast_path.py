"""A meter's TransferData, read without zigpy's generic ZCL parsing.

Every GBCS frame a meter sends rides one server->client TransferData (docs/gbcs-notes.md 5.2). zigpy
reads each incoming ZCL frame through its generic Struct machinery, the header twice and the payload
once, with an `inspect.Signature.bind` per Struct: about 300 µs of CPU per frame on the bench
machine, more than everything the hub does with the frame (BENCHMARKS.md, end to end). On a Pi
that is several times more. This frame's layout is fixed, so it is read here in a few µs:

    frame control (1) | TSN (1) | command id 0x01 (1) | tunnel id (2, little-endian) | GBCS

and handed to the Tunneling cluster's listeners exactly as zigpy's `Cluster.handle_message`
would hand it: `cluster_command(tsn, command_id, args)` with `args.tunnel_id` and `args.data`.
The device bookkeeping zigpy does for every packet is kept: LQI, RSSI, its duplicate-packet
filter, and last seen (to the second: zigpy stores it only every 30 s anyway).

Only the exact common case takes this path. Everything else goes through zigpy unchanged: any
other cluster or command, a manufacturer-specific frame, a frame that asks for a default
response (zigpy sends it), reserved frame-control bits, a frame too short to hold a tunnel id, a
device zigpy does not know or has not initialised, an endpoint without the Tunneling cluster
zigpy would hand the frame to, a device with a request in flight (zigpy matches responses by TSN
alone), and any packet a zigpy response listener could want (one waiting for TransferData, or
matching by a function).
zigpy registers a Poll Control check-in listener on every device; it cannot match TransferData
and does not send the frame the slow way.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import zigpy.application
import zigpy.endpoint
import zigpy.listeners
import zigpy.types as t
from zigpy.zcl import foundation

from hal.tunneling import CLUSTER_ID as TUNNELING
from hal.tunneling import Tunneling

# Cluster-specific frame, not manufacturer-specific, server to client, default response off.
FRAME_CONTROL: int = 0x19
SERVER_TRANSFER_DATA: int = Tunneling.ClientCommandDefs.server_transfer_data.id
_SCHEMA: type[foundation.CommandSchema] = Tunneling.ClientCommandDefs.server_transfer_data.schema
HEADER_LENGTH = 5  # frame control, TSN, command id, tunnel id
LAST_SEEN_RESOLUTION = 1.0  # seconds


class TransferData(NamedTuple):
    """The arguments of a TransferData, with the two names zigpy's schema gives them."""

    tunnel_id: int
    data: bytes


def deliver(app: zigpy.application.ControllerApplication, packet: t.ZigbeePacket) -> bool:
    """Deliver `packet` if it is a plain server->client TransferData; False: zigpy's turn."""
    if packet.cluster_id != TUNNELING:
        return False
    data = packet.data.serialize()
    if len(data) < HEADER_LENGTH or data[0] != FRAME_CONTROL or data[2] != SERVER_TRANSFER_DATA:
        return False
    try:
        device: Any = app.get_device_with_address(packet.src)
    except KeyError:
        return False  # zigpy asks the unknown device who it is
    if not device.is_initialized or device._requests or _someone_waits(app, device):
        return False
    endpoint = device.endpoints.get(packet.src_ep)
    if not isinstance(endpoint, zigpy.endpoint.Endpoint):
        return False
    cluster = endpoint.in_clusters.get(TUNNELING)
    if cluster is None:
        return False
    # zigpy writes last_seen to its database on every change (an UPDATE a frame, which it then
    # ignores unless 30 s have passed); to the second is all the hub or zigpy needs of it.
    last_seen = device.last_seen
    if last_seen is None or packet.timestamp.timestamp() - last_seen >= LAST_SEEN_RESOLUTION:
        device.last_seen = packet.timestamp
    if packet.lqi is not None:
        device.lqi = packet.lqi
    if packet.rssi is not None:
        device.rssi = packet.rssi
    if device._should_filter_packet(packet):
        return True  # the same frame heard twice: dropped, as zigpy drops it
    args = TransferData(int.from_bytes(data[3:5], "little"), bytes(data[5:]))
    cluster.listener_event("cluster_command", data[1], SERVER_TRANSFER_DATA, args)
    return True


def _someone_waits(app: zigpy.application.ControllerApplication, device: Any) -> bool:
    """Could one of zigpy's response listeners match this TransferData (as its resolve would)?"""
    # .get, not [ ]: _req_listeners is a defaultdict and indexing it would add entries.
    listeners = app._req_listeners
    for waiting in (listeners.get(zigpy.listeners.ANY_DEVICE), listeners.get(device)):
        for listener in waiting or ():
            for matcher in listener.matchers:
                if not isinstance(matcher, foundation.CommandSchema):
                    return True  # a function: it could match anything
                if issubclass(_SCHEMA, type(matcher)) or isinstance(matcher, _SCHEMA):
                    return True
    return False
