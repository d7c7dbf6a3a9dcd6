"""GBCS frames: bytes in, a `Frame` out; fields in, bytes out.

Rules of this module:

* It reads headers only. Everything the hub decides on (CRA flag, counter, the two EUI-64s, the
  message code, the alert code, whether a signature is present) is in clear in every GBCS frame,
  so no key material is needed to parse (reference gbcs.md 1.6).
* `Frame.raw` is the exact input. The hub forwards `raw`, never a re-encoding: signatures and MACs
  cover the bytes, so a forwarded frame must be bit-identical to the one received.
* Malformed input raises `FrameError` carrying the byte offset and the reason. Nothing else escapes
  `parse_frame`: a hub that meets a broken frame counts it and drops it, it does not crash.

Theory of operation. A frame is either a `DD 00` general-ciphering wrapper (a MAC header, the
general-signing APDU, a 12-byte MAC) or a bare `DF` general-signing APDU. The APDU is the grouping
header (CRA, counter, originator, recipient, optional date-time, other-information starting with
the message code), a BER-length-prefixed payload, and an optional signature field (`00`, or `40`
plus a raw 64-byte ECDSA r||s). A pre-command has no signature field at all. `DD 09` (General
Block Transfer) segments are recognised and refused here: they carry a routing header that
the full codec reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gbcs.alerts import alert_code_from_payload

GENERAL_CIPHERING = 0xDD
GENERAL_SIGNING = 0xDF
SECURITY_CONTROL = 0x11
SIGNATURE_LENGTH = 64
MAC_LENGTH = 12
DATE_TIME_LENGTH = 12
EUI64_LENGTH = 8


class Cra(IntEnum):
    """The CRA flag: what kind of message this is (gbcs.md 1.4)."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def article(self) -> str:
        """'a command', 'a response', 'an alert': for messages people read."""
        return f"an {self.label}" if self is Cra.ALERT else f"a {self.label}"


class FrameError(ValueError):
    """A frame that cannot be read, with where and why."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"malformed GBCS frame at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    """The header fields of one GBCS message, and the exact bytes it came from."""

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
        return self.cra is Cra.COMMAND and self.signature is None and self.mac is None


class _Reader:
    """A cursor over bytes whose every failure names its offset."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise FrameError(self.pos, f"{what}: need {n} bytes, {self.end - self.pos} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def expect(self, value: int, what: str) -> None:
        at = self.pos
        got = self.byte(what)
        if got != value:
            raise FrameError(at, f"{what}: expected 0x{value:02X}, got 0x{got:02X}")

    def ber_length(self, what: str) -> int:
        at = self.pos
        first = self.byte(what)
        if first < 0x80:
            return first
        n = first & 0x7F
        if n == 0 or n > 3:
            raise FrameError(at, f"{what}: unsupported BER length form 0x{first:02X}")
        return int.from_bytes(self.take(n, what), "big")

    @property
    def left(self) -> int:
        return self.end - self.pos


def parse_frame(data: bytes) -> Frame:
    """Parse one GBCS message (as carried in a tunnel, with any GSME header already removed)."""
    data = bytes(data)
    if not data:
        raise FrameError(0, "empty frame")
    tag = data[0]
    if tag == GENERAL_CIPHERING:
        if len(data) > 1 and data[1] == 0x09:
            raise FrameError(1, "General Block Transfer (DD 09) segments are not reassembled")
        return _parse_ciphered(data)
    if tag == GENERAL_SIGNING:
        return _parse_signing(data, 0, len(data), mac=None)
    raise FrameError(0, f"unknown frame tag 0x{tag:02X} (expected 0xDD or 0xDF)")


def _parse_ciphered(data: bytes) -> Frame:
    r = _Reader(data)
    r.expect(GENERAL_CIPHERING, "general-ciphering tag")
    for field in (
        "transaction-id",
        "originator title",
        "recipient title",
        "date-time",
        "other-information",
        "key-info",
    ):
        r.expect(0x00, f"empty DLMS {field}")
    length_at = r.pos
    length = r.ber_length("ciphered-content length")
    if length != r.left:
        raise FrameError(length_at, f"ciphered-content length {length} but {r.left} bytes follow")
    r.expect(SECURITY_CONTROL, "security control byte")
    r.take(4, "invocation counter")
    if r.left < MAC_LENGTH + 1:
        raise FrameError(r.pos, "no room for the general-signing APDU and the 12-byte MAC")
    mac_at = len(data) - MAC_LENGTH
    return _parse_signing(data, r.pos, mac_at, mac=data[mac_at:])


def _parse_signing(data: bytes, start: int, end: int, mac: bytes | None) -> Frame:
    r = _Reader(data, start, end)
    r.expect(GENERAL_SIGNING, "general-signing tag")
    signed_start = r.pos
    r.expect(0x09, "transaction-id length")
    cra_at = r.pos
    cra_value = r.byte("CRA flag")
    try:
        cra = Cra(cra_value)
    except ValueError:
        raise FrameError(cra_at, f"CRA flag 0x{cra_value:02X} is not 1, 2 or 3") from None
    counter = int.from_bytes(r.take(8, "originator counter"), "big")
    r.expect(EUI64_LENGTH, "originator system-title length")
    originator = r.take(EUI64_LENGTH, "originator")
    r.expect(EUI64_LENGTH, "recipient system-title length")
    recipient = r.take(EUI64_LENGTH, "recipient")
    dt_at = r.pos
    dt_length = r.byte("date-time length")
    if dt_length == 0:
        date_time = None
    elif dt_length == DATE_TIME_LENGTH:
        date_time = r.take(DATE_TIME_LENGTH, "date-time")
    else:
        raise FrameError(dt_at, f"date-time length {dt_length} (expected 0 or 12)")
    oi_at = r.pos
    oi_length = r.ber_length("other-information length")
    if oi_length < 2:
        raise FrameError(oi_at, f"other-information length {oi_length} has no message code")
    other = r.take(oi_length, "other-information")
    message_code = int.from_bytes(other[:2], "big")
    content_length = r.ber_length("content length")
    payload_at = r.pos
    payload = r.take(content_length, "payload")
    signed_end = r.pos
    signature: bytes | None = None
    has_signature_field = r.left > 0
    if has_signature_field:
        sig_at = r.pos
        sig_length = r.ber_length("signature length")
        if sig_length not in (0, SIGNATURE_LENGTH):
            raise FrameError(sig_at, f"signature length {sig_length} (expected 0 or 64)")
        if sig_length:
            signature = r.take(SIGNATURE_LENGTH, "signature")
    if r.left:
        raise FrameError(r.pos, f"{r.left} unexpected bytes after the signature field")
    if not has_signature_field and mac is not None:
        raise FrameError(r.pos, "a MAC-wrapped frame must have a signature field")
    alert_code = None
    if cra is Cra.ALERT:
        try:
            alert_code = alert_code_from_payload(message_code, payload)
        except ValueError as exc:
            raise FrameError(payload_at, f"alert code: {exc}") from None
    return Frame(
        cra=cra,
        counter=counter,
        originator=originator,
        recipient=recipient,
        message_code=message_code,
        alert_code=alert_code,
        date_time=date_time,
        supplementary=other[2:],
        payload=payload,
        signature=signature,
        has_signature_field=has_signature_field,
        mac=mac,
        signed_start=signed_start,
        signed_end=signed_end,
        raw=data,
    )


# -- building -----------------------------------------------------------------------------------

Signer = Callable[[bytes], bytes]
"""Takes the bytes to be signed and returns a raw 64-byte r||s signature."""


def ber_length(n: int) -> bytes:
    """A BER definite length, in the shortest of the forms GBCS uses."""
    if n < 0:
        raise ValueError("negative length")
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    if n <= 0xFFFFFF:
        return b"\x83" + n.to_bytes(3, "big")
    raise ValueError(f"length {n} too large for a GBCS frame")


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
    header and a GMAC tag computed as GBCS does (gbcs.md 6.2) with that key; deriving the key
    itself needs the parties' key-agreement keys and is the caller's business.
    """
    if len(originator) != EUI64_LENGTH or len(recipient) != EUI64_LENGTH:
        raise ValueError("originator and recipient must be 8-byte EUI-64s")
    if not 0 <= counter < 1 << 64:
        raise ValueError("counter must fit in 64 bits")
    if not 0 <= message_code <= 0xFFFF:
        raise ValueError("message code must fit in 16 bits")
    if date_time is not None and len(date_time) != DATE_TIME_LENGTH:
        raise ValueError("date-time must be 12 bytes")
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
    """True when a `DD`-wrapped frame's MAC is the one `key` gives."""
    if frame.mac is None:
        return False
    apdu_end = len(frame.raw) - MAC_LENGTH
    apdu_start = frame.signed_start - 1
    return gmac(key, frame.originator, frame.raw[apdu_start:apdu_end]) == frame.mac
