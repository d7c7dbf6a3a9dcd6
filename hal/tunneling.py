"""The Smart Energy Tunneling cluster (0x0704), which zigpy 2.4 ships only as an empty stub.

GBCS messages ride its TransferData command. Both directions have a TransferData command with
different ids (client->server 0x02, server->client 0x01); zigpy resolves a cluster attribute by
name in the client-command table first, so the two get distinct names here and nothing can send
the wrong one by accident (docs/gbcs-notes.md 8.2).

Subclassing the stub re-registers cluster id 0x0704 globally, so every endpoint zigpy creates
after this module is imported, including those loaded from its database, gets these definitions.
"""

from __future__ import annotations

from typing import Final

import zigpy.types as t
from zigpy.zcl.clusters import smartenergy
from zigpy.zcl.foundation import BaseAttributeDefs, BaseCommandDefs, ZCLAttributeDef, ZCLCommandDef

CLUSTER_ID: Final = 0x0704
PROTOCOL_GB_HRGP: Final = 6
"""ZSE tunnel protocol id for GBCS (GB-HRGP); every GBCS tunnel is requested with it."""
MANUFACTURER_CODE_NONE: Final = 0xFFFF
MAX_INCOMING_TRANSFER_SIZE: Final = 1500


class TunnelStatus(t.enum8):
    Success = 0x00
    Busy = 0x01
    No_More_Tunnel_Ids = 0x02
    Protocol_Not_Supported = 0x03
    Flow_Control_Not_Supported = 0x04


class Tunneling(smartenergy.Tunneling):
    class AttributeDefs(BaseAttributeDefs):
        close_tunnel_timeout: Final = ZCLAttributeDef(id=0x0000, type=t.uint16_t, access="r")

    class ServerCommandDefs(BaseCommandDefs):
        """Commands the tunnel server receives (sent by the tunnel client)."""

        request_tunnel: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "protocol_id": t.uint8_t,
                "manufacturer_code": t.uint16_t,
                "flow_control_support": t.Bool,
                "max_incoming_transfer_size": t.uint16_t,
            },
        )
        close_tunnel: Final = ZCLCommandDef(id=0x01, schema={"tunnel_id": t.uint16_t})
        client_transfer_data: Final = ZCLCommandDef(
            id=0x02, schema={"tunnel_id": t.uint16_t, "data": t.Bytes}
        )
        client_transfer_data_error: Final = ZCLCommandDef(
            id=0x03, schema={"tunnel_id": t.uint16_t, "status": t.uint8_t}
        )
        get_supported_tunnel_protocols: Final = ZCLCommandDef(
            id=0x06, schema={"protocol_offset": t.uint8_t}
        )

    class ClientCommandDefs(BaseCommandDefs):
        """Commands the tunnel client receives (sent by the tunnel server)."""

        request_tunnel_response: Final = ZCLCommandDef(
            id=0x00,
            schema={
                "tunnel_id": t.uint16_t,
                "tunnel_status": TunnelStatus,
                "max_incoming_transfer_size": t.uint16_t,
            },
        )
        server_transfer_data: Final = ZCLCommandDef(
            id=0x01, schema={"tunnel_id": t.uint16_t, "data": t.Bytes}
        )
        server_transfer_data_error: Final = ZCLCommandDef(
            id=0x02, schema={"tunnel_id": t.uint16_t, "status": t.uint8_t}
        )
        tunnel_closure_notification: Final = ZCLCommandDef(
            id=0x06, schema={"tunnel_id": t.uint16_t}
        )
