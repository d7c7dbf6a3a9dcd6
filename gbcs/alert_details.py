"""The parts of an alert body beyond the alert code that say what the alert is about.

Three kinds (docs/gbcs-notes.md 1.5 and 4.2):

* Future-dated outcome (0x00CA-0x00CD; alert 0x8F66 actioned / 0x8F67 not actioned): the
  message code of the command it reports on. DLMS form 0x00CC: after the alert's date-time an
  octet-string `09 13` of message code (2), originator counter (8) and a COSEM attribute
  descriptor (9). GBZ form 0x00CD: after the timestamp `0E`, then message code (2), counter (8),
  cluster (2), frame control, command id. 0x00CA and 0x00CB are ASN.1 alerts whose use case fixes
  the command: 0x00CA reports on CS06 Activate Firmware (0x0012); 0x00CB on a CS02b credential
  update, whose exact code (0x0100-0x0109) the body does not carry in a form read here.
* Firmware distribution receipt (0x00CE DLMS / 0x00CF GBZ; 0x8F72 verified / 0x8F1C failed): the
  32-byte hash of the image the device calculated, as an octet-string `09 20` (DLMS) or after the
  timestamp, with or without a `20` length byte (GBZ; the reference gives no byte-level layout).
* CCS08 firmware transfer alert (0x0128; 0x8F8A success / 0x8F89 fail) from the CH: an ASN.1
  SEQUENCE of alert code, time, target EUI-64, firmware version and result (0 success, 1 image
  discarded, 2 hardware-version mismatch, 3 transfer failure).

Rule: details are read best-effort. A body that does not have the layout above gives None, never
an error, because the frame itself is well-formed and must still be counted (and forwarded in full
mode). The classifier decides what a missing detail means: for 0x00CC/0x00CD it means `unknown`
(fail closed), for the others nothing, since their category does not depend on the detail.
"""

from __future__ import annotations

from dataclasses import dataclass

from gbcs.alerts import ASN1_SEQUENCE, DLMS_DATA_NOTIFICATION, GBZ_PROFILE
from gbcs.wire import EUI64_LENGTH, Cra

ACTIONED = 0x8F66
NOT_ACTIONED = 0x8F67
FIRMWARE_VERIFIED = 0x8F72
FIRMWARE_NOT_VERIFIED = 0x8F1C
TRANSFER_SUCCESS = 0x8F8A
TRANSFER_FAIL = 0x8F89
CS06_ACTIVATE_FIRMWARE = 0x0012
FUTURE_DATED_CODES = frozenset({0x00CA, 0x00CB, 0x00CC, 0x00CD})
FIRMWARE_RECEIPT_CODES = frozenset({0x00CE, 0x00CF})
CCS08_FIRMWARE_TRANSFER = 0x0128
IMAGE_HASH_LENGTH = 32
TRANSFER_RESULTS = {
    0: "success",
    1: "image discarded",
    2: "hardware version mismatch",
    3: "transfer failure",
}

_DLMS_BODY_AT = 25  # 0F, invoke-id (4), 00, 02 nn, 12 HH LL, 09 0C + date-time (12)
_GBZ_BODY_AT = 9  # 01 09, component count, alert code (2), timestamp (4)


@dataclass(frozen=True, slots=True)
class FutureDatedOutcome:
    actioned: bool | None  # None when the alert code is neither 0x8F66 nor 0x8F67
    message_code: int | None  # of the command reported on; None when the body does not say
    counter: int | None  # that command's originator counter, when the body carries it


@dataclass(frozen=True, slots=True)
class FirmwareReceipt:
    verified: bool | None
    image_hash: bytes


@dataclass(frozen=True, slots=True)
class FirmwareTransfer:
    success: bool | None
    target: bytes
    firmware_version: bytes
    result: int

    @property
    def result_name(self) -> str:
        return TRANSFER_RESULTS.get(self.result, "unknown result")


AlertDetail = FutureDatedOutcome | FirmwareReceipt | FirmwareTransfer


def alert_detail(
    cra: Cra, message_code: int, alert_code: int | None, payload: bytes
) -> AlertDetail | None:
    """The detail an alert of this message code carries, or None."""
    if cra is not Cra.ALERT or alert_code is None:
        return None
    if message_code in FUTURE_DATED_CODES:
        return _future_dated(message_code, alert_code, payload)
    if message_code in FIRMWARE_RECEIPT_CODES:
        return _firmware_receipt(alert_code, payload)
    if message_code == CCS08_FIRMWARE_TRANSFER:
        return _firmware_transfer(alert_code, payload)
    return None


def _outcome(alert_code: int, yes: int, no: int) -> bool | None:
    return True if alert_code == yes else False if alert_code == no else None


def _future_dated(message_code: int, alert_code: int, payload: bytes) -> FutureDatedOutcome:
    actioned = _outcome(alert_code, ACTIONED, NOT_ACTIONED)
    if message_code == 0x00CA:
        return FutureDatedOutcome(actioned, CS06_ACTIVATE_FIRMWARE, None)
    body: bytes | None = None
    if payload[:1] == bytes([DLMS_DATA_NOTIFICATION]):
        at = _DLMS_BODY_AT
        if payload[at : at + 2] == b"\x09\x13" and len(payload) >= at + 2 + 0x13:
            body = payload[at + 2 : at + 12]
    elif payload[:2] == GBZ_PROFILE:
        at = _GBZ_BODY_AT
        if payload[at : at + 1] == b"\x0e" and len(payload) >= at + 1 + 0x0E:
            body = payload[at + 1 : at + 11]
    if body is None:
        return FutureDatedOutcome(actioned, None, None)
    return FutureDatedOutcome(
        actioned, int.from_bytes(body[:2], "big"), int.from_bytes(body[2:], "big")
    )


def _firmware_receipt(alert_code: int, payload: bytes) -> FirmwareReceipt | None:
    verified = _outcome(alert_code, FIRMWARE_VERIFIED, FIRMWARE_NOT_VERIFIED)
    image_hash: bytes | None = None
    if payload[:1] == bytes([DLMS_DATA_NOTIFICATION]):
        at = _DLMS_BODY_AT
        if payload[at : at + 2] == b"\x09\x20":
            image_hash = payload[at + 2 : at + 2 + IMAGE_HASH_LENGTH]
    elif payload[:2] == GBZ_PROFILE:
        rest = payload[_GBZ_BODY_AT:]
        if len(rest) == IMAGE_HASH_LENGTH + 1 and rest[0] == IMAGE_HASH_LENGTH:
            image_hash = rest[1:]
        elif len(rest) == IMAGE_HASH_LENGTH:
            image_hash = rest
    if image_hash is None or len(image_hash) != IMAGE_HASH_LENGTH:
        return None
    return FirmwareReceipt(verified, image_hash)


def _firmware_transfer(alert_code: int, payload: bytes) -> FirmwareTransfer | None:
    if payload[:1] != bytes([ASN1_SEQUENCE]):
        return None
    elements = _der_children(payload)
    if elements is None or len(elements) != 5:
        return None
    tags = [tag for tag, _ in elements]
    if tags[:4] != [0x02, 0x18, 0x04, 0x04] or tags[4] not in (0x02, 0x0A):
        return None
    target, version, result = elements[2][1], elements[3][1], elements[4][1]
    if len(target) != EUI64_LENGTH or len(result) != 1:
        return None
    return FirmwareTransfer(
        _outcome(alert_code, TRANSFER_SUCCESS, TRANSFER_FAIL), target, version, result[0]
    )


def _der_children(data: bytes) -> list[tuple[int, bytes]] | None:
    """The top-level elements of a DER SEQUENCE that fills `data`, or None if it does not."""
    outer = _der_element(data, 0)
    if outer is None or outer[2] != len(data):
        return None
    _, content, _ = outer
    children: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(content):
        element = _der_element(content, pos)
        if element is None:
            return None
        tag, value, pos = element
        children.append((tag, value))
    return children


def _der_element(data: bytes, pos: int) -> tuple[int, bytes, int] | None:
    if pos + 2 > len(data):
        return None
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 2 or pos + n > len(data):
            return None
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        length = first
    if pos + length > len(data):
        return None
    return tag, data[pos : pos + length], pos + length
