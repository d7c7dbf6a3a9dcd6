"""The Smart Energy Key Establishment cluster (0x0800), which zigpy 2.4 ships as an empty stub.

Command ids and fields from the ZigBee Smart Energy profile 1.x, Annex C.3.1 (server receives:
Initiate Key Establishment Request 0x00, Ephemeral Data Request 0x01, Confirm Key Data Request
0x02, Terminate Key Establishment 0x03; client receives the matching responses 0x00-0x02 and its
own Terminate 0x03). The certificate, ephemeral data and MAC are carried as the rest of the
payload (`t.Bytes`): their length depends on the suite (74/37/16 bytes for suite 2), and the
sans-I/O machine (hal/key_establishment.py) refuses a wrong length with BAD_MESSAGE instead of a
parse error. Both directions have a Terminate with the same id; like the Tunneling cluster
(hal/tunneling.py) the two get distinct names so nothing sends the wrong one by accident.

Subclassing the stub re-registers cluster id 0x0800 globally, as hal/tunneling.py does for 0x0704.
"""

from __future__ import annotations

from typing import Any, Final

import zigpy.types as t
from zigpy.zcl.clusters import smartenergy
from zigpy.zcl.foundation import BaseAttributeDefs, BaseCommandDefs, ZCLAttributeDef, ZCLCommandDef

from hal import key_establishment as ke

CLUSTER_ID: Final = 0x0800

_INITIATE = {
    "key_establishment_suite": t.bitmap16,
    "ephemeral_data_generate_time": t.uint8_t,
    "confirm_key_generate_time": t.uint8_t,
    "identity": t.Bytes,
}
_TERMINATE = {
    "status_code": t.uint8_t,
    "wait_time": t.uint8_t,
    "key_establishment_suite": t.bitmap16,
}


class KeyEstablishment(smartenergy.KeyEstablishment):
    class AttributeDefs(BaseAttributeDefs):
        key_establishment_suite: Final = ZCLAttributeDef(
            id=0x0000, type=t.enum16, access="r", mandatory=True
        )

    class ServerCommandDefs(BaseCommandDefs):
        """Commands the server receives (the initiator, as client, sends them)."""

        initiate_key_establishment: Final = ZCLCommandDef(id=0x00, schema=_INITIATE)
        ephemeral_data: Final = ZCLCommandDef(id=0x01, schema={"ephemeral_data": t.Bytes})
        confirm_key_data: Final = ZCLCommandDef(id=0x02, schema={"mac": t.Bytes})
        client_terminate_key_establishment: Final = ZCLCommandDef(id=0x03, schema=_TERMINATE)

    class ClientCommandDefs(BaseCommandDefs):
        """Commands the client receives (the responder, as server, sends them)."""

        initiate_key_establishment_response: Final = ZCLCommandDef(id=0x00, schema=_INITIATE)
        ephemeral_data_response: Final = ZCLCommandDef(id=0x01, schema={"ephemeral_data": t.Bytes})
        confirm_key_data_response: Final = ZCLCommandDef(id=0x02, schema={"mac": t.Bytes})
        server_terminate_key_establishment: Final = ZCLCommandDef(id=0x03, schema=_TERMINATE)


def command_for(message: ke.Message, *, from_server: bool) -> tuple[ZCLCommandDef, dict[str, Any]]:
    """The cluster command and its arguments for a sans-I/O message.

    `from_server` says which side of the cluster sends it: requests go client -> server,
    responses server -> client, and a Terminate either way.
    """
    server = KeyEstablishment.ServerCommandDefs
    client = KeyEstablishment.ClientCommandDefs
    if isinstance(message, ke.InitiateRequest | ke.InitiateResponse):
        cmd = (
            server.initiate_key_establishment
            if isinstance(message, ke.InitiateRequest)
            else client.initiate_key_establishment_response
        )
        return cmd, {
            "key_establishment_suite": message.suite,
            "ephemeral_data_generate_time": message.ephemeral_data_generate_time,
            "confirm_key_generate_time": message.confirm_key_generate_time,
            "identity": t.Bytes(message.identity),
        }
    if isinstance(message, ke.EphemeralDataRequest):
        return server.ephemeral_data, {"ephemeral_data": t.Bytes(message.ephemeral_data)}
    if isinstance(message, ke.EphemeralDataResponse):
        return client.ephemeral_data_response, {"ephemeral_data": t.Bytes(message.ephemeral_data)}
    if isinstance(message, ke.ConfirmKeyRequest):
        return server.confirm_key_data, {"mac": t.Bytes(message.mac)}
    if isinstance(message, ke.ConfirmKeyResponse):
        return client.confirm_key_data_response, {"mac": t.Bytes(message.mac)}
    cmd = (
        client.server_terminate_key_establishment
        if from_server
        else server.client_terminate_key_establishment
    )
    return cmd, {
        "status_code": message.status,
        "wait_time": message.wait_time,
        "key_establishment_suite": message.suite,
    }


def message_from(command_id: int, args: Any, *, from_server: bool) -> ke.Message:
    """The sans-I/O message for a received command (args: the schema's parsed struct)."""
    if command_id == 0x03:
        return ke.Terminate(
            int(args.status_code), int(args.wait_time), int(args.key_establishment_suite)
        )
    if command_id == 0x00:
        fields = (
            int(args.key_establishment_suite),
            int(args.ephemeral_data_generate_time),
            int(args.confirm_key_generate_time),
            bytes(args.identity),
        )
        return ke.InitiateResponse(*fields) if from_server else ke.InitiateRequest(*fields)
    if command_id == 0x01:
        data = bytes(args.ephemeral_data)
        return ke.EphemeralDataResponse(data) if from_server else ke.EphemeralDataRequest(data)
    if command_id == 0x02:
        mac = bytes(args.mac)
        return ke.ConfirmKeyResponse(mac) if from_server else ke.ConfirmKeyRequest(mac)
    raise ValueError(f"Key Establishment: unknown command id {command_id:#04x}")
