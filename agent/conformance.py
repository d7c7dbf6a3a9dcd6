"""Conformance: drive one meter through a fixed set of GBCS exchanges in both modes, and judge.

Theory of operation. A case is one exchange: a supplier command sent through the hub as the WAN
would (the meter should answer it), or an alert the meter is asked to raise. Every case runs
twice, once in full mode and once in restricted mode; the mode is switched by a consent command
signed with the lab TEST key and sent through the broker, as scenarios do.

What a case *should* do is computed, never written down per case: the command frame, and a
reference frame for what a conforming meter sends back (built by the GBCS codec from GBCS's
rules: a response echoes the command's code and is signed iff the command was; an alert carries
the requested codes), are classified and decided by the hub's own `classify` and `decide` under
the profile the hub runs. What *did* happen is observed: the hub's decision on every frame (the
view hook), what the meter put on the air, and what a separate MQTT client saw on the broker
(`up/<category>` and `down/result`). A case passes in a mode when the meter sent what GBCS
says it should, the hub decided as the profile says, and the broker carried exactly the
expected frames, byte for byte, and nothing else.

On the virtual radio the meter is a simulated ESME (or a subclass, in the tests a deliberately
misbehaving one). With a real radio no meter is simulated: the hub, router and checks are the
same, the device is found by EUI-64, and alert cases, which need the meter to raise a given
alert on request, are reported as not run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from agent.config import Config, ConfigError
from agent.consent import Mode
from agent.hub import Hub
from agent.lab import FIRMWARE_HASH as HASH
from agent.lab import LAB_INSTALL_CODE, LabAlert, LabCommand, LabSupplier
from agent.policy import CONSUMER_CHOICE, Decision, Direction, Profile, decide
from agent.scenario import LAB_TEST_KEY, change_consent
from gbcs import payloads, signature
from gbcs.classify import classify
from gbcs.codes import ALERT_CODES, MESSAGE_CODES
from gbcs.frame import Cra, Frame, build_frame, parse_frame
from hal.sim.esme import LAB_MAC_KEY, SimEsme

SETTLE = 0.15  # seconds to wait after the expected traffic, for anything unexpected
WAIT = 5.0  # seconds to wait for the expected traffic (a real radio is slower than this one)
HUB_ALERT_RECIPIENT = bytes.fromhex("90B3D51F30010000")


def _unknown_alert_code() -> int:
    return next(c for c in range(0x8FFF, 0x7FFF, -1) if c not in ALERT_CODES)


def _unknown_message_code() -> int:
    return next(c for c in range(0xFFFF, 0, -1) if c not in MESSAGE_CODES)


UNKNOWN_ALERT = _unknown_alert_code()  # the highest 0x8xxx the alert table does not know
UNKNOWN_CODE = _unknown_message_code()  # the highest code the message table does not know


@dataclass(frozen=True)
class Case:
    id: str
    covers: str  # the category or rule the case exercises, for the reader
    command: LabCommand | None = None
    alert: LabAlert | None = None


CASES: tuple[Case, ...] = (
    Case("firmware-version-read", "firmware command", command=LabCommand(0x0059, False)),
    Case("firmware-receipt-alert", "firmware alert", alert=LabAlert(0x8F72, 0x00CE, True, HASH)),
    Case("device-certificates", "security command", command=LabCommand(0x000C, True, dlms=False)),
    Case("access-attempt-alert", "security alert", alert=LabAlert(0x8F3E, None, critical=True)),
    Case("meter-cover-removed", "security (tamper) alert", alert=LabAlert(0x8F74, None, True)),
    Case("enable-supply", "safety command", command=LabCommand(0x004F, critical=True)),
    Case("outage-restored-alert", "safety alert", alert=LabAlert(0x8F35, 0x0067, critical=True)),
    Case("critical-over-voltage", "critical alert", alert=LabAlert(0x8002, None, critical=True)),
    Case("critical-billing-data", "billing-data exception", alert=LabAlert(0x8F0A, 0x0061, True)),
    Case("over-current-alert", "non-critical alert", alert=LabAlert(0x8010, None, critical=False)),
    Case("read-import-energy", "read command", command=LabCommand(0x0027, critical=False)),
    Case("set-tariff", "tariff command", command=LabCommand(0x0019, critical=True)),
    Case("adjust-balance", "prepayment command", command=LabCommand(0x001C, critical=True)),
    Case("low-credit-alert", "prepayment alert", alert=LabAlert(0x810D, None, critical=False)),
    Case("change-of-tenancy", "config command", command=LabCommand(0x0022, critical=False)),
    Case("send-message", "messages command", command=LabCommand(0x0021, critical=False)),
    Case("integrity-warning", "integrity fault alert", alert=LabAlert(0x81A0, 0x00F0, False)),
    Case("unknown-alert-code", "unknown code (alert)", alert=LabAlert(UNKNOWN_ALERT, None, False)),
    Case("unknown-message-code", "unknown code (command)", command=LabCommand(UNKNOWN_CODE, False)),
    Case("set-clock", "response to an allowed command", command=LabCommand(0x0062, True)),
)  # fmt: skip
MODES = (Mode.FULL, Mode.RESTRICTED)


# -- what should happen: computed from the codec, the code tables and the profile ---------------


@dataclass(frozen=True)
class Shape:
    """The header facts a conforming meter's frame must have."""

    cra: Cra
    message_code: int
    alert_code: int | None
    critical: bool

    @classmethod
    def of(cls, frame: Frame) -> Shape:
        return cls(frame.cra, frame.message_code, frame.alert_code, frame.critical)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cra": self.cra.label,
            "message_code": f"0x{self.message_code:04X}",
            "alert_code": None if self.alert_code is None else f"0x{self.alert_code:04X}",
            "critical": self.critical,
        }


@dataclass(frozen=True)
class Expected:
    down: Decision | None  # the hub's decision on the command (command cases)
    reply: Shape | None  # what the meter must send (None: nothing)
    up: Decision | None  # the hub's decision on it

    def upstream_category(self) -> str | None:
        return self.up.category.value if self.up is not None and self.up.forwarded else None


_REFERENCE_KEY = signature.generate_key()


def _reference_signer(data: bytes) -> bytes:
    return signature.sign(_REFERENCE_KEY, data)


def expect_command(command: Frame, device: bytes, mode: Mode, profile: Profile) -> Expected:
    down = decide(command, classify(command), mode, Direction.DOWNSTREAM, profile)
    if not down.forwarded:
        return Expected(down, None, None)
    reference = parse_frame(
        build_frame(
            cra=Cra.RESPONSE,
            counter=command.counter,
            originator=device,
            recipient=command.originator,
            message_code=command.message_code,
            payload=payloads.asn1_null(),
            signer=_reference_signer if command.critical else None,
            mac_key=None if command.critical else LAB_MAC_KEY,
        )
    )
    up = decide(reference, classify(reference), mode, Direction.UPSTREAM, profile)
    return Expected(down, Shape.of(reference), up)


def alert_frame(spec: LabAlert, device: bytes) -> Frame:
    """The reference alert: the requested codes, signed iff critical (the generic code if none)."""
    code = spec.message_code
    if code is None:
        code = 0x1000 if spec.critical else 0x1001
    return parse_frame(
        build_frame(
            cra=Cra.ALERT,
            counter=1,
            originator=device,
            recipient=HUB_ALERT_RECIPIENT,
            message_code=code,
            payload=payloads.dlms_alert(1, spec.alert_code, datetime.now(UTC), spec.extra),
            signer=_reference_signer if spec.critical else None,
            mac_key=None if spec.critical else LAB_MAC_KEY,
        )
    )


def expect_alert(spec: LabAlert, device: bytes, mode: Mode, profile: Profile) -> Expected:
    reference = alert_frame(spec, device)
    up = decide(reference, classify(reference), mode, Direction.UPSTREAM, profile)
    return Expected(None, Shape.of(reference), up)


# -- what did happen: the hub's decisions and the broker's traffic --------------------------------


@dataclass
class HubDecision:
    direction: str
    device: str
    frame: bytes | None
    shape: Shape | None
    decision: Decision | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"direction": self.direction, "device": self.device}
        if self.shape is not None:
            out.update(self.shape.as_dict())
        if self.decision is not None:
            out.update(
                category=self.decision.category.value,
                action=self.decision.action.value,
                rule=self.decision.rule,
                reason=self.decision.reason,
            )
        if self.note:
            out["note"] = self.note
        if self.frame is not None:
            out["frame"] = self.frame.hex().upper()
        return out


class DecisionLog:
    """The hub's view hook: records every decision, and passes it on to another view if any."""

    def __init__(self, inner: Any = None) -> None:
        self.entries: list[HubDecision] = []
        self.inner = inner

    def decision(self, direction: str, device: bytes, frame: Frame, decision: Decision) -> None:
        self.entries.append(
            HubDecision(str(direction), device.hex().upper(), frame.raw, Shape.of(frame), decision)
        )
        if self.inner is not None:
            self.inner.decision(direction, device, frame, decision)

    def malformed(self, device: bytes, reason: str) -> None:
        self.entries.append(HubDecision("upstream", device.hex().upper(), None, None, None, reason))
        if self.inner is not None:
            self.inner.malformed(device, reason)

    def refused(self, request_id: str, reason: str) -> None:
        if self.inner is not None:
            self.inner.refused(request_id, reason)

    def event(self, text: str) -> None:
        if self.inner is not None:
            self.inner.event(text)


@dataclass
class Observed:
    topic: str  # relative to the hub's base: up/<category>, down/result
    payload: dict[str, Any]


@dataclass
class BrokerObserver:
    base: str
    messages: list[Observed] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def observe(config: Config) -> AsyncIterator[BrokerObserver]:
    """A client of its own on the hub's broker, recording up/# and down/result."""
    s = config.mqtt
    tls_context = None
    if s.tls:
        tls_context = ssl.create_default_context(cafile=str(s.ca) if s.ca else None)
        if s.cert is not None and s.key is not None:
            tls_context.load_cert_chain(str(s.cert), str(s.key))
    observer = BrokerObserver(config.topic_base)
    async with aiomqtt.Client(
        s.host,
        s.port,
        identifier=f"han-agent-conformance-{config.hub_id}",
        username=s.username,
        password=s.password,
        tls_context=tls_context,
        timeout=10,
    ) as client:
        await client.subscribe(f"{observer.base}/up/#", qos=1)
        await client.subscribe(f"{observer.base}/down/result", qos=1)

        async def pump() -> None:
            async for message in client.messages:
                raw = message.payload if isinstance(message.payload, bytes) else b"{}"
                topic = str(message.topic)[len(observer.base) + 1 :]
                observer.messages.append(Observed(topic, json.loads(raw)))
                observer.changed.set()

        task = asyncio.create_task(pump())
        try:
            yield observer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- the run -----------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: Case
    mode: Mode
    sent: dict[str, Any]
    expected: Expected
    hub: list[HubDecision]
    upstream: list[Observed]
    failures: list[str]
    ran: bool = True

    @property
    def passed(self) -> bool:
        return self.ran and not self.failures

    def as_dict(self) -> dict[str, Any]:
        exp = self.expected
        return {
            "case": self.case.id,
            "covers": self.case.covers,
            "mode": self.mode.value,
            "sent": self.sent,
            "expected": {
                "command": _decision_dict(exp.down),
                "meter_sends": None if exp.reply is None else exp.reply.as_dict(),
                "hub_decides": _decision_dict(exp.up),
                "upstream": exp.upstream_category(),
            },
            "hub_decided": [d.as_dict() for d in self.hub],
            "upstream": [{"topic": o.topic, **o.payload} for o in self.upstream],
            "result": "pass" if self.passed else ("not run" if not self.ran else "fail"),
            "failures": self.failures,
        }


def _decision_dict(decision: Decision | None) -> dict[str, str] | None:
    if decision is None:
        return None
    return {
        "category": decision.category.value,
        "action": decision.action.value,
        "rule": decision.rule,
    }


Progress = Callable[[int, int, str], None]


class Conformance:
    """One run: a started hub, a device with an open tunnel, the broker observer."""

    def __init__(
        self,
        hub: Hub,
        log: DecisionLog,
        observer: BrokerObserver,
        device: bytes,
        meter: SimEsme | None,
        supplier: LabSupplier,
        *,
        settle: float = SETTLE,
        wait: float = WAIT,
    ) -> None:
        self.settle = settle
        self.wait = wait
        self.hub = hub
        self.log = log
        self.observer = observer
        self.device = device
        self.meter = meter
        self.supplier = supplier
        self._ids = 0

    async def run_case(self, case: Case, mode: Mode) -> CaseResult:
        profile = self.hub.profile
        mark, seen = len(self.log.entries), len(self.observer.messages)
        request_id = ""
        if case.command is not None:
            data = self.supplier.command(self.device, case.command)
            command = parse_frame(data)
            expected = expect_command(command, self.device, mode, profile)
            sent = {"direction": "down", **Shape.of(command).as_dict(), "frame": data.hex().upper()}
            self._ids += 1
            request_id = f"conformance-{int(time.time() * 1000)}-{self._ids}"
            await self.hub.command_from_wan(request_id, self.device, data)
        else:
            assert case.alert is not None
            expected = expect_alert(case.alert, self.device, mode, profile)
            sent = {"direction": "meter asked to raise", **expected.reply.as_dict()}  # type: ignore[union-attr]
            if self.meter is None:
                return CaseResult(case, mode, sent, expected, [], [], [], ran=False)
            self.meter.raise_alert(
                case.alert.alert_code,
                message_code=case.alert.message_code,
                critical=case.alert.critical,
                extra=case.alert.extra,
            )
        await self._wait(expected, mark, seen, request_id)
        await asyncio.sleep(self.settle)
        hub = self.log.entries[mark:]
        upstream = [
            o
            for o in self.observer.messages[seen:]
            if o.topic.startswith("up/") or o.payload.get("id") == request_id
        ]
        failures = judge(expected, hub, upstream, mode)
        return CaseResult(case, mode, sent, expected, hub, upstream, failures)

    async def _wait(self, expected: Expected, mark: int, seen: int, request_id: str) -> None:
        ups = self._from_meter
        want_up = 1 if expected.upstream_category() else 0
        want_meter = 1 if expected.reply is not None else 0

        def done() -> bool:
            new = self.observer.messages[seen:]
            got_result = not request_id or any(o.payload.get("id") == request_id for o in new)
            got_up = sum(o.topic.startswith("up/") for o in new) >= want_up
            return got_result and got_up and len(ups(mark)) >= want_meter

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.wait):
                while not done():
                    self.observer.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await self.observer.changed.wait()

    def _from_meter(self, mark: int) -> list[HubDecision]:
        return [d for d in self.log.entries[mark:] if d.direction == Direction.UPSTREAM]


def judge(
    expected: Expected, hub: list[HubDecision], upstream: list[Observed], mode: Mode
) -> list[str]:
    """Every way the observed exchange differs from the expected one, in words."""
    failures: list[str] = []
    downs = [d for d in hub if d.direction == Direction.DOWNSTREAM]
    from_meter = [d for d in hub if d.direction == Direction.UPSTREAM]
    if expected.down is not None:
        if len(downs) != 1 or downs[0].decision is None:
            failures.append(f"the hub decided {len(downs)} times on the command, expected once")
        elif downs[0].decision[:3] != expected.down[:3]:
            failures.append(
                f"command: hub decided {_said(downs[0].decision)}, "
                f"profile says {_said(expected.down)}"
            )
        results = [o for o in upstream if o.topic == "down/result"]
        status = "delivered" if expected.down.forwarded else "blocked"
        if len(results) != 1:
            failures.append(f"{len(results)} down/result messages on the broker, expected 1")
        elif results[0].payload.get("status") != status:
            failures.append(
                f"down/result status {results[0].payload.get('status')!r}, expected {status!r}"
            )
        elif status == "blocked" and not str(results[0].payload.get("reason", "")).startswith(
            CONSUMER_CHOICE
        ):
            failures.append("a blocked command's result does not say it was the consumer's choice")
    if expected.reply is None:
        if from_meter:
            failures.append(f"the meter sent {len(from_meter)} frame(s) when it should send none")
    elif len(from_meter) != 1:
        failures.append(f"the meter sent {len(from_meter)} frames, expected 1")
    else:
        got = from_meter[0]
        if got.shape != expected.reply:
            said = "unreadable" if got.shape is None else _shape(got.shape)
            failures.append(f"the meter sent {said}, GBCS expects {_shape(expected.reply)}")
        if (
            got.decision is not None
            and expected.up is not None
            and got.decision[:3] != expected.up[:3]
        ):
            failures.append(
                f"hub decided {_said(got.decision)} on the meter's frame, "
                f"profile says {_said(expected.up)} for a conforming one"
            )
    forwarded = [o for o in upstream if o.topic.startswith("up/")]
    category = expected.upstream_category()
    if category is None:
        if forwarded:
            topics = ", ".join(o.topic for o in forwarded)
            failures.append(f"upstream got {topics} in {mode.value} mode, expected nothing")
    elif len(forwarded) != 1:
        failures.append(f"{len(forwarded)} frames went upstream, expected 1 on up/{category}")
    else:
        if forwarded[0].topic != f"up/{category}":
            failures.append(f"upstream on {forwarded[0].topic}, expected up/{category}")
        sent = from_meter[0].frame if len(from_meter) == 1 else None
        if sent is None or base64.b64decode(str(forwarded[0].payload.get("frame", ""))) != sent:
            failures.append("the upstream frame is not byte for byte what the meter sent")
    return failures  # fmt: skip


def _said(decision: Decision) -> str:
    return f"{decision.action.value} {decision.category.value} ({decision.rule})"


def _shape(shape: Shape) -> str:
    alert = "" if shape.alert_code is None else f" alert 0x{shape.alert_code:04X}"
    kind = "signed" if shape.critical else "unsigned"
    return f"{kind} {shape.cra.label} 0x{shape.message_code:04X}{alert}"


async def run_conformance(
    config: Config,
    *,
    meter: SimEsme | None = None,
    device: bytes | None = None,
    progress: Progress | None = None,
    view: Any = None,
    settle: float = SETTLE,
    wait: float = WAIT,
) -> tuple[list[CaseResult], dict[str, Any]]:
    """Start a hub on `config`, attach `meter` (virtual radio) or find `device` (real radio),
    and run every case in full then restricted mode. The caller picks the state dir: the run
    changes the consent record of the hub it starts."""
    if meter is not None:
        device = meter.eui64
    if device is None:
        raise ValueError("a simulated meter or a device EUI-64 is needed")
    log = DecisionLog(view)
    hub = Hub(config, view=log)
    check_can_switch(hub)
    await hub.start()
    try:
        if meter is not None:
            attach = getattr(hub.app, "attach", None)
            if attach is None:
                raise ConfigError(config.path, "[radio] type", "'virtual' for a simulated meter")
            hub.device_log.provision(meter.eui64, LAB_INSTALL_CODE)  # the whitelist admits it
            attach(meter)
        await _ready(hub, device, config)
        async with observe(config) as observer:
            supplier = LabSupplier(bytes.fromhex(config.lab.supplier))
            run = Conformance(hub, log, observer, device, meter, supplier, settle=settle, wait=wait)
            results: list[CaseResult] = []
            total = len(CASES) * len(MODES)
            for mode in MODES:
                await change_consent(hub, mode, "conformance run")
                for case in CASES:
                    result = await run.run_case(case, mode)
                    results.append(result)
                    if progress is not None:
                        progress(
                            len(results), total, f"{case.id} ({mode.value}): {verdict(result)}"
                        )
            profile = {
                "profile": hub.profile.name,
                "profile_version": hub.profile.version,
                "profile_sha256": hub.profile.digest,
            }
            return results, profile
    finally:
        await hub.stop()  # fmt: skip


class NotReady(RuntimeError):
    """The run could not start: no broker, no radio, or the device never opened its tunnel.
    `status` is the exit status: 75 (EX_TEMPFAIL) for no broker, as the client commands."""

    def __init__(self, text: str, status: int = 1) -> None:
        super().__init__(text)
        self.status = status


async def _ready(hub: Hub, device: bytes, config: Config, within: float = 30.0) -> None:
    mqtt = f"{config.mqtt.host}:{config.mqtt.port}"
    steps: tuple[tuple[Callable[[], str], Callable[[], Any]], ...] = (
        (lambda: f"the broker at {mqtt} accepted no connection", hub.uplink.connected.wait),
        (lambda: f"the radio did not come up ({hub.radio.last_error})", lambda: _router(hub)),
        (
            lambda: f"device {device.hex().upper()} opened no tunnel to the hub",
            lambda: hub.router.tunnel_ready.setdefault(device, asyncio.Event()).wait(),  # type: ignore[union-attr]
        ),
    )
    for failure, step in steps:
        try:
            async with asyncio.timeout(within):
                await step()
        except TimeoutError:
            status = 75 if step is steps[0][1] else 1
            raise NotReady(f"{failure()} within {within:g} s", status) from None


async def _router(hub: Hub) -> None:
    while hub.router is None:  # noqa: ASYNC110 - the radio's first open has no event
        await asyncio.sleep(0.05)


def check_can_switch(hub: Hub) -> None:
    """The run switches modes with the lab TEST key: refuse up front if that cannot work."""
    config = hub.config
    lab_key = signature.load_private_key(LAB_TEST_KEY.read_bytes()).public_key()
    if signature.key_id(lab_key) not in hub.consent_service.state.trust:
        raise ConfigError(
            config.path,
            "[trust] dir",
            "a trust store holding the lab TEST key (config/lab/trust): conformance switches "
            "modes with a consent command signed by it",
        )
    refusal = config.site.refuses_restricted()
    if refusal:
        raise ConfigError(config.path, "[site]", f"a site that allows restricted mode ({refusal})")


def verdict(result: CaseResult) -> str:
    return "pass" if result.passed else ("not run" if not result.ran else "FAIL")
