"""Commands addressed to the hub itself (the CHF), and the device log's consequences on the HAN.

The hub actions CCS01 (add a device to its device log) and CCS02 (remove one). Each change is
answered with a response frame signed by the hub and a CS14 alert carrying the whole log, both
going upstream through the policy like any device's. A device that appears on the HAN without
being on the log is asked to leave, and a signed security alert (0x8F3E, naming it) goes up.
Any other command to the hub is refused: this hub actions only its device-log commands.

Before acting, the hub checks a command's origin, in this order:
1. the GBCS recipient must be the hub itself;
2. with the ACB's key-agreement key configured (`[trust] acb_key`), the command must carry a MAC
   made with the key the ACB and the hub share for it (docs/gbcs-notes.md 6.2, gbcs/mac_key.py: ECDH
   of the ACB's KA key and the hub's own, `<state>/hub-ka-key.pem`, then the KDF over the header);
3. the originator counter must be above the last one accepted from that originator
   (docs/gbcs-notes.md 6.3), persisted in `<state>/hub-commands.json`, so a replayed or reordered
   command is refused even across restarts. A command refused at 1 or 2 does not move the counter
   on.
Without `[trust] acb_key` step 2 is skipped, and whoever can publish on `down/gbcs` can send the
hub a fresh command: a lab with the DCC's test frames has no ACB key. docs/operations.md says how
to configure the key, and the broker ACL that guards the topic either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zigpy.device
import zigpy.types
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.config import Config, ConfigError
from agent.state import atomic_write_json, load_json_state
from gbcs import chf_commands, mac_key, signature
from gbcs.frame import Cra, Frame, build_frame, verify_mac

if TYPE_CHECKING:
    from agent.hub import Hub

LOGGER = logging.getLogger(__name__)

ACTION_SUCCESS = b"\x00"  # DLMS action-result success
REFUSALS_KEPT = 20
"""Refused joins listed in health: the latest only. A device that keeps trying to join would
otherwise grow the retained health message for as long as the hub runs."""


class HubCommands:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.refused_joins: deque[str] = deque(maxlen=REFUSALS_KEPT)  # the latest, oldest first
        self.refused_joins_total = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.acb_key = load_acb_key(hub.config)
        self._counters_path = hub.config.state_dir / "hub-commands.json"
        # originator EUI-64 (hex) -> the highest originator counter accepted from it
        self._last_counter = _load_counters(self._counters_path)

    def stats(self) -> dict[str, Any]:
        return {
            **self.hub.device_log.stats(),
            "refused_joins": list(self.refused_joins),
            "refused_joins_total": self.refused_joins_total,
        }

    def execute(self, frame: Frame) -> tuple[str, str]:
        """(status, reason) for down/result; the log changes only on a readable command that
        is addressed to this hub and newer than the last one from its originator."""
        hub_id = self.hub.hub_eui64
        if frame.recipient != hub_id:
            return "refused", (
                f"not actioned by the hub: addressed to {frame.recipient.hex().upper()}, "
                f"not to this hub ({hub_id.hex().upper()})"
            )
        originator = frame.originator.hex().upper()
        unverified = self._mac_refusal(frame)
        if unverified is not None:
            LOGGER.warning(
                "refused a command to the hub from %s (counter %d): %s",
                originator,
                frame.counter,
                unverified,
            )
            return "refused", f"not actioned by the hub: {unverified}"
        last = self._last_counter.get(originator)
        if last is not None and frame.counter <= last:
            LOGGER.warning(
                "refused a command to the hub from %s: counter %d is not above %d (replayed?)",
                originator,
                frame.counter,
                last,
            )
            return "refused", (
                f"not actioned by the hub: replayed or out of order (counter {frame.counter} "
                f"is not above {last}, the last accepted from {originator})"
            )
        try:
            command = chf_commands.parse_payload(frame.message_code, frame.payload)
        except chf_commands.ChfCommandError as exc:
            return "refused", f"not actioned by the hub: {exc}"
        # Kept before acting: a crash in between loses this command, never lets it be replayed.
        self._last_counter[originator] = frame.counter
        atomic_write_json(self._counters_path, {"last_counter": self._last_counter})
        log = self.hub.device_log
        who = command.eui64.hex().upper()
        if command.install_code is not None:
            try:
                changed = log.add(command.eui64, command.install_code)
            except ValueError as exc:
                return "refused", f"not actioned by the hub: {exc}"
            done = f"{who} added to the device log" if changed else f"{who} already listed"
        else:
            changed = log.remove(command.eui64)
            done = f"{who} removed from the device log" if changed else f"{who} was not listed"
            if changed:
                self._leave(command.eui64)
                self.hub.forget_gsme(command.eui64)
        self.hub.joins.update(log.entries)
        self.hub.raise_own_alert(self._response(frame))
        if changed:
            self.hub.raise_own_alert(self._cs14())
        self.hub.event(f"device log: {done}")
        return "delivered", f"actioned by the hub: {done}"

    def _mac_refusal(self, frame: Frame) -> str | None:
        """Why the command's MAC does not show it came through the ACB; None when it does, or
        when no ACB key is configured."""
        if self.acb_key is None:
            return None
        if frame.mac is None:
            return "it carries no MAC, and [trust] acb_key asks for one"
        key = mac_key.for_message(
            self.hub.hub_ka_key,
            self.acb_key,
            cra=frame.cra,
            counter=frame.counter,
            originator=frame.originator,
            recipient=frame.recipient,
        )
        if not verify_mac(key, frame):
            return "its MAC does not verify with the ACB's key-agreement key (forged or altered?)"
        return None

    def join_refused(self, device: zigpy.device.Device) -> None:
        eui64 = bytes(device.ieee[::-1])
        who = eui64.hex().upper()
        LOGGER.warning("join by %s refused: not on the device log", who)
        self.refused_joins.append(who)
        self.refused_joins_total += 1
        self.hub.raise_own_alert(self.hub.hub_alerts.join_refused(eui64))
        self._leave(eui64)

    def _leave(self, eui64: bytes) -> None:
        app = self.hub.app
        if app is None:
            return
        ieee = zigpy.types.EUI64(eui64[::-1])
        if ieee in app.devices:
            task = asyncio.get_running_loop().create_task(app.remove(ieee))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _response(self, command: Frame) -> bytes:
        invoke = command.payload[2:6]
        key = self.hub.hub_key
        return build_frame(
            cra=Cra.RESPONSE,
            counter=command.counter,
            originator=self.hub.hub_eui64,
            recipient=command.originator,
            message_code=command.message_code,
            payload=b"\xc7\x01" + invoke + ACTION_SUCCESS + b"\x00",
            supplementary=command.supplementary,
            signer=lambda data: signature.sign(key, data),
        )

    def _cs14(self) -> bytes:
        app = self.hub.app
        pan = bytes(8)
        if app is not None and app.state.network_info.extended_pan_id is not None:
            pan = bytes(app.state.network_info.extended_pan_id[::-1])
        entries = [bytes.fromhex(e.eui64) for e in self.hub.device_log.entries]
        return self.hub.hub_alerts.device_log_changed(pan, entries)


def load_acb_key(config: Config) -> ec.EllipticCurvePublicKey | None:
    """The ACB's key-agreement public key from `[trust] acb_key`: a PEM public key, or the PEM
    certificate it comes in (GBCS KA keys are issued as certificates). None when not set."""
    path = config.acb_key_path
    if path is None:
        return None
    expected = "a PEM file with the ACB's EC P-256 key-agreement public key or certificate"
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            config.path, "[trust] acb_key", f"{expected} ({path}: {exc.strerror})"
        ) from None
    try:
        key = (
            x509.load_pem_x509_certificate(pem).public_key()
            if b"-----BEGIN CERTIFICATE-----" in pem
            else serialization.load_pem_public_key(pem)
        )
    except ValueError:
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError(config.path, "[trust] acb_key", f"{expected} ({path} is not one)")
    return key


def _load_counters(path: Path) -> dict[str, int]:
    advice = (
        "the hub will not forget which commands it has actioned, so move it aside only if no "
        "old command can be replayed"
    )
    return load_json_state(path, _counters_of, advice) or {}


def _counters_of(data: Any) -> dict[str, int]:
    counters = data["last_counter"]
    if not isinstance(counters, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in counters.items()
    ):
        raise ValueError("last_counter must map originators to integers")
    return counters
