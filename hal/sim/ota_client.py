"""The OTA client side of a simulated meter (ZCL OTA cluster 0x0019, zigpy's `Ota` schemas).

On Image Notify it asks Query Next Image with its manufacturer code, image type, running version
and hardware version; on a SUCCESS answer it fetches the file with Image Block requests until it
has all of it, then checks it as a GBCS meter does (docs/gbcs-notes.md 4.1, 4.2): the file must
parse as a GBCS OTA image and the Supplier signature over the manufacturer image must verify with
the Supplier key the meter holds. It ends with Upgrade End (SUCCESS or INVALID_IMAGE) and the
Firmware Distribution Receipt alert 0x00CE carrying the SHA-256 of the manufacturer image it
calculated: 0x8F72 when verified, 0x8F1C when not. A verified image is held until CS06 activates it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from gbcs import signature
from gbcs.firmware_image import FirmwareImage, ImageError, parse_image

LOGGER = logging.getLogger(__name__)

OTA_CLUSTER = 0x0019
RECEIPT_ALERT = 0x00CE
FIRMWARE_VERIFIED = 0x8F72
FIRMWARE_NOT_VERIFIED = 0x8F1C
BuildPacket = Callable[..., t.ZigbeePacket]


@dataclass
class Download:
    manufacturer_code: int
    image_type: int
    file_version: int
    size: int
    data: bytearray


class SimOtaClient:
    def __init__(
        self,
        packet: BuildPacket,
        receipt: Callable[[int, bytes], t.ZigbeePacket],
        current_version: Callable[[], int],
        *,
        manufacturer_code: int = 0x121D,
        image_type: int = 0x0000,
        hardware_version: int = 1,
        block_size: int = 64,
    ) -> None:
        self._packet = packet
        self._receipt = receipt
        self._current_version = current_version
        self.manufacturer_code = manufacturer_code
        self.image_type = image_type
        self.hardware_version = hardware_version
        self.block_size = block_size
        self.supplier_key: ec.EllipticCurvePublicKey | None = None
        self.download: Download | None = None
        self.blocks = 0
        self.held: FirmwareImage | None = None  # verified, awaiting CS06
        self.last_result: str | None = None

    def handle(self, hdr: foundation.ZCLHeader, payload: bytes) -> list[t.ZigbeePacket]:
        if hdr.direction != foundation.Direction.Server_to_Client:
            return []
        defs = Ota.ClientCommandDefs
        if hdr.command_id == defs.image_notify.id:
            return [self._query()]
        if hdr.command_id == defs.query_next_image_response.id:
            answer, _ = defs.query_next_image_response.schema.deserialize(payload)
            if answer.status != foundation.Status.SUCCESS:
                self.last_result = f"no image: {answer.status.name}"
                return []
            self.download = Download(
                answer.manufacturer_code,
                answer.image_type,
                answer.file_version,
                answer.image_size,
                bytearray(),
            )
            self.blocks = 0
            return [self._block_request()]
        if hdr.command_id == defs.image_block_response.id:
            return self._on_block(payload)
        return []

    def _query(self) -> t.ZigbeePacket:
        cmd = Ota.ServerCommandDefs.query_next_image
        return self._packet(
            OTA_CLUSTER,
            cmd.id,
            {
                "field_control": Ota.QueryNextImageCommand.FieldControl.HardwareVersion,
                "manufacturer_code": self.manufacturer_code,
                "image_type": self.image_type,
                "current_file_version": self._current_version(),
                "hardware_version": self.hardware_version,
            },
            cmd.schema,
            direction=foundation.Direction.Client_to_Server,
        )

    def _block_request(self) -> t.ZigbeePacket:
        assert self.download is not None
        cmd = Ota.ServerCommandDefs.image_block
        return self._packet(
            OTA_CLUSTER,
            cmd.id,
            {
                "field_control": 0,
                "manufacturer_code": self.download.manufacturer_code,
                "image_type": self.download.image_type,
                "file_version": self.download.file_version,
                "file_offset": len(self.download.data),
                "maximum_data_size": self.block_size,
            },
            cmd.schema,
            direction=foundation.Direction.Client_to_Server,
        )

    def _on_block(self, payload: bytes) -> list[t.ZigbeePacket]:
        download = self.download
        if download is None:
            return []
        answer, _ = Ota.ImageBlockResponseCommand.deserialize(payload)
        if answer.status != foundation.Status.SUCCESS:
            self.last_result = f"transfer aborted: {answer.status.name}"
            self.download = None
            return []
        if answer.file_offset != len(download.data):
            return [self._block_request()]  # ask again from where we are
        download.data += bytes(answer.image_data)
        self.blocks += 1
        if len(download.data) < download.size:
            return [self._block_request()]
        return self._finish(download)

    def _finish(self, download: Download) -> list[t.ZigbeePacket]:
        self.download = None
        data = bytes(download.data[: download.size])
        image: FirmwareImage | None = None
        try:
            image = parse_image(data)
            if self.supplier_key is not None and not signature.verify(
                self.supplier_key, image.signed_bytes, image.signature
            ):
                raise ImageError("Supplier signature does not verify with the meter's key")
            verified = True
            self.last_result = "verified"
        except ImageError as exc:
            verified = False
            self.last_result = f"rejected: {exc}"
        computed = image.image_hash if image is not None else hashlib.sha256(data).digest()
        self.held = image if verified else None
        cmd = Ota.ServerCommandDefs.upgrade_end
        end = self._packet(
            OTA_CLUSTER,
            cmd.id,
            {
                "status": foundation.Status.SUCCESS
                if verified
                else foundation.Status.INVALID_IMAGE,
                "manufacturer_code": download.manufacturer_code,
                "image_type": download.image_type,
                "file_version": download.file_version,
            },
            cmd.schema,
            direction=foundation.Direction.Client_to_Server,
        )
        alert = FIRMWARE_VERIFIED if verified else FIRMWARE_NOT_VERIFIED
        return [end, self._receipt(alert, computed)]
