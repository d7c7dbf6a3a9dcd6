"""Small builders for the payload shapes the simulated devices and the lab send.

These make well-formed payloads of each type the hub must read (DLMS ACCESS request/response,
DLMS DATA-NOTIFICATION alerts, GBZ alerts, ASN.1), not a DLMS or ZCL encoder: the hub reads only
headers and alert codes, so the content beyond those only has to be plausible.
"""

from __future__ import annotations

from datetime import UTC, datetime

GBZ_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def dlms_date_time(when: datetime) -> bytes:
    """A 12-byte DLMS date-time in UTC (deviation 0, clock status 0)."""
    when = when.astimezone(UTC)
    return (
        when.year.to_bytes(2, "big")
        + bytes(
            [
                when.month,
                when.day,
                when.isoweekday(),
                when.hour,
                when.minute,
                when.second,
                when.microsecond // 10_000,
            ]
        )
        + b"\x00\x00\x00"
    )


def invoke_id(counter: int) -> bytes:
    """GBCS DLMS invoke-id: 0x20 then the low 24 bits of the originator counter (gbcs.md 1.3)."""
    return b"\x20" + (counter & 0xFFFFFF).to_bytes(3, "big")


def dlms_access_request(counter: int, body: bytes = b"\x01\x01\x00") -> bytes:
    return b"\xd9" + invoke_id(counter) + b"\x00" + body


def dlms_access_response(counter: int, body: bytes = b"\x01\x00\x01\x00") -> bytes:
    return b"\xda" + invoke_id(counter) + b"\x00" + body


def dlms_alert(counter: int, alert_code: int, when: datetime, extra: bytes = b"") -> bytes:
    """A DLMS DATA-NOTIFICATION alert: alert code, date-time, then alert-specific elements."""
    elements = 2 + (1 if extra else 0)
    return (
        b"\x0f"
        + invoke_id(counter)
        + b"\x00"
        + bytes([0x02, elements])
        + b"\x12"
        + alert_code.to_bytes(2, "big")
        + b"\x09\x0c"
        + dlms_date_time(when)
        + extra
    )


def gbz_alert(alert_code: int, when: datetime, components: bytes = b"") -> bytes:
    seconds = int((when - GBZ_EPOCH).total_seconds())
    count = 0 if not components else 1
    return (
        b"\x01\x09"
        + bytes([count])
        + alert_code.to_bytes(2, "big")
        + seconds.to_bytes(4, "big")
        + components
    )


def asn1_null() -> bytes:
    return b"\x05\x00"
