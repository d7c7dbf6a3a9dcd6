"""CCS01 / CCS02: the commands that add a device to, or remove one from, the CHF device log.

In GBCS these are DLMS ACTIONs on the ZigBee Network Control object (class 104, OBIS
0-0:30.3.0.255), method `register_device` (CCS01) or `unregister_device` (CCS02)
(docs/gbcs-notes.md 5.3). The RTDS vectors carry more than a hub needs (two enumerations, a join
timeout, an enable-joining SET); this module reads and writes the part that decides admission:

    C3 01 <invoke-id 4> 00 68 00 00 1E 03 00 FF <method> 01 <parameter>

with the parameter for CCS01 `02 02 09 08 <EUI-64> 09 <n> <install code with its CRC>` and for
CCS02 `09 08 <EUI-64>`. The hub's own GBCS alerts about its log (CS14) are built here too.

Pure bytes in, values out: no keys, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

CCS01_ADD = 0x0001
CCS02_REMOVE = 0x0002
NETWORK_CONTROL = b"\x00\x68\x00\x00\x1e\x03\x00\xff"  # class 104, OBIS 0-0:30.3.0.255
METHOD_REGISTER = 1
METHOD_UNREGISTER = 2


class ChfCommandError(ValueError):
    """A device-log command whose payload this hub cannot read; the message says where."""


@dataclass(frozen=True)
class DeviceLogCommand:
    message_code: int
    eui64: bytes
    install_code: bytes | None  # CCS01 only


def build_payload(counter: int, eui64: bytes, install_code: bytes | None = None) -> bytes:
    """The ACTION payload: CCS01 when an install code is given, else CCS02."""
    if len(eui64) != 8:
        raise ValueError("eui64 must be 8 bytes")
    invoke = b"\x20" + (counter & 0xFFFFFF).to_bytes(3, "big")
    if install_code is None:
        method, parameter = METHOD_UNREGISTER, b"\x09\x08" + eui64
    else:
        if not 0 < len(install_code) < 0x80:
            raise ValueError("install code must be 1 to 127 bytes")
        method = METHOD_REGISTER
        parameter = (
            b"\x02\x02\x09\x08" + eui64 + b"\x09" + bytes([len(install_code)]) + install_code
        )
    return b"\xc3\x01" + invoke + NETWORK_CONTROL + bytes([method]) + b"\x01" + parameter


def parse_payload(message_code: int, payload: bytes) -> DeviceLogCommand:
    if message_code not in (CCS01_ADD, CCS02_REMOVE):
        raise ChfCommandError(f"message code 0x{message_code:04X} is not CCS01 or CCS02")
    head = b"\xc3\x01"
    if payload[:2] != head or len(payload) < 17:
        raise ChfCommandError("not a DLMS ACTION request (expected C3 01 ...)")
    if payload[6:14] != NETWORK_CONTROL:
        raise ChfCommandError("the ACTION is not on the ZigBee Network Control object")
    method, flag = payload[14], payload[15]
    want = METHOD_REGISTER if message_code == CCS01_ADD else METHOD_UNREGISTER
    if method != want or flag != 1:
        raise ChfCommandError(f"method {method} does not match the message code")
    body = payload[16:]
    if message_code == CCS02_REMOVE:
        if len(body) != 10 or body[:2] != b"\x09\x08":
            raise ChfCommandError("CCS02 parameter must be an 8-byte octet-string EUI-64")
        return DeviceLogCommand(message_code, body[2:10], None)
    if len(body) < 14 or body[:4] != b"\x02\x02\x09\x08" or body[12] != 0x09:
        raise ChfCommandError("CCS01 parameter must be a structure {EUI-64, install code}")
    length = body[13]
    code = body[14:]
    if len(code) != length or length == 0:
        raise ChfCommandError(f"CCS01 install code length {length}, {len(code)} bytes present")
    return DeviceLogCommand(message_code, body[4:12], code)


def cs14_extra(extended_pan_id: bytes, entries: list[bytes]) -> bytes:
    """CS14 body after the alert code and date-time: the extended PAN id and the whole log.

    The log is an array of {EUI-64, hashed link key}; the hub has no CBKE link keys, so each
    hash is the empty octet-string, as GBCS sends before a link key exists (docs/gbcs-notes.md 5.3).
    """
    items = b"".join(b"\x02\x02\x09\x08" + eui + b"\x09\x00" for eui in entries)
    log = b"\x01" + bytes([len(entries)]) + items
    return b"\x02\x02\x09\x08" + extended_pan_id + log  # one element: {PAN id, log}
