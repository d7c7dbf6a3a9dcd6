"""GBCS frames: bytes in, a `Frame` out; fields in, bytes out.

Rules of this module:

* It reads headers only. Everything the hub decides on (CRA flag, counter, the two EUI-64s, the
  message code, the alert code, whether a signature is present) is in clear in every GBCS frame,
  so no key material is needed to parse (docs/gbcs-notes.md 1.6).
* `Frame.raw` is the exact input. The hub forwards `raw`, never a re-encoding: signatures and MACs
  cover the bytes, so a forwarded frame must be bit-identical to the one received.
* Malformed input raises `FrameError` carrying the byte offset and the reason. Nothing else escapes
  `parse_frame`: a hub that meets a broken frame counts it and drops it, it does not crash.

Theory of operation. A frame is either a `DD 00` general-ciphering wrapper (a MAC header, the
general-signing APDU, a 12-byte MAC) or a bare `DF` general-signing APDU. The APDU is the grouping
header (CRA, counter, originator, recipient, optional date-time, other-information starting with
the message code), a BER-length-prefixed payload, and an optional signature field (`00`, or `40`
plus a raw 64-byte ECDSA r||s). A pre-command has no signature field at all. A `DD 09` General
Block Transfer block is one slice of a larger message behind a routing header that repeats the
grouping header's fields (gbt.py); it parses to a Frame with `gbt` set, so it can be classified
and decided on its own. Other-information after the message code is read into named
supplementary fields (supplementary.py); alert bodies that matter for classification are read
by alert_details.py.

Speed: the hub parses every frame on the event loop, so the fixed header is read at once
(one struct call in wire.py), not field by field through a cursor; errors still name the field and
its offset.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gbcs.alert_details import AlertDetail, alert_detail
from gbcs.alerts import alert_code_from_payload
from gbcs.gbt import GbtBlock, read_gbt_block
from gbcs.supplementary import Supplementary, decode_supplementary
from gbcs.wire import (
    DATE_TIME_LENGTH,
    EUI64_LENGTH,
    Cra,
    FrameError,
    ber_length,
    need,
    read_ber,
    read_grouping_fields,
    supplementary_length_ok,
)

__all__ = [
    "DATE_TIME_LENGTH",
    "EUI64_LENGTH",
    "GENERAL_CIPHERING",
    "GENERAL_SIGNING",
    "MAC_LENGTH",
    "SIGNATURE_LENGTH",
    "Cra",
    "Frame",
    "FrameError",
    "Signer",
    "ber_length",
    "build_frame",
    "gmac",
    "parse_frame",
    "verify_mac",
]

GENERAL_CIPHERING = 0xDD
GENERAL_SIGNING = 0xDF
GBT_ROUTING = 0x09  # the byte after DD that tells a GBT block from a MAC header (DD 00)
SECURITY_CONTROL = 0x11
SIGNATURE_LENGTH = 64
MAC_LENGTH = 12
_ALERT_CRA = Cra.ALERT  # enum lookups through the class cost a descriptor call on 3.11
_EMPTY_DLMS_FIELDS = bytes(6)
_DLMS_FIELD_NAMES = (
    "transaction-id",
    "originator title",
    "recipient title",
    "date-time",
    "other-information",
    "key-info",
)


class Frame(NamedTuple):
    """The header fields of one GBCS message, and the exact bytes it came from.

    A NamedTuple rather than a frozen dataclass for one reason, speed: the hub builds one per
    frame, and a frozen dataclass's __init__ (one object.__setattr__ per field) cost more than
    the whole header parse (BENCHMARKS.md). It is just as immutable.

    A GBT block (`DD 09`) is a Frame too, with `gbt` set: its header fields come from the
    routing header, and the payload, alert code and signature of the message it is a slice of
    are not visible in it (`payload` is empty, `alert_code` and `signature` are None).
    """

    cra: Cra
    counter: int
    originator: bytes
    recipient: bytes
    message_code: int
    alert_code: int | None
    date_time: bytes | None
    supplementary: bytes
    payload: bytes
    signature: bytes | None
    has_signature_field: bool
    mac: bytes | None
    signed_start: int
    signed_end: int
    raw: bytes
    gbt: GbtBlock | None = None

    @property
    def critical(self) -> bool:
        """GBCS criticality is a security class: a critical message carries a signature."""
        return self.signature is not None

    @property
    def signed_bytes(self) -> bytes:
        """The bytes an ECDSA signature covers: after the `DF` tag to the end of the payload."""
        return self.raw[self.signed_start : self.signed_end]

    @property
    def is_pre_command(self) -> bool:
        return (
            self.cra is Cra.COMMAND
            and self.signature is None
            and self.mac is None
            and self.gbt is None
        )

    @property
    def framing(self) -> str:
        """'general-ciphering' (DD 00 + MAC), 'general-signing' (bare DF) or 'gbt' (DD 09)."""
        if self.gbt is not None:
            return "gbt"
        return "general-ciphering" if self.mac is not None else "general-signing"

    @property
    def alert_detail(self) -> AlertDetail | None:
        """What a future-dated, firmware-receipt or CCS08 alert reports on (alert_details.py)."""
        return alert_detail(self.cra, self.message_code, self.alert_code, self.payload)

    @property
    def supplementary_fields(self) -> Supplementary:
        """The other-information after the message code, as named fields.

        See docs/gbcs-notes.md 1.2.
        """
        return decode_supplementary(self.supplementary)


def parse_frame(data: bytes) -> Frame:
    """Parse one GBCS message (as carried in a tunnel, with any GSME header already removed)."""
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise FrameError(0, "empty frame")
    tag = data[0]
    if tag == GENERAL_SIGNING:
        return _parse_signing(data, 0, len(data), None)
    if tag == GENERAL_CIPHERING:
        if len(data) > 1 and data[1] == GBT_ROUTING:
            return _parse_gbt(data)
        return _parse_ciphered(data)
    raise FrameError(0, f"unknown frame tag 0x{tag:02X} (expected 0xDD or 0xDF)")


def _parse_ciphered(data: bytes) -> Frame:
    end = len(data)
    if data[1:7] != _EMPTY_DLMS_FIELDS:
        for i, field in enumerate(_DLMS_FIELD_NAMES, start=1):
            need(i, 1, end, f"empty DLMS {field}")
            if data[i] != 0:
                raise FrameError(i, f"empty DLMS {field}: expected 0x00, got 0x{data[i]:02X}")
    length, pos = read_ber(data, 7, end, "ciphered-content length")
    if length != end - pos:
        raise FrameError(7, f"ciphered-content length {length} but {end - pos} bytes follow")
    if pos + 5 > end or data[pos] != SECURITY_CONTROL:
        need(pos, 1, end, "security control byte")
        if data[pos] != SECURITY_CONTROL:
            raise FrameError(
                pos,
                f"security control byte: expected 0x{SECURITY_CONTROL:02X}, got 0x{data[pos]:02X}",
            )
        need(pos + 1, 4, end, "invocation counter")
    pos += 5
    if end - pos < MAC_LENGTH + 1:
        raise FrameError(pos, "no room for the general-signing APDU and the 12-byte MAC")
    mac_at = end - MAC_LENGTH
    return _parse_signing(data, pos, mac_at, data[mac_at:])


def _parse_signing(data: bytes, start: int, end: int, mac: bytes | None) -> Frame:
    if data[start] != GENERAL_SIGNING:
        raise FrameError(start, f"general-signing tag: expected 0xDF, got 0x{data[start]:02X}")
    signed_start = start + 1
    cra, counter, originator, recipient, date_time, message_code, supplementary, pos = (
        read_grouping_fields(data, signed_start, end)
    )
    if pos < end and data[pos] < 0x80:  # the usual one-byte content length, read inline
        content_length = data[pos]
        pos += 1
    else:
        content_length, pos = read_ber(data, pos, end, "content length")
    payload_at = pos
    if pos + content_length > end:
        need(pos, content_length, end, "payload")
    pos += content_length
    payload = data[payload_at:pos]
    signed_end = pos
    signature: bytes | None = None
    has_signature_field = pos < end
    if has_signature_field:
        sig_at = pos
        sig_length = data[pos]
        if sig_length < 0x80:
            pos += 1
        else:
            sig_length, pos = read_ber(data, pos, end, "signature length")
        if sig_length == SIGNATURE_LENGTH:
            if pos + SIGNATURE_LENGTH > end:
                need(pos, SIGNATURE_LENGTH, end, "signature")
            signature = data[pos : pos + SIGNATURE_LENGTH]
            pos += SIGNATURE_LENGTH
        elif sig_length != 0:
            raise FrameError(sig_at, f"signature length {sig_length} (expected 0 or 64)")
        if pos != end:
            raise FrameError(pos, f"{end - pos} unexpected bytes after the signature field")
    elif mac is not None:
        raise FrameError(pos, "a MAC-wrapped frame must have a signature field")
    alert_code = None
    if cra is _ALERT_CRA:
        try:
            alert_code = alert_code_from_payload(message_code, payload)
        except ValueError as exc:
            raise FrameError(payload_at, f"alert code: {exc}") from None
    return Frame(
        cra,
        counter,
        originator,
        recipient,
        message_code,
        alert_code,
        date_time,
        supplementary,
        payload,
        signature,
        has_signature_field,
        mac,
        signed_start,
        signed_end,
        data,
    )


def _parse_gbt(data: bytes) -> Frame:
    end = len(data)
    cra, counter, originator, recipient, date_time, message_code, supplementary, pos = (
        read_grouping_fields(data, 1, end)
    )
    block = read_gbt_block(data, pos, end)
    return Frame(
        cra,
        counter,
        originator,
        recipient,
        message_code,
        None,
        date_time,
        supplementary,
        b"",
        None,
        False,
        None,
        0,
        0,
        data,
        block,
    )


# -- building -----------------------------------------------------------------------------------

Signer = Callable[[bytes], bytes]
"""Takes the bytes to be signed and returns a raw 64-byte r||s signature."""


def build_frame(
    *,
    cra: Cra,
    counter: int,
    originator: bytes,
    recipient: bytes,
    message_code: int,
    payload: bytes,
    date_time: bytes | None = None,
    supplementary: bytes = b"",
    signer: Signer | None = None,
    mac_key: bytes | None = None,
    signature_field: bool = True,
) -> bytes:
    """Build a GBCS message.

    With `signer` the frame carries a 64-byte signature over the signed span (a critical
    message); without one its signature field is `00`, or absent when `signature_field` is
    False (a pre-command). With `mac_key` (16 bytes) the APDU is wrapped in the `DD 00` MAC
    header and a GMAC tag computed as GBCS does (docs/gbcs-notes.md 6.2) with that key; deriving the
    key itself needs the parties' key-agreement keys and is the caller's business.
    """
    if len(originator) != EUI64_LENGTH or len(recipient) != EUI64_LENGTH:
        raise ValueError("originator and recipient must be 8-byte EUI-64s")
    if not 0 <= counter < 1 << 64:
        raise ValueError("counter must fit in 64 bits")
    if not 0 <= message_code <= 0xFFFF:
        raise ValueError("message code must fit in 16 bits")
    if date_time is not None and len(date_time) != DATE_TIME_LENGTH:
        raise ValueError("date-time must be 12 bytes")
    if not supplementary_length_ok(len(supplementary)):
        raise ValueError("supplementary fields must be 0, 8, 16, 24 or more bytes")
    other = message_code.to_bytes(2, "big") + supplementary
    signed = b"".join(
        (
            b"\x09",
            bytes([int(cra)]),
            counter.to_bytes(8, "big"),
            b"\x08",
            originator,
            b"\x08",
            recipient,
            b"\x0c" + date_time if date_time is not None else b"\x00",
            ber_length(len(other)),
            other,
            ber_length(len(payload)),
            payload,
        )
    )
    if signer is not None:
        signature = signer(signed)
        if len(signature) != SIGNATURE_LENGTH:
            raise ValueError("signer must return a raw 64-byte r||s signature")
        sig_field = b"\x40" + signature
    elif signature_field:
        sig_field = b"\x00"
    else:
        if mac_key is not None:
            raise ValueError("a MAC-wrapped frame needs a signature field")
        sig_field = b""
    apdu = b"\xdf" + signed + sig_field
    if mac_key is None:
        return apdu
    tag = gmac(mac_key, originator, apdu)
    content = bytes([SECURITY_CONTROL]) + b"\x00\x00\x00\x00" + apdu + tag
    return b"\xdd\x00\x00\x00\x00\x00\x00" + ber_length(len(content)) + content


def gmac(key: bytes, originator: bytes, apdu: bytes) -> bytes:
    """The 12-byte GBCS MAC: AES-GCM with no plaintext, IV = originator || 0, AAD over the APDU."""
    aad = bytes([SECURITY_CONTROL]) + b"\x00" * 5 + apdu
    return AESGCM(key).encrypt(originator + b"\x00" * 4, b"", aad)[:MAC_LENGTH]


def verify_mac(key: bytes, frame: Frame) -> bool:
    """True when a `DD`-wrapped frame's MAC is the one `key` gives. Compared in constant time:
    `==` stops at the first differing byte, and its timing would let a sender find a MAC byte by
    byte."""
    if frame.mac is None:
        return False
    apdu_end = len(frame.raw) - MAC_LENGTH
    apdu_start = frame.signed_start - 1
    expected = gmac(key, frame.originator, frame.raw[apdu_start:apdu_end])
    return hmac.compare_digest(expected, frame.mac)
