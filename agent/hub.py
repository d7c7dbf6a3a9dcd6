"""The hub: wiring and lifecycle of radio, router, policy, consent and uplink.

The path of a frame upstream: the radio hands zigpy a packet; zigpy parses the ZCL and calls the
router's tunnel listener; the router calls `Hub.on_frame` with the device and the bytes; the hub
parses the GBCS header, classifies, decides and, when the decision is to forward, queues the
envelope on `up/<category>`. Downstream: a WAN command (from `down/gbcs`, or the lab's simulated
supplier) goes through `Hub.command_from_wan`, which parses, checks, decides, delivers the exact
bytes over the device's tunnel, and answers on `down/result`.

Everything on the per-frame path is synchronous CPU work on bytes already in memory; the only
awaits are the radio send and the MQTT publish, both on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import zigpy.application

from agent import envelope
from agent.config import Config, ConfigError
from agent.consent import ConsentRecord, ProfileRef
from agent.consent_service import open_consent
from agent.health import Health
from agent.policy import Direction, Profile, ProfileError, decide, parse_profile
from agent.router import HanRouter
from agent.uplink import Uplink
from agent.view import LiveView
from gbcs.classify import classify
from gbcs.frame import Cra, FrameError, parse_frame
from hal.radio import RadioSettings, open_radio

LOGGER = logging.getLogger(__name__)

VERSION = "0.1.0"


@dataclass
class Counters:
    received: int = 0
    forwarded: int = 0
    blocked: int = 0
    malformed: int = 0
    forwarded_by_category: Counter[str] = field(default_factory=Counter)
    blocked_by_category: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "forwarded": self.forwarded,
            "blocked": self.blocked,
            "malformed": self.malformed,
            "forwarded_by_category": dict(self.forwarded_by_category),
            "blocked_by_category": dict(self.blocked_by_category),
            "commands": dict(self.commands),
        }


@dataclass(frozen=True)
class CommandResult:
    id: str
    status: str  # delivered | blocked | refused
    message_code: str | None
    reason: str

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "status": self.status,
                "message_code": self.message_code,
                "reason": self.reason,
            },
            separators=(",", ":"),
        ).encode()


class Hub:
    def __init__(self, config: Config, view: LiveView | None = None) -> None:
        self.config = config
        self.view = view
        self.profile: Profile = load_profile(config)
        self.consent_service = open_consent(
            config, ProfileRef(self.profile.name, self.profile.version, self.profile.digest)
        )
        # Read by on_frame for every frame; replaced (never mutated) when a change is accepted.
        self.consent: ConsentRecord = self.consent_service.record
        self.counters = Counters()
        self.health = Health(config.health.silent_after)
        self.app: zigpy.application.ControllerApplication | None = None
        self.router: HanRouter | None = None
        self.uplink = Uplink(
            config.mqtt,
            config.topic_base,
            self.on_message,
            subscriptions=("down/gbcs", "bridge/request/consent"),
        )
        self._uplink_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.uplink.set_retained("bridge/info", self._info())
        self.uplink.set_retained("consent", self._consent_payload())
        self._uplink_task = asyncio.get_running_loop().create_task(self.uplink.run())
        radio = self.config.radio
        self.app = await open_radio(
            RadioSettings(
                type=radio.type,
                path=radio.path,
                baudrate=radio.baudrate,
                flow_control=radio.flow_control,
                channel=radio.channel,
                ieee=":".join(self.config.hub_id[i : i + 2] for i in range(0, 16, 2)).lower(),
            ),
            self.config.state_dir,
        )
        self.health.radio("ok")
        self.router = HanRouter(self.app, self.on_frame, self.health)
        self.router.start()
        self._health_task = asyncio.get_running_loop().create_task(self._publish_health())
        self.event(
            f"hub {self.config.hub_id} up: radio {radio.type}, mode {self.consent.mode.value}, "
            f"profile {self.profile.name} v{self.profile.version}, "
            f"MQTT {self.config.mqtt.host}:{self.config.mqtt.port} base {self.config.topic_base}"
        )

    async def stop(self) -> None:
        self.event("stopping")
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        if self.router is not None:
            await self.router.close()
        await self.uplink.close()
        if self._uplink_task is not None:
            self._uplink_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._uplink_task
        if self.app is not None:
            await self.app.shutdown()

    def health_snapshot(self) -> dict[str, object]:
        return self.health.snapshot(
            mode=self.consent.mode.value,
            reason=self.consent.reason,
            counters=self.counters.as_dict(),
        )

    async def _publish_health(self) -> None:
        while True:
            payload = json.dumps(self.health_snapshot(), separators=(",", ":")).encode()
            self.uplink.set_retained("health", payload)
            await asyncio.sleep(self.config.health.interval)

    def _info(self) -> bytes:
        return json.dumps(
            {
                "version": VERSION,
                "hub_id": self.config.hub_id,
                "radio": self.config.radio.type,
                "profile": {
                    "name": self.profile.name,
                    "version": self.profile.version,
                    "sha256": self.profile.digest,
                },
            },
            separators=(",", ":"),
        ).encode()

    def _consent_payload(self) -> bytes:
        record = self.consent.to_dict()
        record["profile_in_force"] = {
            "name": self.profile.name,
            "version": self.profile.version,
            "sha256": self.profile.digest,
        }
        return json.dumps(record, separators=(",", ":")).encode()

    def event(self, text: str) -> None:
        """A lifecycle event: on the live view when there is one, else in the log."""
        if self.view is not None:
            self.view.event(text)
        else:
            LOGGER.info(text)

    # -- upstream ----------------------------------------------------------------------------------

    def on_frame(self, device: bytes, data: bytes) -> None:
        """A GBCS message arrived from a HAN device's tunnel."""
        received_at = datetime.now(UTC)
        self.counters.received += 1
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            self.counters.malformed += 1
            LOGGER.warning("dropped a malformed frame from %s: %s", device.hex().upper(), exc)
            if self.view is not None:
                self.view.malformed(device, str(exc))
            return
        category = classify(frame)
        decision = decide(frame, category, self.consent.mode, Direction.UPSTREAM, self.profile)
        if decision.forwarded:
            self.counters.forwarded += 1
            self.counters.forwarded_by_category[category.value] += 1
            self.uplink.publish(
                f"up/{category.value}",
                envelope.upstream_envelope(frame, device, decision, self.consent.mode, received_at),
                qos=1,
            )
        else:
            self.counters.blocked += 1
            self.counters.blocked_by_category[category.value] += 1
        if self.view is not None:
            self.view.decision(Direction.UPSTREAM, device, frame, decision)

    # -- downstream --------------------------------------------------------------------------------

    async def on_message(self, topic: str, payload: bytes) -> None:
        if topic == self.uplink.topic("down/gbcs"):
            await self._on_down_gbcs(payload)
        elif topic == self.uplink.topic("bridge/request/consent"):
            await self._on_consent_request(payload)

    async def _on_consent_request(self, payload: bytes) -> None:
        answer = await self.consent_service.handle(payload)
        if answer.changed:
            self.consent = self.consent_service.record  # the next frame is decided by it
            self.uplink.set_retained("consent", self._consent_payload())
            self.uplink.set_retained(
                "health", json.dumps(self.health_snapshot(), separators=(",", ":")).encode()
            )
            self.event(f"consent: mode {self.consent.mode.value} set by {self.consent.set_by}")
        self.uplink.publish("bridge/response/consent", answer.payload, qos=1)

    async def _on_down_gbcs(self, payload: bytes) -> None:
        try:
            request = json.loads(payload)
            if not isinstance(request.get("id"), str | int):
                raise ValueError("id must be a string or an integer")
            request_id = str(request["id"])
            device = bytes.fromhex(request["device"])
            data = base64.b64decode(request["frame"], validate=True)
            if len(device) != 8:
                raise ValueError("device must be 16 hex digits")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            request_id = _request_id_of(payload)
            self._answer(
                CommandResult(request_id, "refused", None, f"malformed request envelope: {exc}")
            )
            return
        await self.command_from_wan(request_id, device, data)

    async def command_from_wan(self, request_id: str, device: bytes, data: bytes) -> CommandResult:
        """A command from the WAN for a HAN device: judged, then delivered unchanged or not."""
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            return self._answer(CommandResult(request_id, "refused", None, str(exc)))
        code = envelope.hex_code(frame.message_code)
        if frame.cra is not Cra.COMMAND:
            return self._answer(
                CommandResult(request_id, "refused", code, f"{frame.cra.article} is not a command")
            )
        if self.router is None or device not in self.router.devices:
            return self._answer(
                CommandResult(
                    request_id, "refused", code, f"device {device.hex().upper()} is not on this HAN"
                )
            )
        category = classify(frame)
        decision = decide(frame, category, self.consent.mode, Direction.DOWNSTREAM, self.profile)
        if self.view is not None:
            self.view.decision(Direction.DOWNSTREAM, device, frame, decision)
        if not decision.forwarded:
            return self._answer(CommandResult(request_id, "blocked", code, decision.reason))
        try:
            await self.router.send(device, frame.raw)
        except Exception as exc:
            return self._answer(
                CommandResult(request_id, "refused", code, f"delivery failed: {exc}")
            )
        return self._answer(CommandResult(request_id, "delivered", code, decision.reason))

    def _answer(self, result: CommandResult) -> CommandResult:
        self.counters.commands[result.status] += 1
        if result.status == "refused" and self.view is not None:
            self.view.refused(result.id, result.reason)
        self.uplink.publish("down/result", result.to_json(), qos=1)
        return result


def _request_id_of(payload: bytes) -> str:
    with contextlib.suppress(Exception):
        value = json.loads(payload).get("id")
        if isinstance(value, str | int):
            return str(value)
    return ""


def load_profile(config: Config) -> Profile:
    try:
        text = config.profile_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            config.path,
            "[consent] profile",
            f"a readable profile file ({config.profile_path}: {exc.strerror})",
        ) from None
    try:
        return parse_profile(text)
    except ProfileError as exc:
        raise ConfigError(config.profile_path, exc.key, f"expected {exc.expected}") from None
