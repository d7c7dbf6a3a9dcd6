"""A simulated electricity meter (ESME): a non-sleepy Smart Energy metering device.

As on a real HAN (docs/gbcs-notes.md 5.2) the ESME is the tunnel *server*: the hub requests a tunnel
to it with protocol id 6 (GB-HRGP) and GBCS messages ride TransferData as raw bytes, in both
directions. The ESME answers every GBCS command addressed to it with a correctly framed response:
the command's counter echoed, originator and recipient swapped, the same message code; a
response to a critical (signed) command is itself signed with the meter's key and not
MAC-wrapped, anything else is MAC-wrapped with an unsigned signature field (docs/gbcs-notes.md 6.4).
It can also raise alerts, critical ones signed with its key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.zcl import foundation

from gbcs import payloads, signature
from gbcs.frame import Cra, Frame, FrameError, build_frame, parse_frame
from hal import key_establishment as ke
from hal.cbke_math.ncp import CbkeLibrary
from hal.key_establishment_cluster import CLUSTER_ID as KEY_ESTABLISHMENT
from hal.key_establishment_cluster import KeyEstablishment, command_for, message_from
from hal.sim.base import SimDevice
from hal.sim.key_establishment import SimKeyEstablishment
from hal.sim.ota_client import OTA_CLUSTER, RECEIPT_ALERT, SimOtaClient
from hal.tunneling import CLUSTER_ID as TUNNELING
from hal.tunneling import PROTOCOL_GB_HRGP, Tunneling, TunnelStatus

LOGGER = logging.getLogger(__name__)

CS06_ACTIVATE_FIRMWARE = 0x0012
LAB_MAC_KEY = bytes.fromhex("4c41422d4d41432d4b45592d30303031")
"""The lab's AES key for MACs on simulated traffic. Real MAC keys are derived per message from
the parties' key-agreement keys (docs/gbcs-notes.md 6.2); the hub never verifies MACs, it
forwards them."""

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SimEsme(SimDevice):
    kind = "esme"
    device_type = 0x0501  # Metering device
    input_clusters = (0x0000, 0x0003, 0x0700, 0x0702, TUNNELING)
    output_clusters = (0x000A, 0x0019)

    def __init__(
        self,
        ieee: str | bytes,
        nwk: int,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        clock: Clock = _utc_now,
        first_alert_counter: int = 2000,
        refuse_tunnel: TunnelStatus | None = None,
        cbke: CbkeLibrary | None = None,
        trust_centre: bytes | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(ieee, nwk, **kwargs)  # type: ignore[arg-type]
        # With a CBKE library (its certificate and key) the meter has a Key Establishment
        # server and answers the hub's exchange with its own maths. `trust_centre` is the hub's
        # EUI-64 (most significant byte first) the meter expects as the certificate's subject;
        # without it the simulator takes the subject the hub's certificate names.
        self.key_establishment = SimKeyEstablishment(cbke) if cbke is not None else None
        self.trust_centre = trust_centre
        if cbke is not None:
            self.input_clusters = (*self.input_clusters, KEY_ESTABLISHMENT)
        self.refuse_tunnel = refuse_tunnel  # answer every tunnel request with this status
        self.key = key or signature.generate_key()
        self.clock = clock
        self.alert_counter = first_alert_counter
        self.tunnel_id: int | None = None
        self._next_tunnel_id = 1
        self.commands_received: list[Frame] = []
        self.rejected: list[tuple[bytes, str]] = []
        self.sent: list[bytes] = []  # every GBCS message this meter put on the air, in order
        self.energy_wh = 123_456
        self.attributes[(0x0702, 0x0000)] = (0x25, t.uint48_t(self.energy_wh))
        self.attributes[(0x0702, 0x0300)] = (0x30, t.enum8(0x00))  # unit of measure: kWh
        self.ota = SimOtaClient(
            self.cluster_command_packet,
            lambda code, digest: self.tunnel_packet(
                self.alert(code, message_code=RECEIPT_ALERT, extra=b"\x09\x20" + digest)
            ),
            lambda: int(self.attributes[(0x0019, 0x0002)][1]),
        )

    # -- the tunnel -----------------------------------------------------------------------------

    def handle_cluster_command(
        self, packet: t.ZigbeePacket, hdr: foundation.ZCLHeader, payload: bytes
    ) -> list[t.ZigbeePacket]:
        if packet.cluster_id == OTA_CLUSTER:
            return self.ota.handle(hdr, payload)
        if packet.cluster_id == KEY_ESTABLISHMENT and self.key_establishment is not None:
            return self._key_establishment(hdr, payload)
        if packet.cluster_id != TUNNELING or hdr.direction != foundation.Direction.Client_to_Server:
            return []
        defs = Tunneling.ServerCommandDefs
        if hdr.command_id == defs.request_tunnel.id:
            request, _ = defs.request_tunnel.schema.deserialize(payload)
            return [self._tunnel_response(hdr.tsn, request.protocol_id)]
        if hdr.command_id == defs.client_transfer_data.id:
            args, _ = defs.client_transfer_data.schema.deserialize(payload)
            if args.tunnel_id != self.tunnel_id:
                LOGGER.warning("%s: data on unknown tunnel %s", self.model, args.tunnel_id)
                return []
            reply = self.on_gbcs(bytes(args.data))
            return [self.tunnel_packet(reply)] if reply is not None else []
        if hdr.command_id == defs.close_tunnel.id:
            self.tunnel_id = None
            return []
        return []

    def handle(self, packet: t.ZigbeePacket) -> list[t.ZigbeePacket]:
        replies = super().handle(packet)
        kes = self.key_establishment
        if packet.cluster_id == KEY_ESTABLISHMENT and kes is not None and kes.silent:
            return []  # the lab's silent meter: not even a Default Response
        return replies

    def _key_establishment(self, hdr: foundation.ZCLHeader, payload: bytes) -> list[t.ZigbeePacket]:
        """The meter's Key Establishment server: each answer reuses the request's TSN."""
        assert self.key_establishment is not None
        if hdr.direction != foundation.Direction.Client_to_Server:
            return []
        command = KeyEstablishment.server_commands.get(hdr.command_id)
        if command is None:
            return []
        args, _ = command.schema.deserialize(payload)
        message = message_from(hdr.command_id, args, from_server=False)
        partner = self.trust_centre
        if partner is None and isinstance(message, ke.InitiateRequest):
            try:
                partner = ke.Certificate283k1.parse(message.identity).subject
            except ke.CertificateError:
                partner = bytes(8)
        answers = self.key_establishment.receive(message, partner or bytes(8))
        packets = []
        for answer in answers:
            cmd, fields = command_for(answer, from_server=True)
            packets.append(
                self.cluster_command_packet(
                    KEY_ESTABLISHMENT,
                    cmd.id,
                    fields,
                    cmd.schema,
                    direction=foundation.Direction.Server_to_Client,
                    tsn=hdr.tsn,
                )
            )
        return packets

    @property
    def link_key(self) -> bytes | None:
        """The APS link key the meter holds for the hub after CBKE, if any."""
        if self.key_establishment is None:
            return None
        keys = self.key_establishment.link_keys
        return keys.get(self.trust_centre) if self.trust_centre else next(iter(keys.values()), None)

    def _tunnel_response(self, tsn: int, protocol_id: int) -> t.ZigbeePacket:
        defs = Tunneling.ClientCommandDefs
        if protocol_id != PROTOCOL_GB_HRGP:
            status, tunnel_id = TunnelStatus.Protocol_Not_Supported, 0xFFFF
        elif self.refuse_tunnel is not None:
            status, tunnel_id = self.refuse_tunnel, 0xFFFF
        else:
            tunnel_id = self._next_tunnel_id
            self._next_tunnel_id += 1
            self.tunnel_id = tunnel_id
            status = TunnelStatus.Success
        return self.cluster_command_packet(
            TUNNELING,
            defs.request_tunnel_response.id,
            {"tunnel_id": tunnel_id, "tunnel_status": status, "max_incoming_transfer_size": 1500},
            defs.request_tunnel_response.schema,
            direction=foundation.Direction.Server_to_Client,
            tsn=tsn,
        )

    def tunnel_packet(self, frame: bytes) -> t.ZigbeePacket:
        """GBCS bytes as a server->client TransferData on the open tunnel."""
        if self.tunnel_id is None:
            raise RuntimeError(f"{self.model} has no tunnel open to the hub")
        cmd = Tunneling.ClientCommandDefs.server_transfer_data
        self.sent.append(frame)
        return self.cluster_command_packet(
            TUNNELING,
            cmd.id,
            {"tunnel_id": self.tunnel_id, "data": t.Bytes(frame)},
            cmd.schema,
            direction=foundation.Direction.Server_to_Client,
        )

    def send_gbcs(self, frame: bytes) -> None:
        """Put GBCS bytes on the air towards the hub, as the meter speaking first."""
        self.send(self.tunnel_packet(frame))

    # -- GBCS -----------------------------------------------------------------------------------

    def on_gbcs(self, data: bytes) -> bytes | None:
        try:
            command = parse_frame(data)
        except FrameError as exc:
            self.rejected.append((data, str(exc)))
            return None
        if command.cra is not Cra.COMMAND or command.recipient != self.eui64:
            self.rejected.append((data, "not a command for this meter"))
            return None
        self.commands_received.append(command)
        return self.response_to(command)

    def response_to(self, command: Frame) -> bytes:
        critical = command.critical
        return build_frame(
            cra=Cra.RESPONSE,
            counter=command.counter,
            originator=self.eui64,
            recipient=command.originator,
            message_code=command.message_code,
            payload=self._response_payload(command),
            supplementary=command.supplementary,
            signer=self.sign if critical else None,
            mac_key=None if critical else LAB_MAC_KEY,
        )

    def _response_payload(self, command: Frame) -> bytes:
        if command.message_code == CS06_ACTIVATE_FIRMWARE:
            return self._activate(command)
        if command.payload[:1] == b"\xd9":
            return payloads.dlms_access_response(command.counter)
        return b"\x02\x01\x00"  # ASN.1 INTEGER 0: success, as the CSxx variants answer

    def _activate(self, command: Frame) -> bytes:
        """CS06: activate the held image if the command names its hash. The lab's response is
        an ASN.1 SEQUENCE of the outcome (ENUMERATED: 0 success, 1 no image held, 2 hash
        mismatch) and the firmware version now running (OCTET STRING, 4 bytes)."""
        held = self.ota.held
        if held is None:
            outcome = 1
        elif held.image_hash not in command.payload:
            outcome = 2
        else:
            outcome = 0
            self.attributes[(0x0019, 0x0002)] = (0x23, t.uint32_t(held.file_version))
            self.ota.held = None
        version = int(self.attributes[(0x0019, 0x0002)][1]).to_bytes(4, "big")
        body = b"\x0a\x01" + bytes([outcome]) + b"\x04\x04" + version
        return b"\x30" + bytes([len(body)]) + body

    def sign(self, data: bytes) -> bytes:
        return signature.sign(self.key, data)

    def alert(
        self,
        alert_code: int,
        *,
        message_code: int | None = None,
        critical: bool | None = None,
        recipient: bytes = bytes.fromhex("90B3D51F30010000"),
        extra: bytes = b"",
    ) -> bytes:
        """Build the next alert frame (DLMS data-notification, as ESMEs send them).

        Without a message code the alert is generic: 0x1000 when critical, 0x1001 when not.
        """
        if critical is None:
            critical = message_code != 0x1001
        if message_code is None:
            message_code = 0x1000 if critical else 0x1001
        self.alert_counter += 1
        counter = self.alert_counter
        return build_frame(
            cra=Cra.ALERT,
            counter=counter,
            originator=self.eui64,
            recipient=recipient,
            message_code=message_code,
            payload=self.alert_payload(counter, alert_code, extra),
            signer=self.sign if critical else None,
            mac_key=None if critical else LAB_MAC_KEY,
        )

    def alert_payload(self, counter: int, alert_code: int, extra: bytes) -> bytes:
        """An ESME's alert body: a DLMS DATA-NOTIFICATION."""
        return payloads.dlms_alert(counter, alert_code, self.clock(), extra)

    def raise_alert(self, alert_code: int, **kwargs: object) -> bytes:
        frame = self.alert(alert_code, **kwargs)  # type: ignore[arg-type]
        self.send_gbcs(frame)
        return frame

    @staticmethod
    def image_hash(image: bytes) -> bytes:
        return hashlib.sha256(image).digest()
