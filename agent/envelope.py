"""The JSON envelope of a forwarded frame: what a WAN consumer receives on `up/<category>`.

Decoded header fields for routing and display, and the exact frame bytes (base64) for anything
that must verify a signature or a MAC. docs/mqtt.md documents every field.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from agent.consent import Mode
from agent.policy import Decision
from gbcs.codes import message_code_info
from gbcs.frame import Frame

# One encoder for every envelope: json.dumps with options builds a new one per call, which
# was a third of the envelope's cost at thousands of frames a second.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def hex_code(code: int | None) -> str | None:
    return None if code is None else f"0x{code:04X}"


def dedup_id(frame: Frame) -> str:
    """Stable across retransmissions: a GBCS message is unique by its parties, CRA and counter."""
    return _dedup_id(frame.originator.hex().upper(), frame.recipient.hex().upper(), frame)


def _dedup_id(originator: str, recipient: str, frame: Frame) -> str:
    return f"{originator}-{recipient}-{int(frame.cra)}-{frame.counter}"


def iso_utc(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def upstream_envelope(
    frame: Frame,
    device: bytes,
    decision: Decision,
    mode: Mode,
    received_at: datetime,
) -> tuple[str, bytes]:
    """(the envelope's id, the envelope as JSON bytes)."""
    info = message_code_info(frame.message_code)
    originator = frame.originator.hex().upper()
    recipient = frame.recipient.hex().upper()
    envelope_id = _dedup_id(originator, recipient, frame)
    payload = _encode(
        {
            "id": envelope_id,
            "device": device.hex().upper(),
            "category": decision.category.value,
            "cra": frame.cra.label,
            "message_code": hex_code(frame.message_code),
            "use_case": info.use_case if info is not None else None,
            "alert_code": hex_code(frame.alert_code),
            "critical": frame.critical,
            "counter": frame.counter,
            "originator": originator,
            "recipient": recipient,
            "mode": mode.value,
            "rule": decision.rule,
            "received_at": iso_utc(received_at),
            "frame": base64.b64encode(frame.raw).decode("ascii"),
        }
    ).encode()
    return envelope_id, payload
