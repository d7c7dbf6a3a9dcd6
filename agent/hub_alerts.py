"""The GBCS alerts the hub originates as the CHF, each signed with the hub's key.

- CS14 (0x0018, alert 0x8F12): the device log changed; carries the whole log
  (docs/gbcs-notes.md 5.3).
- 0x1000 with alert 0x8F3E (unauthorised communication access attempted): a device that is not
  on the device log tried to join; the body names its EUI-64. A security alert, so it goes up
  in restricted mode too.
- 0x00D5 (alert 0x8F84): a command the hub accepted could not be delivered to the meter; the
  body names the undelivered message by originator, target, CRA flag and counter, never by its
  content (docs/gbcs-notes.md 5.1).

All are addressed to the Access Control Broker, as the CHF's alerts are. Counters start at the
current time in milliseconds and only increase. A restart must never reuse one (the WAN would
take the alert for a duplicate of an old one, by its dedup id), and a Pi has no clock that runs
while it is off: after a reboot its time can be behind until NTP answers. So the hub also keeps
a high-water mark in `<state>/hub-counter.json`, reserved COUNTER_BLOCK counters ahead and
written before any of them is used; a start takes the greater of the clock and that mark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from agent.state import atomic_write_json, load_json_state
from gbcs import chf_commands, payloads, signature
from gbcs.frame import Cra, Frame, build_frame

ACB = bytes.fromhex("90B3D51F30000002")
CS14 = 0x0018
DEVICE_LOG_CHANGED = 0x8F12
GENERIC_CRITICAL = 0x1000
UNAUTHORISED_ACCESS = 0x8F3E
FAILURE_TO_DELIVER = 0x00D5
FAILURE_TO_DELIVER_ALERT = 0x8F84
CCS08 = 0x0128
TRANSFER_SUCCESS = 0x8F8A
TRANSFER_FAIL = 0x8F89
COUNTER_BLOCK = 1000
"""Counters reserved per write of the high-water mark: one small write per thousand alerts."""


class HubAlerts:
    def __init__(
        self,
        hub_eui64: bytes,
        key: ec.EllipticCurvePrivateKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        state_path: Path | None = None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.hub_eui64 = hub_eui64
        self._key = key
        self.clock = clock
        self._state_path = state_path
        self._reserved = _load_mark(state_path) if state_path is not None else 0
        self.counter = max(now_ms(), self._reserved)

    def _alert(self, message_code: int, alert_code: int, extra: bytes) -> bytes:
        self.counter += 1
        if self._state_path is not None and self.counter > self._reserved:
            self._reserved = self.counter + COUNTER_BLOCK
            atomic_write_json(self._state_path, {"reserved_up_to": self._reserved})
        return build_frame(
            cra=Cra.ALERT,
            counter=self.counter,
            originator=self.hub_eui64,
            recipient=ACB,
            message_code=message_code,
            payload=payloads.dlms_alert(self.counter, alert_code, self.clock(), extra),
            signer=lambda data: signature.sign(self._key, data),
        )

    def device_log_changed(self, extended_pan_id: bytes, entries: list[bytes]) -> bytes:
        return self._alert(
            CS14, DEVICE_LOG_CHANGED, chf_commands.cs14_extra(extended_pan_id, entries)
        )

    def join_refused(self, eui64: bytes) -> bytes:
        return self._alert(GENERIC_CRITICAL, UNAUTHORISED_ACCESS, b"\x09\x08" + eui64)

    def firmware_transfer(self, target: bytes, file_version: int, success: bool) -> bytes:
        """CCS08: an ASN.1 SEQUENCE of alert code, time, target, firmware version and result
        (0 success, 3 transfer failure), as gbcs/alert_details.py reads it
        (docs/gbcs-notes.md 4.2)."""
        self.counter += 1
        alert_code = TRANSFER_SUCCESS if success else TRANSFER_FAIL
        when = self.clock().strftime("%Y%m%d%H%M%SZ").encode()
        body = (
            _der(0x02, b"\x00" + alert_code.to_bytes(2, "big"))
            + _der(0x18, when)
            + _der(0x04, target)
            + _der(0x04, file_version.to_bytes(4, "big"))
            + _der(0x0A, bytes([0 if success else 3]))
        )
        return build_frame(
            cra=Cra.ALERT,
            counter=self.counter,
            originator=self.hub_eui64,
            recipient=ACB,
            message_code=CCS08,
            payload=_der(0x30, body),
            signer=lambda data: signature.sign(self._key, data),
        )

    def failure_to_deliver(self, command: Frame, target: bytes) -> bytes:
        body = (
            b"\x02\x04\x09\x08"
            + command.originator
            + b"\x09\x08"
            + target
            + b"\x11"
            + bytes([int(command.cra)])
            + b"\x15"
            + command.counter.to_bytes(8, "big")
        )
        return self._alert(FAILURE_TO_DELIVER, FAILURE_TO_DELIVER_ALERT, body)


def _der(tag: int, value: bytes) -> bytes:
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n])
    return bytes([tag]) + length + value


def _load_mark(path: Path) -> int:
    """The counter every earlier run stayed below (0 if none was kept)."""
    advice = (
        "the hub's alert counters must never go back, so restore it from a backup; move it "
        "aside only if this hub's clock is right"
    )
    return load_json_state(path, _mark_of, advice) or 0


def _mark_of(data: Any) -> int:
    mark = data["reserved_up_to"]
    if type(mark) is not int or mark < 0:
        raise ValueError("reserved_up_to must be a non-negative integer")
    return mark
