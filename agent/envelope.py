"""The JSON envelope of a forwarded frame: what a WAN consumer receives on `up/<category>`.

Decoded header fields for routing and display, and the exact frame bytes (base64) for anything
that must verify a signature or a MAC. docs/mqtt.md documents every field.
"""

from __future__ import annotations

import binascii
import json
from datetime import UTC, datetime
from functools import lru_cache

from agent.consent import Mode
from agent.policy import Decision
from gbcs.codes import Category, message_code_info
from gbcs.frame import Cra, Frame

_encode = json.JSONEncoder(separators=(",", ":")).encode


@lru_cache(maxsize=4096)
def _json_text(value: str | None) -> str:
    """A string (or null) as JSON. Cached: the category, CRA, mode, rule and use-case texts
    come from small fixed sets."""
    return _encode(value)


def hex_code(code: int | None) -> str | None:
    return None if code is None else f"0x{code:04X}"


@lru_cache(maxsize=4096)
def _json_hex(code: int | None) -> str:
    """`hex_code` as JSON. Cached: alert codes come from a fixed table."""
    return "null" if code is None else f'"0x{code:04X}"'


def dedup_id(frame: Frame) -> str:
    """Stable across retransmissions: a GBCS message is unique by its parties, CRA and counter."""
    return _envelope_id(frame, _parties(frame.originator, frame.recipient)[0])


def _envelope_id(frame: Frame, id_prefix: str) -> str:
    return f"{id_prefix}{int(frame.cra)}-{frame.counter}"


@lru_cache(maxsize=1024)
def _parties(originator: bytes, recipient: bytes) -> tuple[str, str]:
    """(the id's "ORIGINATOR-RECIPIENT-" prefix, the envelope's originator and recipient
    fields). Cached: a hub hears a handful of meters, and the hex texts were a tenth of the
    envelope's cost; bounded, as the bytes come off the air."""
    originator_hex, recipient_hex = originator.hex().upper(), recipient.hex().upper()
    return (
        f"{originator_hex}-{recipient_hex}-",
        f'"originator":"{originator_hex}","recipient":"{recipient_hex}",',
    )


@lru_cache(maxsize=1024)
def _classification(category: Category, cra: Cra, message_code: int) -> str:
    """The envelope's fields that follow from the frame's kind: a few hundred combinations.
    Keyed by the members themselves: a StrEnum or IntEnum member hashes as its value, in C,
    where `.value` is a descriptor call per frame."""
    info = message_code_info(message_code)
    return (
        f'"category":{_json_text(category.value)},"cra":{_json_text(cra.label)},'
        f'"message_code":{_json_hex(message_code)},'
        f'"use_case":{_json_text(info.use_case if info is not None else None)},'
    )


@lru_cache(maxsize=256)
def _consent(mode: Mode, rule: str) -> str:
    return f'"mode":{_json_text(mode.value)},"rule":{_json_text(rule)},'


_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))  # ".000Z" to ".999Z"


@lru_cache(maxsize=4)
def _utc_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").removesuffix("+00:00")


def iso_utc_ms(epoch_ns: int) -> str:
    """UTC to the millisecond (truncated), e.g. 2026-11-28T23:59:59.999Z. From integer
    nanoseconds, so no float rounding moves a time across a millisecond; the text of the second
    is made once a second (formatting a datetime was a fifth of the envelope's cost)."""
    seconds, ms = divmod(epoch_ns // 1_000_000, 1000)
    return _utc_second(seconds) + _MILLISECONDS[ms]


def upstream_envelope(
    frame: Frame,
    device: bytes,
    decision: Decision,
    mode: Mode,
    received_ns: int,
) -> tuple[str, bytes]:
    """(the envelope's id, the envelope as JSON bytes); `received_ns` is `time.time_ns()` when
    the frame arrived.

    Written field by field, not through json.dumps of a dict: one is built per forwarded frame
    and the dict encoder was half of the hub's own work per frame (BENCHMARKS.md). The output is
    byte for byte what `json.dumps(fields, separators=(",", ":"))` gives for the same fields
    (tests/test_envelope.py checks it): hex, digits, base64 and the ISO time need no escaping,
    and every other text goes through the JSON encoder.
    """
    id_prefix, parties = _parties(frame.originator, frame.recipient)
    envelope_id = _envelope_id(frame, id_prefix)
    payload = (
        f'{{"id":"{envelope_id}","device":"{device.hex().upper()}",'
        f"{_classification(decision.category, frame.cra, frame.message_code)}"
        f'"alert_code":{_json_hex(frame.alert_code)},'
        f'"critical":{"true" if frame.critical else "false"},'
        f'"counter":{int(frame.counter)},{parties}'
        f"{_consent(mode, decision.rule)}"
        f'"received_at":"{iso_utc_ms(received_ns)}",'
        f'"frame":"{binascii.b2a_base64(frame.raw, newline=False).decode("ascii")}"}}'
    )
    return envelope_id, payload.encode()
