"""A simulated In-Home Display (IHD): a Type 2 device that joins the HAN and reads the time.

It shows what HAN-local traffic looks like to the hub: ZCL between devices and the CH's Time
server, never GBCS and never upstream, in either consent mode.
"""

from __future__ import annotations

from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from hal.sim.base import SimDevice

TIME_CLUSTER = 0x000A


class SimIhd(SimDevice):
    kind = "ihd"
    device_type = 0x0507  # In-Home Display
    input_clusters = (0x0000, 0x0003)
    output_clusters = (0x000A, 0x0700, 0x0702, 0x0703, 0x0019)
    mains_powered = True

    def __init__(self, ieee: str | bytes, nwk: int, **kwargs: Any) -> None:
        super().__init__(ieee, nwk, **kwargs)
        # What the hub's Time server answered, one {attribute id: value} per answer, in order.
        self.time_answers: list[dict[int, Any]] = []

    def _handle_general(
        self, packet: t.ZigbeePacket, hdr: foundation.ZCLHeader, payload: bytes
    ) -> list[t.ZigbeePacket]:
        if (
            packet.cluster_id == TIME_CLUSTER
            and hdr.command_id == foundation.GeneralCommand.Read_Attributes_rsp
        ):
            schema = foundation.GENERAL_COMMANDS[
                foundation.GeneralCommand.Read_Attributes_rsp
            ].schema
            answer, _ = schema.deserialize(payload)
            self.time_answers.append(
                {
                    r.attrid: r.value.value
                    for r in answer.status_records  # type: ignore[attr-defined]
                    if r.status == foundation.Status.SUCCESS
                }
            )
            return []
        return super()._handle_general(packet, hdr, payload)

    def read_time(self) -> None:
        """Ask the hub's Time server for the time, as an IHD does every few minutes."""
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
        hdr = foundation.ZCLHeader.general(
            self.next_tsn(), foundation.GeneralCommand.Read_Attributes
        )
        self.send(
            self.zcl_packet(TIME_CLUSTER, hdr, schema(attribute_ids=[0x0000, 0x0001]).serialize())
        )
