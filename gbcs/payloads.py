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
    """GBCS DLMS invoke-id: 0x20, then the low 24 bits of the originator counter.

    See docs/gbcs-notes.md 1.3.
    """
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


# -- alert bodies that gbcs/alert_details.py reads ----------------------------------------------


def dlms_future_dated_alert(
    counter: int, alert_code: int, when: datetime, message_code: int, command_counter: int
) -> bytes:
    """0x00CC: the command's message code, counter and a COSEM attribute descriptor."""
    descriptor = b"\x00\x01" + bytes([0, 0, 96, 1, 0, 255]) + b"\x02"  # class, OBIS, attribute
    body = message_code.to_bytes(2, "big") + command_counter.to_bytes(8, "big") + descriptor
    return dlms_alert(counter, alert_code, when, b"\x09" + bytes([len(body)]) + body)


def gbz_future_dated_alert(
    alert_code: int,
    when: datetime,
    message_code: int,
    command_counter: int,
    cluster: int = 0x0700,
    frame_control: int = 0x09,
    command_id: int = 0x05,
) -> bytes:
    """0x00CD: after the timestamp, `0E` then the command's code, counter and ZCL command."""
    body = (
        message_code.to_bytes(2, "big")
        + command_counter.to_bytes(8, "big")
        + cluster.to_bytes(2, "big")
        + bytes([frame_control, command_id])
    )
    return gbz_alert(alert_code, when) + bytes([len(body)]) + body


def dlms_firmware_receipt(
    counter: int, alert_code: int, when: datetime, image_hash: bytes
) -> bytes:
    """0x00CE: the image hash the device calculated, as an octet-string."""
    return dlms_alert(counter, alert_code, when, b"\x09" + bytes([len(image_hash)]) + image_hash)


def gbz_firmware_receipt(alert_code: int, when: datetime, image_hash: bytes) -> bytes:
    """0x00CF: the image hash after the timestamp, behind its length byte."""
    return gbz_alert(alert_code, when) + bytes([len(image_hash)]) + image_hash


def asn1_firmware_transfer(
    alert_code: int, when: datetime, target: bytes, firmware_version: bytes, result: int
) -> bytes:
    """CCS08 (0x0128): SEQUENCE of alert code, time, target EUI-64, version and result."""
    stamp = when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode()
    parts = [
        _der(0x02, b"\x00" + alert_code.to_bytes(2, "big")),
        _der(0x18, stamp),
        _der(0x04, target),
        _der(0x04, firmware_version),
        _der(0x0A, bytes([result])),
    ]
    return _der(0x30, b"".join(parts))


def _der(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n <= 0xFF:
        length = bytes([0x81, n])
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return bytes([tag]) + length + value
