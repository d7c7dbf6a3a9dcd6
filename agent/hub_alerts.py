"""The GBCS alerts the hub originates as the CHF, each signed with the hub's key.

- CS14 (0x0018, alert 0x8F12): the device log changed; carries the whole log (gbcs.md 5.3).
- 0x1000 with alert 0x8F3E (unauthorised communication access attempted): a device that is not
  on the device log tried to join; the body names its EUI-64. A security alert, so it goes up
  in restricted mode too.
- 0x00D5 (alert 0x8F84): a command the hub accepted could not be delivered to the meter; the
  body names the undelivered message by originator, target, CRA flag and counter (gbcs.md 5.1),
  never by its content.

All are addressed to the Access Control Broker, as the CHF's alerts are. Counters start at the
current time in milliseconds and only increase, so a restart never reuses one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec

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


class HubAlerts:
    def __init__(
        self,
        hub_eui64: bytes,
        key: ec.EllipticCurvePrivateKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.hub_eui64 = hub_eui64
        self._key = key
        self.clock = clock
        self.counter = int(time.time() * 1000)

    def _alert(self, message_code: int, alert_code: int, extra: bytes) -> bytes:
        self.counter += 1
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
        (0 success, 3 transfer failure), as gbcs/alert_details.py reads it (gbcs.md 5.5)."""
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
