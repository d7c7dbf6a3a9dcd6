"""The hub: wiring and lifecycle of radio, router, policy, consent and uplink.

The path of a frame upstream: the radio hands zigpy a packet; zigpy parses the ZCL and calls the
router's tunnel listener; the router calls `Hub.frame_arrived` with the device and the bytes; at
the event loop's next turn, with the other frames of that turn, the hub parses the GBCS header,
classifies, decides and, when the decision is to forward, queues the envelope on
`up/<category>`. Downstream: a WAN command (from `down/gbcs`, or the lab's simulated
supplier) goes through `Hub.command_from_wan`, which parses, checks, decides, delivers the exact
bytes over the device's tunnel, and answers on `down/result`.

Everything on the per-frame path is synchronous CPU work on bytes already in memory; the only
awaits are the radio send and the MQTT publish, both on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

import zigpy.application

from agent import envelope, hub_key, signed_answer, wan_input
from agent import version as agent_version
from agent.cancel import cancel_and_wait
from agent.chf_log import ChfDeviceLog
from agent.config import Config, ConfigError
from agent.consent import ConsentRecord, Mode, ProfileRef
from agent.consent_service import MAX_REQUEST_BYTES as MAX_CONSENT_REQUEST_BYTES
from agent.consent_service import open_consent
from agent.firmware import MAX_REQUEST_BYTES as MAX_FIRMWARE_REQUEST_BYTES
from agent.firmware import FirmwareService
from agent.gsme import GsmeServer, Queued, QueueFull
from agent.han_capture import HanCapture
from agent.health import Health
from agent.homeassistant import Discovery
from agent.hub_alerts import HubAlerts
from agent.hub_commands import HubCommands
from agent.joins import JoinManager
from agent.logs import RepeatLimiter
from agent.outbox import Outbox
from agent.policy import Decision, Direction, Profile, ProfileError, decide, parse_profile
from agent.radio_backup import backup_now, periodic_backups
from agent.radio_supervisor import RadioSupervisor, SupervisorTiming
from agent.router import HanRouter
from agent.uplink import InboundLimits, Uplink
from agent.view import LiveView
from agent.wan_input import Oversize, RequestError, echo_transaction, parse_object
from gbcs import signature
from gbcs.classify import classify
from gbcs.frame import Cra, FrameError, parse_frame
from hal.radio import RadioSettings

LOGGER = logging.getLogger(__name__)

VERSION = agent_version()  # pyproject.toml's, from the installed package's metadata

MAX_COMMAND_REQUEST_BYTES = 16384
"""A `down/gbcs` envelope: the largest GBCS command a tunnel takes (1,500 bytes) is about 2 KiB
in base64, so this leaves room and no more."""
MAX_PERMIT_JOIN_REQUEST_BYTES = 1024
REQUEST_LIMITS = InboundLimits(
    max_bytes={
        "down/gbcs": MAX_COMMAND_REQUEST_BYTES,
        "bridge/request/consent": MAX_CONSENT_REQUEST_BYTES,
        "bridge/request/permit_join": MAX_PERMIT_JOIN_REQUEST_BYTES,
        "bridge/request/firmware": MAX_FIRMWARE_REQUEST_BYTES,
    }
)


@dataclass
class Counters:
    received: int = 0
    forwarded: int = 0
    blocked: int = 0
    malformed: int = 0
    failed: int = 0  # handling raised (a bug): not forwarded, logged with its traceback
    forwarded_by_category: Counter[str] = field(default_factory=Counter)
    blocked_by_category: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "forwarded": self.forwarded,
            "blocked": self.blocked,
            "malformed": self.malformed,
            "failed": self.failed,
            "forwarded_by_category": dict(self.forwarded_by_category),
            "blocked_by_category": dict(self.blocked_by_category),
            "commands": dict(self.commands),
        }


@dataclass(frozen=True)
class CommandResult:
    id: str
    status: str  # delivered | blocked | refused; for a GSME also queued, then delivered or expired
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
        self._up_topics: dict[str, str] = {}  # category -> its up/<category> topic
        # Off the air, not yet handled: (device, bytes, arrival time, mode in force then).
        self._arrived: list[tuple[bytes, bytes, int, Mode]] = []
        self.health = Health(config.health.silent_after)
        self.outbox = Outbox(
            config.state_dir / "outbox.sqlite",
            max_bytes=config.outbox.max_bytes,
            max_age=config.outbox.max_age,
            window=config.outbox.window,
        )
        self.health.add_section("outbox", self.outbox.stats)
        self.health.add_check("outbox", self._outbox_check)
        self.router: HanRouter | None = None
        self.radio = RadioSupervisor(
            radio_settings(config),
            config.state_dir,
            self.health,
            on_up=self._radio_up,
            on_down=self._radio_down,
            timing=SupervisorTiming(open_timeout=config.radio.open_timeout),
        )
        # What the WAN may send, topic by topic; each handler answers every request once.
        self._requests: dict[str, Callable[[bytes | Oversize], Awaitable[None]]] = {
            "down/gbcs": self._on_down_gbcs,
            "bridge/request/permit_join": self._on_permit_join,
            "bridge/request/consent": self._on_consent_request,
            "bridge/request/firmware": self._on_firmware_request,
        }
        self.uplink = Uplink(
            config.mqtt,
            config.topic_base,
            self.on_message,
            subscriptions=tuple(self._requests),
            outbox=self.outbox,
            limits=REQUEST_LIMITS,
        )
        self.health.add_section("inbound", self.uplink.inbound_stats)
        self.health.add_section("mqtt", self.uplink.mqtt_stats)
        self._warn = RepeatLimiter()
        # The CHF device log is the whitelist; the hub's own alerts are signed with its key.
        self.hub_eui64 = bytes.fromhex(config.hub_id)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.device_log = ChfDeviceLog(config.state_dir, config.devices)
        self.device_log.on_admit = self._admitted
        self.discovery: Discovery | None = None  # Home Assistant discovery, when enabled
        if config.homeassistant.enabled:
            log = self.device_log
            self.discovery = Discovery(
                self.uplink,
                config.hub_id,
                config.topic_base,
                config.homeassistant.discovery_prefix,
                VERSION,
                lambda: [entry.eui64 for entry in log.entries],
            )
            log.on_change = self.discovery.sync
        self.hub_key = hub_key.load_or_create(config.state_dir)
        self.hub_ka_key = hub_key.load_or_create(config.state_dir, hub_key.KA_KEY_FILE)
        self.hub_alerts = HubAlerts(
            self.hub_eui64, self.hub_key, state_path=config.state_dir / "hub-counter.json"
        )
        self.hub_commands = HubCommands(self)
        self.health.add_section("device_log", self.hub_commands.stats)
        self.firmware = FirmwareService(
            config.state_dir,
            lambda: dict(self.consent_service.state.trust),
            lambda: self.radio.app,
            lambda eui, version, ok: self.raise_own_alert(
                self.hub_alerts.firmware_transfer(eui, version, ok)
            ),
            lambda answer: self._answer_request("firmware", answer),
            self._firmware_event,
        )
        self.health.add_section("firmware", self.firmware.stats)
        self.gsme = GsmeServer(
            self.device_log.admits,
            self.on_frame,
            self._gsme_served,
            self._gsme_expired,
            expiry=config.gsme.queue_expiry,
            max_queued=config.gsme.max_queued,
            path=config.state_dir / "gsme-queue.json",
        )
        self.health.add_section("gsme", self.gsme.stats)
        self.joins = JoinManager(self.device_log.entries, lambda: self.radio.app)
        self._radio_tasks: set[asyncio.Task[object]] = set()
        self._uplink_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped_tasks: dict[str, str] = {}  # long-lived task -> why it ended unasked
        self.health.add_check("tasks", self._tasks_check)
        self.capture = open_capture(config)  # the HAN as pcapng, when asked for
        self.health.add_section("capture", self.capture.stats)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        await self.outbox.open()
        self.gsme.start()  # what expired while the hub was down is answered now
        self.uplink.set_retained("bridge/info", self._info())
        self.uplink.set_retained("consent", self._consent_payload())
        if self.discovery is not None:
            self.discovery.sync()
        self._uplink_task = self._watched("uplink", self.uplink.run())
        radio = self.config.radio
        await self.radio.start()  # the first attempt; on failure it keeps retrying behind us
        self._spawn(
            periodic_backups(
                lambda: self.radio.app, self.radio.up, self.config.state_dir, radio.backup_hours
            )
        )
        self._health_task = self._watched("health", self._publish_health())
        self.event(
            f"hub {self.config.hub_id} up: radio {radio.type}, mode {self.consent.mode.value}, "
            f"profile {self.profile.name} v{self.profile.version}, "
            f"MQTT {self.config.mqtt.host}:{self.config.mqtt.port} base {self.config.topic_base}"
        )

    async def stop(self) -> None:
        self._stopping = True
        self.event("stopping")
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        # Stop taking frames (router, radio), commit what was accepted, flush what the broker
        # will take, say offline, and only then close the outbox: what the broker did not
        # acknowledge stays on disk for the next start.
        if self.router is not None:
            await self.router.close()
        for task in list(self._radio_tasks):
            task.cancel()
        await asyncio.gather(*self._radio_tasks, return_exceptions=True)
        await self.joins.close()
        await self.firmware.close()
        await self.gsme.close()
        await self.radio.stop()
        self._handle_arrived()  # frames off the air before the radio stopped are accepted
        await self.capture.close()
        with contextlib.suppress(Exception):
            await self.outbox.flush()
        await self.uplink.close()
        if self._uplink_task is not None:
            await cancel_and_wait(self._uplink_task)
        await self.outbox.close()

    def _watched(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task that must run as long as the hub does. Each catches what one message or
        record can raise; if one ends all the same, that is said at error level, health turns
        `degraded` and the watchdog is no longer fed, so systemd restarts the hub."""
        task = asyncio.get_running_loop().create_task(coro, name=f"hub-{name}")

        def ended(task: asyncio.Task[None]) -> None:
            if self._stopping or task.cancelled():
                return
            exc = task.exception()
            why = repr(exc) if exc is not None else "returned"
            self._stopped_tasks[name] = why
            LOGGER.error("the hub's %s task stopped: %s; the watchdog is no longer fed", name, why)

        task.add_done_callback(ended)
        return task

    def _tasks_check(self) -> tuple[bool, str]:
        stopped = dict(self._stopped_tasks)
        # Tasks the radio supervisor and the GSME queue run for themselves.
        for name, task in (
            ("radio supervisor", self.radio.task),
            ("gsme sweep", self.gsme.sweeper),
        ):
            if task is not None and task.done() and not task.cancelled():
                stopped[name] = repr(task.exception()) if task.exception() else "returned"
        if not stopped:
            return True, ""
        return False, "; ".join(f"{n} stopped: {why}" for n, why in stopped.items())

    def _admitted(self, eui64: bytes) -> None:
        self.joins.update(self.device_log.entries)
        if self.router is not None:
            self.router.reconsider(eui64)

    def _outbox_check(self) -> tuple[bool, str]:
        """The watchdog's view of the outbox: its writer is alive and its last commit worked."""
        if self.outbox.writer_healthy():
            return True, ""
        return False, f"outbox writer: {self.outbox.writer_trouble()}"

    @property
    def app(self) -> zigpy.application.ControllerApplication | None:
        """The radio's zigpy application while it is up, else None."""
        return self.radio.app

    def _radio_up(self, app: zigpy.application.ControllerApplication) -> None:
        if self.router is None:
            self.router = HanRouter(
                app,
                self.frame_arrived,
                self.health,
                admit=self.device_log.admits,
                on_refused=self.hub_commands.join_refused,
                on_sleepy=self.gsme.attach,
                on_event=self._device_event,
            )
            self.router.start()
        else:
            self.router.rebind(app)
        app.packet_tap = self.capture  # hal/se_profile.py: every packet, either way
        self.joins.radio_up()
        self._spawn(backup_now(app, self.config.state_dir, "radio-up"))
        self.event(f"radio {self.config.radio.type} up")

    def _radio_down(self) -> None:
        self.joins.radio_down()
        if self.router is not None:
            self.router.unbind()
        self.event(f"radio down: {self.radio.last_error}")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._radio_tasks.add(task)
        task.add_done_callback(self._radio_task_done)

    def _radio_task_done(self, task: asyncio.Task[object]) -> None:
        self._radio_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOGGER.warning("radio housekeeping failed: %r", task.exception())

    def reload(self, config: Config) -> str:
        """SIGHUP: take the profile (and log level) from a re-read config; the radio stays up.

        The new profile is read and checked before anything changes (a bad one raises
        ConfigError and the running profile stays). Other changed settings are reported, not
        applied: they need a restart. Returns what was done, for the log and STATUS=.
        """
        profile = load_profile(config)
        ignored = [
            section
            for section in sorted(set(config.raw) | set(self.config.raw))
            if section not in ("consent", "log")
            and config.raw.get(section) != self.config.raw.get(section)
        ]
        old_consent, new_consent = self.config.raw["consent"], config.raw["consent"]
        if old_consent["initial_mode"] != new_consent["initial_mode"]:
            ignored.append("consent.initial_mode")
        self.profile = profile
        # Consent records accepted from now on name the profile they were decided under.
        self.consent_service.profile = ProfileRef(profile.name, profile.version, profile.digest)
        self.config = replace(
            self.config, profile_path=config.profile_path, log_level=config.log_level
        )
        self._recheck_gsme_queues()
        self.uplink.set_retained("bridge/info", self._info())
        self.uplink.set_retained("consent", self._consent_payload())
        done = f"reloaded: profile {profile.name} v{profile.version}, log level {config.log_level}"
        if ignored:
            done += f"; changes to {', '.join(ignored)} need a restart"
        self.event(done)
        return done

    def health_snapshot(self) -> dict[str, object]:
        return self.health.snapshot(
            mode=self.consent.mode.value,
            reason=self.consent.reason,
            counters=self.counters.as_dict(),
        )

    async def _publish_health(self) -> None:
        while True:
            try:
                self._publish_health_now()
                self._publish_devices()  # their last-seen ages move on with health
            except Exception:  # a bug in one section must not end the heartbeat
                if self._warn.allow("health"):
                    LOGGER.exception("building the health snapshot failed")
            await asyncio.sleep(self.config.health.interval)

    def _publish_health_now(self) -> None:
        """`bridge/health`, Zigbee2MQTT's name for it, and `health`, kept for one release."""
        payload = json.dumps(self.health_snapshot(), separators=(",", ":")).encode()
        self.uplink.set_retained("bridge/health", payload)
        self.uplink.set_retained("health", payload)

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        """`bridge/event`: `{"type", "data"}`, as Zigbee2MQTT's, QoS 0, not retained."""
        body = {"type": kind, "data": data}
        self.uplink.publish("bridge/event", json.dumps(body, separators=(",", ":")).encode(), qos=0)

    def _firmware_event(self, event: dict[str, object]) -> None:
        self.uplink.publish(
            "bridge/event/firmware", json.dumps(event, separators=(",", ":")).encode(), qos=0
        )
        self._event("firmware_progress", event)

    def _device_event(self, kind: str, eui64: bytes) -> None:
        self._event(kind, {"ieee_address": f"0x{eui64.hex()}", "eui64": eui64.hex().upper()})
        self._publish_devices()

    def _publish_devices(self) -> None:
        """`bridge/devices`, retained: every device on the device log, as the hub knows it."""
        devices = []
        for entry in sorted(self.device_log.entries, key=lambda e: e.eui64):
            eui = entry.eui64
            raw = bytes.fromhex(eui)
            han = self.router.devices.get(raw) if self.router is not None else None
            known = self.health.devices.get(eui)
            gsme = self.gsme.meters.get(raw)
            if han is not None and han.kind == "tunnel":
                tunnel: str | None = "open" if han.tunnel_id is not None else "not open"
            elif gsme is not None:
                tunnel = "open" if gsme.tunnel_id is not None else "not open"
            else:
                tunnel = None  # no tunnel on this kind of device (an IHD)
            devices.append(
                {
                    "ieee_address": f"0x{eui.lower()}",
                    "eui64": eui,
                    "type": han.kind if han is not None else None,
                    "model": known.model if known is not None else None,
                    "joined": han is not None,
                    "state": self.health.device_status(eui) if known is not None else None,
                    "last_seen_s": (
                        round(self.health.clock() - known.last_seen, 1) if known else None
                    ),
                    "tunnel": tunnel,
                }
            )
        self.uplink.set_retained(
            "bridge/devices", json.dumps(devices, separators=(",", ":")).encode()
        )

    def _info(self) -> bytes:
        return json.dumps(
            {
                "version": VERSION,
                "hub_id": self.config.hub_id,
                "radio": self.config.radio.type,
                "hub_key": {
                    "key_id": signature.key_id(self.hub_key.public_key()),
                    "public_key_pem": hub_key.public_pem(self.hub_key),
                },
                "hub_ka_key": {
                    "key_id": signature.key_id(self.hub_ka_key.public_key()),
                    "public_key_pem": hub_key.public_pem(self.hub_ka_key),
                },
                "commands_mac_checked": self.hub_commands.acb_key is not None,
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
        return signed_answer.sign(self.hub_key, record)

    def event(self, text: str) -> None:
        """A lifecycle event: on the live view when there is one, else in the log."""
        if self.view is not None:
            self.view.event(text)
        else:
            LOGGER.info(text)

    # -- upstream ----------------------------------------------------------------------------------

    def frame_arrived(self, device: bytes, data: bytes) -> None:
        """The router's handler: a frame off the air, handled at the event loop's next turn
        with the others that arrive in this one, in arrival order, and decided under the
        consent in force when it arrived (a change accepted in between does not reach back).

        Under load zigpy hands over many frames a turn. Handled one at a time between zigpy's
        own work on each, every step of the hub's ran with cold caches, at 2-2.5 times its
        cost when timed alone; back to back they cost about 10 us a frame less (BENCHMARKS.md).
        At a radio's usual rate a batch is one frame, and the wait is one turn of the loop.
        """
        if not self._arrived:
            asyncio.get_running_loop().call_soon(self._handle_arrived)
        self._arrived.append((device, data, time.time_ns(), self.consent.mode))

    def _handle_arrived(self) -> None:
        arrived, self._arrived = self._arrived, []
        for device, data, received_ns, mode in arrived:
            self._handle(device, data, received_ns, mode)

    def on_frame(self, device: bytes, data: bytes) -> None:
        """A GBCS message to handle now: the hub's own alerts, a GSME's, a test's."""
        self._handle(device, data, time.time_ns(), self.consent.mode)

    def _handle(self, device: bytes, data: bytes, received_ns: int, mode: Mode) -> None:
        try:
            self._handle_frame(device, data, received_ns, mode)
        except Exception:  # a bug on one frame must not lose the rest of a batch, nor its caller
            self.counters.failed += 1
            LOGGER.exception("handling a frame from %s failed", device.hex().upper())

    def _handle_frame(self, device: bytes, data: bytes, received_ns: int, mode: Mode) -> None:
        """Parse, classify, decide and, if forwarded, queue the envelope in the outbox."""
        self.counters.received += 1
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            self.counters.malformed += 1
            # Restricted: the reason can quote payload-derived values, so say only where it broke.
            why = (
                str(exc)
                if mode is Mode.FULL
                else f"{len(data)} bytes, unreadable at byte {exc.offset}"
            )
            LOGGER.warning("dropped a malformed frame from %s: %s", device.hex().upper(), why)
            self.capture.malformed(device, data, why)
            if self.view is not None:
                self.view.malformed(device, str(exc))
            return
        category = classify(frame)
        decision = decide(frame, category, mode, Direction.UPSTREAM, self.profile)
        self.capture.decided(Direction.UPSTREAM, device, frame, decision, mode)
        name = category.value
        if decision.forwarded:
            envelope_id, payload = envelope.upstream_envelope(
                frame, device, decision, mode, received_ns
            )
            topic = self._up_topics.get(name)
            if topic is None:
                topic = self._up_topics[name] = self.uplink.topic(f"up/{name}")
            self.outbox.add(topic, payload, category=name, dedup_id=envelope_id)
            # Counted once accepted: a frame whose envelope failed counts as failed only.
            self.counters.forwarded += 1
            self.counters.forwarded_by_category[name] += 1
        else:
            self.counters.blocked += 1
            self.counters.blocked_by_category[name] += 1
        if self.view is not None:
            self.view.decision(Direction.UPSTREAM, device, frame, decision)

    # -- downstream --------------------------------------------------------------------------------

    async def on_message(self, topic: str, payload: bytes | Oversize) -> None:
        handler = self._requests.get(topic.removeprefix(self.uplink.base + "/"))
        if handler is not None:
            await handler(payload)

    def refused_request(self, topic: str, reason: str) -> None:
        """One log line per refused request; the same refusal repeated is written once every
        few seconds with a count of those left out (a flood must not flood the journal)."""
        self._warn.warn_refusal(LOGGER, f"a request on {topic}", reason)

    def _answer_request(self, name: str, answer: dict[str, Any]) -> None:
        """Every answer on bridge/response/<name> carries the hub's signature (signed_answer)."""
        self.uplink.publish(
            f"bridge/response/{name}", signed_answer.sign(self.hub_key, answer), qos=1
        )

    async def _on_permit_join(self, payload: bytes | Oversize) -> None:
        """{"time": N, "transaction": any} (or "seconds"): the operator's time-limited open
        join."""
        request: object = None
        try:
            request = parse_object(payload, MAX_PERMIT_JOIN_REQUEST_BYTES)
            transaction = wan_input.transaction(request)
            # Zigbee2MQTT 2.x's `time`; `seconds`, this hub's first name for it, still works.
            key = "time" if "time" in request or "seconds" not in request else "seconds"
            seconds = request.get(key)
            await self.joins.permit_open(seconds)
            answer: dict[str, object] = {"status": "ok", "data": {key: seconds}}
        except (ValueError, LookupError) as exc:  # RequestError is a ValueError
            transaction = echo_transaction(request)
            self.refused_request("bridge/request/permit_join", str(exc))
            answer = {"status": "error", "error": str(exc)}
        except Exception as exc:
            transaction = echo_transaction(request)
            LOGGER.warning("permit_join: the radio refused: %r", exc)
            answer = {"status": "error", "error": f"the radio refused: {exc!r}"}
        if transaction is not None:
            answer["transaction"] = transaction
        self._answer_request("permit_join", answer)

    async def _on_firmware_request(self, payload: bytes | Oversize) -> None:
        self.firmware.handle(payload)

    async def _on_consent_request(self, payload: bytes | Oversize) -> None:
        answer = await self.consent_service.handle(payload)
        if answer.changed:
            # Frames that arrive from now on are decided by it (Hub.frame_arrived).
            self.consent = self.consent_service.record
            self._recheck_gsme_queues()
            self.uplink.set_retained("consent", self._consent_payload())
            self._publish_health_now()
            self.event(f"consent: mode {self.consent.mode.value} set by {self.consent.set_by}")
        self._answer_request("consent", answer.body)

    async def _on_down_gbcs(self, payload: bytes | Oversize) -> None:
        request: dict[str, object] | None = None
        try:
            request = parse_object(payload, MAX_COMMAND_REQUEST_BYTES)
            request_id = wan_input.request_id(request.get("id"))
            device = wan_input.eui64(request.get("device"))
            data = wan_input.base64_field(request, "frame", "the command")
        except RequestError as exc:
            reason = f"malformed request envelope: {exc}"
            self.refused_request("down/gbcs", reason)
            self._answer(CommandResult(_request_id_of(request), "refused", None, reason))
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
        if device == self.hub_eui64:
            decision = decide(
                frame, classify(frame), self.consent.mode, Direction.DOWNSTREAM, self.profile
            )
            if self.view is not None:
                self.view.decision(Direction.DOWNSTREAM, device, frame, decision)
            if not decision.forwarded:
                return self._answer(CommandResult(request_id, "blocked", code, decision.reason))
            status, reason = self.hub_commands.execute(frame)
            return self._answer(CommandResult(request_id, status, code, reason))
        if self.router is None or device not in self.router.devices:
            return self._answer(
                CommandResult(
                    request_id, "refused", code, f"device {device.hex().upper()} is not on this HAN"
                )
            )
        category = classify(frame)
        decision = decide(frame, category, self.consent.mode, Direction.DOWNSTREAM, self.profile)
        self.capture.decided(Direction.DOWNSTREAM, device, frame, decision, self.consent.mode)
        if self.view is not None:
            self.view.decision(Direction.DOWNSTREAM, device, frame, decision)
        if not decision.forwarded:
            return self._answer(CommandResult(request_id, "blocked", code, decision.reason))
        if self.gsme.is_gsme(device):
            try:
                self.gsme.enqueue(request_id, device, frame)
            except QueueFull as exc:
                return self._answer(CommandResult(request_id, "refused", code, str(exc)))
            return self._answer(
                CommandResult(
                    request_id,
                    "queued",
                    code,
                    f"{decision.reason}; queued for the GSME's next GET "
                    f"(expires in {self.config.gsme.queue_expiry:g} s)",
                )
            )
        try:
            await self.router.send(device, frame.raw)
        except ValueError as exc:  # too large for the meter's tunnel: never sent
            return self._answer(CommandResult(request_id, "refused", code, str(exc)))
        except Exception as exc:
            # The meter did not take it: say so on down/result and, as a CHF does, with a
            # signed 0x00D5 alert naming the message (never its content).
            self.raise_own_alert(self.hub_alerts.failure_to_deliver(frame, device))
            return self._answer(
                CommandResult(request_id, "refused", code, f"delivery failed: {exc}")
            )
        return self._answer(CommandResult(request_id, "delivered", code, decision.reason))

    def _recheck_gsme_queues(self) -> None:
        """The mode or the profile changed: a command waiting for a GSME's GET is delivered
        only if the policy in force now lets it down. One it no longer does is taken out and
        answered `blocked`, as it would be if sent now."""

        refusals: dict[int, Decision] = {}

        def still_allowed(entry: Queued) -> bool:
            frame = entry.frame
            decision = decide(
                frame, classify(frame), self.consent.mode, Direction.DOWNSTREAM, self.profile
            )
            if not decision.forwarded:
                refusals[id(entry)] = decision
            return decision.forwarded

        for entry in self.gsme.withdraw(still_allowed):
            code = envelope.hex_code(entry.frame.message_code)
            why = refusals[id(entry)].reason
            reason = f"{why} (the policy changed while it waited for the GSME)"
            LOGGER.info(
                "request %s for GSME %s withdrawn: %s",
                entry.request_id,
                entry.device.hex().upper(),
                reason,
            )
            self._answer(CommandResult(entry.request_id, "blocked", code, reason), stage="-blocked")

    def forget_gsme(self, eui64: bytes) -> None:
        """A GSME removed from the device log (CCS02) will never collect its queue: each command
        waiting for it gets its second result now, `refused`, and the GSME leaves health."""
        for entry in self.gsme.forget(eui64):
            code = envelope.hex_code(entry.frame.message_code)
            why = "not delivered: the GSME was removed from the device log while it waited"
            self._answer(CommandResult(entry.request_id, "refused", code, why), stage="-removed")

    def _gsme_served(self, entry: Queued) -> None:
        code = envelope.hex_code(entry.frame.message_code)
        self._answer(
            CommandResult(entry.request_id, "delivered", code, "served on the GSME's GET"),
            stage="-served",
        )

    def _gsme_expired(self, entry: Queued) -> None:
        # Not retrieved in time: as an undelivered command, a signed 0x00D5 alert names it.
        self.raise_own_alert(self.hub_alerts.failure_to_deliver(entry.frame, entry.device))
        code = envelope.hex_code(entry.frame.message_code)
        why = f"not retrieved by the GSME within {self.config.gsme.queue_expiry:g} s"
        self._answer(CommandResult(entry.request_id, "expired", code, why), stage="-expired")

    def raise_own_alert(self, frame: bytes) -> None:
        """The hub's own GBCS message goes up through the same policy as a meter's."""
        self.on_frame(self.hub_eui64, frame)

    def _answer(self, result: CommandResult, stage: str = "") -> CommandResult:
        self.counters.commands[result.status] += 1
        if result.status == "refused" and self.view is not None:
            self.view.refused(result.id, result.reason)
        self.outbox.add(
            self.uplink.topic("down/result"),
            result.to_json(),
            category="result",
            dedup_id=f"result-{result.id}{stage}",
        )
        return result


def _request_id_of(request: dict[str, object] | None) -> str:
    """The id to answer a malformed envelope with: its own if that is a valid one, else ""."""
    if request is not None:
        with contextlib.suppress(RequestError):
            return wan_input.request_id(request.get("id"))
    return ""


def open_capture(config: Config) -> HanCapture:
    """The HAN capture `[capture] file` asks for (off when it is empty)."""
    capture = HanCapture(config.capture_file, f"han-agent {VERSION}")
    try:
        capture.open()
    except OSError as exc:
        raise ConfigError(
            config.path, "[capture] file", f"a file the hub can write ({exc.strerror or exc})"
        ) from None
    return capture


def radio_settings(config: Config) -> RadioSettings:
    radio = config.radio
    return RadioSettings(
        type=radio.type,
        path=radio.path,
        baudrate=radio.baudrate,
        flow_control=radio.flow_control,
        channel=radio.channel,
        ieee=":".join(config.hub_id[i : i + 2] for i in range(0, 16, 2)).lower(),
        pan_id=radio.pan_id,
        extended_pan_id=radio.extended_pan_id,
        network_key=radio.network_key,
        backup_hours=radio.backup_hours,
    )


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
