"""A GBCS firmware image: a ZigBee OTA file with the Supplier's signature (docs/gbcs-notes.md 4.1).

Layout: the OTA header (`header_length` bytes, magic 1E F1 EE 0B), the manufacturer image, one
byte 00 (the CH's "force replace" flag), then 40 and a 64-byte ECDSA P-256 signature (r || s)
over the manufacturer image made with the Supplier's key. The header's image size is the length
of the whole file. SHA-256 of the manufacturer image is the hash CS06 and the receipt alert carry.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

OTA_MAGIC = b"\x1e\xf1\xee\x0b"
SIGNATURE_LENGTH = 64
TRAILER_LENGTH = 2 + SIGNATURE_LENGTH
BASE_HEADER_LENGTH = 56
HARDWARE_VERSIONS_PRESENT = 0x0004


class ImageError(ValueError):
    """The image is not a GBCS OTA file, or its signature does not verify."""


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    raw: bytes
    header_length: int
    manufacturer_id: int
    image_type: int
    file_version: int
    manufacturer_image: bytes
    signature: bytes

    @property
    def image_hash(self) -> bytes:
        return hashlib.sha256(self.manufacturer_image).digest()

    @property
    def signed_bytes(self) -> bytes:
        return self.manufacturer_image


def parse_image(data: bytes) -> FirmwareImage:
    if len(data) < BASE_HEADER_LENGTH + TRAILER_LENGTH:
        raise ImageError(f"{len(data)} bytes is too short for an OTA header and a signature")
    if data[:4] != OTA_MAGIC:
        raise ImageError("not a ZigBee OTA file (no 1E F1 EE 0B magic)")
    header_length = struct.unpack_from("<H", data, 6)[0]
    manufacturer_id, image_type, file_version = struct.unpack_from("<HHI", data, 10)
    image_size = struct.unpack_from("<I", data, 52)[0]
    if header_length < BASE_HEADER_LENGTH or header_length + TRAILER_LENGTH > len(data):
        raise ImageError(f"OTA header length {header_length} does not fit the file")
    if image_size != len(data):
        raise ImageError(f"OTA header says {image_size} bytes, the file has {len(data)}")
    if data[-TRAILER_LENGTH] != 0x00 or data[-TRAILER_LENGTH + 1] != SIGNATURE_LENGTH:
        raise ImageError("no Supplier signature trailer (00 40 + 64 bytes) after the image")
    return FirmwareImage(
        raw=bytes(data),
        header_length=header_length,
        manufacturer_id=manufacturer_id,
        image_type=image_type,
        file_version=file_version,
        manufacturer_image=bytes(data[header_length:-TRAILER_LENGTH]),
        signature=bytes(data[-SIGNATURE_LENGTH:]),
    )


def verify_image(
    image: FirmwareImage, trusted: Mapping[str, Callable[[bytes, bytes], bool]]
) -> str:
    """The key id of the trusted key whose signature the image carries; ImageError if none."""
    for key_id, check in trusted.items():
        if check(image.signed_bytes, image.signature):
            return key_id
    raise ImageError("the Supplier signature does not verify against any trusted key")


def build_image(
    manufacturer_image: bytes,
    sign: Callable[[bytes], bytes],
    *,
    manufacturer_id: int = 0x121D,
    image_type: int = 0x0000,
    file_version: int,
    header_string: bytes = b"GBCS lab firmware",
) -> bytes:
    """A signed GBCS OTA file, laid out as the SRV 11.1 template (60-byte header)."""
    header_length = BASE_HEADER_LENGTH + 4
    total = header_length + len(manufacturer_image) + TRAILER_LENGTH
    header = (
        OTA_MAGIC
        + struct.pack(
            "<HHHHHIH",
            0x0100,
            header_length,
            HARDWARE_VERSIONS_PRESENT,
            manufacturer_id,
            image_type,
            file_version,
            2,
        )
        + header_string[:32].ljust(32, b"\x00")
        + struct.pack("<I", total)
        + struct.pack("<HH", 0x0000, 0xFFFF)
    )
    signature = sign(manufacturer_image)
    if len(signature) != SIGNATURE_LENGTH:
        raise ValueError(f"signature of {len(signature)} bytes, expected {SIGNATURE_LENGTH}")
    return header + manufacturer_image + b"\x00" + bytes([SIGNATURE_LENGTH]) + signature
