"""Where the 16-bit alert code sits in an alert's payload (docs/gbcs-notes.md 1.5).

The alert code is never encrypted, but its position depends on the payload format:

* DLMS DATA-NOTIFICATION (`0F`): invoke-id (4), `00`, a structure `02 nn`, then the alert code as
  a long-unsigned `12 HH LL`;
* GBZ (`01 09`): component count, then the alert code (2);
* ASN.1 DER (`30`): the first INTEGER of the SEQUENCE (0x8Fxx carries a leading `00`).

A payload of a recognised format that does not hold an alert code where it must raises
ValueError (the frame is malformed); an unrecognised format gives None (the code is unknown, and
the policy fails closed on it).
"""

from __future__ import annotations

DLMS_DATA_NOTIFICATION = 0x0F
GBZ_PROFILE = b"\x01\x09"
ASN1_SEQUENCE = 0x30


def alert_code_from_payload(message_code: int, payload: bytes) -> int | None:
    del message_code  # the format is told apart by the payload's first bytes alone
    if not payload:
        return None
    if payload[0] == DLMS_DATA_NOTIFICATION:
        return _dlms_alert_code(payload)
    if payload[:2] == GBZ_PROFILE:
        if len(payload) < 5:
            raise ValueError(f"GBZ alert payload of {len(payload)} bytes has no alert code")
        return int.from_bytes(payload[3:5], "big")
    if payload[0] == ASN1_SEQUENCE:
        return _asn1_alert_code(payload)
    return None


def _dlms_alert_code(payload: bytes) -> int:
    if len(payload) < 11:
        raise ValueError(f"DLMS alert payload of {len(payload)} bytes has no alert code")
    if payload[6] != 0x02 or payload[8] != 0x12:
        raise ValueError("DLMS alert payload does not start with a structure and a long-unsigned")
    return int.from_bytes(payload[9:11], "big")


def _asn1_alert_code(payload: bytes) -> int:
    pos = 1
    if len(payload) < 2:
        raise ValueError("ASN.1 alert payload is truncated")
    first = payload[pos]
    pos += 1 + (first & 0x7F if first & 0x80 else 0)
    if pos + 2 > len(payload) or payload[pos] != 0x02:
        raise ValueError("ASN.1 alert payload does not start with an INTEGER")
    n = payload[pos + 1]
    value = payload[pos + 2 : pos + 2 + n]
    if n == 0 or n > 3 or len(value) != n:
        raise ValueError(f"ASN.1 alert code INTEGER of length {n}")
    code = int.from_bytes(value, "big")
    if code > 0xFFFF:
        raise ValueError(f"ASN.1 alert code {code:#x} does not fit 16 bits")
    return code
