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
