"""A simulated gas meter (GSME): sleepy, and the tunnel *client* (docs/gbcs-notes.md 5.2).

Unlike the ESME, the GSME opens its tunnel to the hub (the CHF is the tunnel server) and never
gets a command pushed to it: when it wakes it sends GET (`01`), the hub answers GET-RESPONSE
(`02 nn` then one GBCS command, or nothing when its queue is empty; `nn` is how many are still
waiting), and the GSME sends its response, and any alert, as PUT (`03` + the GBCS message). The
GBCS side (responses, alerts, signing) is the ESME's.
"""

from __future__ import annotations

import logging

import zigpy.types as t
from zigpy.zcl import foundation

from gbcs import tunnel
from gbcs.wire import FrameError
from hal.sim.esme import SimEsme
from hal.tunneling import CLUSTER_ID as TUNNELING
from hal.tunneling import (
    MANUFACTURER_CODE_NONE,
    MAX_INCOMING_TRANSFER_SIZE,
    PROTOCOL_GB_HRGP,
    Tunneling,
    TunnelStatus,
)

LOGGER = logging.getLogger(__name__)


class SimGsme(SimEsme):
    kind = "gsme"
    device_type = 0x0501
    input_clusters = (0x0000, 0x0003, 0x0702)
    output_clusters = (0x000A, 0x0019, TUNNELING)
    mains_powered = False

    def __init__(self, ieee: str | bytes, nwk: int, **kwargs: object) -> None:
        super().__init__(ieee, nwk, **kwargs)  # type: ignore[arg-type]
        self.tunnel_status: TunnelStatus | None = None
        self.get_responses: list[tuple[int, bytes]] = []  # (nn, message) per GET-RESPONSE

    def request_tunnel(self) -> None:
        cmd = Tunneling.ServerCommandDefs.request_tunnel
        self.send(
            self.cluster_command_packet(
                TUNNELING,
                cmd.id,
                {
                    "protocol_id": PROTOCOL_GB_HRGP,
                    "manufacturer_code": MANUFACTURER_CODE_NONE,
                    "flow_control_support": False,
                    "max_incoming_transfer_size": MAX_INCOMING_TRANSFER_SIZE,
                },
                cmd.schema,
                direction=foundation.Direction.Client_to_Server,
            )
        )

    def poll(self) -> None:
        """Wake up and ask the hub for what is queued (GET)."""
        self.send(self._transfer(tunnel.get()))

    def _transfer(self, data: bytes) -> t.ZigbeePacket:
        if self.tunnel_id is None:
            raise RuntimeError(f"{self.model} has no tunnel open to the hub")
        cmd = Tunneling.ServerCommandDefs.client_transfer_data
        return self.cluster_command_packet(
            TUNNELING,
            cmd.id,
            {"tunnel_id": self.tunnel_id, "data": t.Bytes(data)},
            cmd.schema,
            direction=foundation.Direction.Client_to_Server,
        )

    def tunnel_packet(self, frame: bytes) -> t.ZigbeePacket:
        """A response or alert goes to the hub as PUT."""
        self.sent.append(frame)
        return self._transfer(tunnel.put(frame))

    def handle_cluster_command(
        self, packet: t.ZigbeePacket, hdr: foundation.ZCLHeader, payload: bytes
    ) -> list[t.ZigbeePacket]:
        if packet.cluster_id != TUNNELING:
            return super().handle_cluster_command(packet, hdr, payload)
        if hdr.direction != foundation.Direction.Server_to_Client:
            return []
        defs = Tunneling.ClientCommandDefs
        if hdr.command_id == defs.request_tunnel_response.id:
            answer, _ = defs.request_tunnel_response.schema.deserialize(payload)
            self.tunnel_status = answer.tunnel_status
            if answer.tunnel_status == TunnelStatus.Success:
                self.tunnel_id = answer.tunnel_id
            return []
        if hdr.command_id == defs.server_transfer_data.id:
            args, _ = defs.server_transfer_data.schema.deserialize(payload)
            if args.tunnel_id != self.tunnel_id:
                return []
            try:
                data = tunnel.parse_tunnel_data(bytes(args.data))
            except FrameError as exc:
                self.rejected.append((bytes(args.data), str(exc)))
                return []
            if data.kind is not tunnel.TunnelKind.GET_RESPONSE:
                self.rejected.append((bytes(args.data), f"{data.kind.label} from the hub"))
                return []
            self.get_responses.append((data.queued or 0, data.message))
            if not data.message:
                return []
            reply = self.on_gbcs(data.message)
            return [self.tunnel_packet(reply)] if reply is not None else []
        return []
