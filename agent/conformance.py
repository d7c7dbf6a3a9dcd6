"""Conformance: drive simulated meters through GBCS exchanges in both modes, and judge.

Theory of operation. A case is one exchange, read from a case file (agent/conformance_cases.py;
the shipped config/conformance/cases.toml, and any a manufacturer adds with `--cases`): a
supplier command sent through the hub as the WAN would (the meter should answer it), an alert
the meter is asked to raise, or HAN-local traffic (the IHD reads the hub's Time server). Every
case runs twice, once in full mode and once in restricted mode; the mode is switched by a
consent command signed with the lab TEST key and sent through the broker, as scenarios do.

What a case *should* do is computed, never taken from the file: the command frame, and a
reference frame for what a conforming meter sends back (built by the GBCS codec from GBCS's
rules: a response echoes the command's code and is signed iff the command was; an alert carries
the requested codes), are classified and decided by the hub's own `classify` and `decide` under
the profile the hub runs. A file may state the decision it expects per mode; that statement is
checked against the computed one, and a contradiction fails the case with both named. What
*did* happen is observed: the hub's decision on every frame (the view hook), what the meter put
on the air, and what a separate MQTT client saw on the broker (`up/<category>` and
`down/result`). A case passes in a mode when the meter sent what GBCS says it should, the hub
decided as the profile says, and the broker carried exactly the expected frames, byte for byte,
and nothing else.

The meters differ in how a command reaches them. The ESME and the PPMID are sent the command
through the tunnel the hub opens to it: `delivered`. The sleepy GSME gets nothing pushed: the
command waits in the hub's queue (`queued`) until the GSME's next GET, which the run makes
at once (`delivered`, the GSME answers by PUT), or only after the command expired (`expired`:
the GSME's GET finds nothing, and the hub raises its own signed failure-to-deliver alert
0x00D5, which the profile decides like any alert). For the run the GSME queue expiry is
GSME_EXPIRY seconds. The IHD speaks no GBCS: its case passes when the hub's Time server
answers it and the hub decides nothing and sends nothing upstream.

On the virtual radio one simulated device of each kind the cases name joins the HAN (in the
tests, a deliberately misbehaving one). With a real radio no device is simulated: the hub,
router and checks are the same, the one device is found by EUI-64, and cases that need the
device to act on request (alerts, GSME polls, IHD reads) or that target another kind are
reported as not run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import zigpy.types

from agent.config import Config, ConfigError
from agent.conformance_cases import (
    UNKNOWN_ALERT,
    UNKNOWN_CODE,
    AlertSpec,
    Case,
    CaseError,
    merge,
    parse_cases,
)
from agent.consent import Mode
from agent.hub import Hub
from agent.hub_alerts import FAILURE_TO_DELIVER, FAILURE_TO_DELIVER_ALERT
from agent.lab import LAB_INSTALL_CODE, LabCommand, LabSupplier
from agent.policy import CONSUMER_CHOICE, Decision, Direction, Profile, decide
from agent.scenario import change_consent
from agent.shipped import CONFORMANCE_CASES, LAB_TEST_KEY
from agent.view import ForwardingView, LiveView
from gbcs import payloads, signature
from gbcs.classify import classify
from gbcs.frame import Cra, Frame, build_frame, parse_frame
from hal.sim import esme
from hal.sim.base import SimDevice
from hal.sim.esme import LAB_MAC_KEY, SimEsme
from hal.sim.gsme import SimGsme
from hal.sim.ihd import SimIhd
from hal.sim.ppmid import SimPpmid

SETTLE = 0.15  # seconds to wait after the expected traffic, for anything unexpected
WAIT = 5.0  # seconds to wait for the expected traffic (a real radio is slower than this one)
GSME_EXPIRY = 2.0  # the GSME queue expiry for the run: long enough for a GET at once
HUB_ALERT_RECIPIENT = bytes.fromhex("90B3D51F30010000")
# The simulated GSME and PPMID (the lab config names the ESME and IHD).
LAB_GSME = bytes.fromhex("00DB1234567890C7")
LAB_PPMID = bytes.fromhex("00DB1234567890B1")

__all__ = ["UNKNOWN_ALERT", "UNKNOWN_CODE", "Case"]


def read_case_files(paths: Sequence[Path]) -> list[Case]:
    """The cases of every file, in order (shipped first); a CaseError names the bad one."""
    per_file = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise CaseError(path, "file", f"a readable UTF-8 case file ({why})") from None
        per_file.append(parse_cases(text, str(path)))
    return merge(per_file)


def shipped_cases() -> list[Case]:
    return read_case_files([CONFORMANCE_CASES])


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
    results: tuple[str, ...] = ()  # the down/result statuses, in order (command cases)
    hub_alert: Shape | None = None  # an alert the hub itself must raise (a GSME command expired)
    hub_alert_up: Decision | None = None  # the hub's decision on it
    time_answer: bool = False  # the hub's Time server must answer (the IHD's read)

    def upstream_category(self) -> str | None:
        return self.up.category.value if self.up is not None and self.up.forwarded else None

    def hub_alert_category(self) -> str | None:
        up = self.hub_alert_up
        return up.category.value if up is not None and up.forwarded else None

    def decision(self) -> Decision | None:
        """The decision a case file's `expect` speaks of: the command's, else the alert's."""
        return self.down if self.down is not None else self.up


_REFERENCE_KEY = signature.generate_key()


def _reference_signer(data: bytes) -> bytes:
    return signature.sign(_REFERENCE_KEY, data)


def expect_command(
    command: Frame,
    device: bytes,
    mode: Mode,
    profile: Profile,
    *,
    wakes: str | None = None,
    hub: bytes = HUB_ALERT_RECIPIENT,
) -> Expected:
    """What a command should do; `wakes` is the GSME's poll ("at-once", "after-expiry") for a
    queued command, None for a meter the hub sends commands to; `hub` is the hub's EUI-64."""
    down = decide(command, classify(command), mode, Direction.DOWNSTREAM, profile)
    if not down.forwarded:
        return Expected(down, None, None, results=("blocked",))
    if wakes == "after-expiry":
        failed = AlertSpec(FAILURE_TO_DELIVER_ALERT, FAILURE_TO_DELIVER, critical=True)
        own = alert_frame(failed, hub)
        up = decide(own, classify(own), mode, Direction.UPSTREAM, profile)
        return Expected(down, None, None, ("queued", "expired"), Shape.of(own), up)
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
    results = ("delivered",) if wakes is None else ("queued", "delivered")
    return Expected(down, Shape.of(reference), up, results)


def alert_frame(spec: AlertSpec, device: bytes) -> Frame:
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


def expect_alert(spec: AlertSpec, device: bytes, mode: Mode, profile: Profile) -> Expected:
    reference = alert_frame(spec, device)
    up = decide(reference, classify(reference), mode, Direction.UPSTREAM, profile)
    return Expected(None, Shape.of(reference), up)


def check_stated(case: Case, mode: Mode, expected: Expected, profile: Profile) -> list[str]:
    """The case file's own expectation against the profile's decision: a contradiction is a
    failure naming both (the file is wrong for this profile, or the profile is not the one the
    file was written for)."""
    stated, decision = case.stated(mode), expected.decision()
    if stated is None or decision is None:
        return []
    computed = "forward" if decision.forwarded else "block"
    if stated == computed:
        return []
    return [
        f"the case file expects {stated} in {mode.value} mode, but profile {profile.name} "
        f"v{profile.version} decides {computed} {decision.category.value} ({decision.rule})"
    ]


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


class DecisionLog(ForwardingView):
    """The hub's view hook: records every decision, and passes it on to another view if any."""

    def __init__(self, inner: LiveView | None = None) -> None:
        super().__init__(inner)
        self.entries: list[HubDecision] = []

    def decision(self, direction: str, device: bytes, frame: Frame, decision: Decision) -> None:
        self.entries.append(
            HubDecision(str(direction), device.hex().upper(), frame.raw, Shape.of(frame), decision)
        )
        super().decision(direction, device, frame, decision)

    def malformed(self, device: bytes, reason: str) -> None:
        self.entries.append(HubDecision("upstream", device.hex().upper(), None, None, None, reason))
        super().malformed(device, reason)


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
    why_not_run: str = ""

    @property
    def passed(self) -> bool:
        return self.ran and not self.failures

    def as_dict(self) -> dict[str, Any]:
        exp = self.expected
        stated = self.case.stated(self.mode)
        return {
            "case": self.case.id,
            "source": self.case.source,
            "device": self.case.device,
            "covers": self.case.covers,
            "mode": self.mode.value,
            "sent": self.sent,
            "stated": stated,
            "expected": {
                "command": _decision_dict(exp.down),
                "results": list(exp.results),
                "meter_sends": None if exp.reply is None else exp.reply.as_dict(),
                "hub_decides": _decision_dict(exp.up),
                "hub_raises": None if exp.hub_alert is None else exp.hub_alert.as_dict(),
                "hub_decides_on_its_alert": _decision_dict(exp.hub_alert_up),
                "upstream": [c for c in (exp.upstream_category(), exp.hub_alert_category()) if c],
            },
            "hub_decided": [d.as_dict() for d in self.hub],
            "upstream": [{"topic": o.topic, **o.payload} for o in self.upstream],
            "result": "pass" if self.passed else ("not run" if not self.ran else "fail"),
            "failures": self.failures if self.ran else [self.why_not_run],
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
    """One run: a started hub, its devices with their tunnels open, the broker observer.
    `devices` maps a device kind to its EUI-64; `meters` the simulated ones (none on a real
    radio)."""

    def __init__(
        self,
        hub: Hub,
        log: DecisionLog,
        observer: BrokerObserver,
        devices: Mapping[str, bytes],
        meters: Mapping[str, SimDevice],
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
        self.devices = devices
        self.meters = meters
        self.supplier = supplier
        self._ids = 0

    async def run_case(self, case: Case, mode: Mode) -> CaseResult:
        profile = self.hub.profile
        device = self.devices.get(case.device)
        meter = self.meters.get(case.device)
        mark, seen = len(self.log.entries), len(self.observer.messages)
        if case.han is not None:
            return await self._han_case(case, mode, meter, mark, seen)
        request_id, polled = "", 0
        gsme = meter if isinstance(meter, SimGsme) else None
        if case.command is not None:
            spec = case.command
            target = device or bytes(8)
            data = self.supplier.command(
                target, LabCommand(spec.message_code, spec.signed, spec.dlms)
            )
            command = parse_frame(data)
            wakes = spec.wakes if case.device == "gsme" else None
            expected = expect_command(
                command, target, mode, profile, wakes=wakes, hub=self.hub.hub_eui64
            )
            sent = {"direction": "down", **Shape.of(command).as_dict(), "frame": data.hex().upper()}
            if wakes is not None:
                sent["gsme_wakes"] = wakes
            why = self._cannot_run(case, device, meter, needs_meter=wakes is not None)
            if why:
                return _not_run(case, mode, sent, expected, why)
            assert device is not None
            self._ids += 1
            request_id = f"conformance-{int(time.time() * 1000)}-{self._ids}"
            answer = await self.hub.command_from_wan(request_id, device, data)
            if gsme is not None:
                if answer.status == "queued" and wakes == "after-expiry":
                    await self._until(
                        lambda: "expired" in self._statuses(seen, request_id),
                        self.wait + self.hub.config.gsme.queue_expiry,
                    )
                polled = len(gsme.get_responses)
                gsme.poll()  # wakes: whatever is queued for it now is served
        else:
            assert case.alert is not None
            expected = expect_alert(case.alert, device or bytes(8), mode, profile)
            sent = {"direction": "meter asked to raise", **expected.reply.as_dict()}  # type: ignore[union-attr]
            why = self._cannot_run(case, device, meter, needs_meter=True)
            if why:
                return _not_run(case, mode, sent, expected, why)
            assert isinstance(meter, SimEsme)
            meter.raise_alert(
                case.alert.alert_code,
                message_code=case.alert.message_code,
                critical=case.alert.critical,
                extra=case.alert.extra,
            )
        assert device is not None
        await self._wait(expected, device, mark, seen, request_id, gsme, polled)
        await asyncio.sleep(self.settle)
        hub = self.log.entries[mark:]
        upstream = [
            o
            for o in self.observer.messages[seen:]
            if o.topic.startswith("up/") or o.payload.get("id") == request_id
        ]
        failures = check_stated(case, mode, expected, profile)
        failures += judge(expected, hub, upstream, mode, device, self.hub.hub_eui64)
        if gsme is not None and case.command is not None:
            failures += _judge_get(expected, gsme.get_responses[polled:], sent["frame"])
        return CaseResult(case, mode, sent, expected, hub, upstream, failures)

    async def _han_case(
        self, case: Case, mode: Mode, meter: SimDevice | None, mark: int, seen: int
    ) -> CaseResult:
        """The IHD reads the hub's Time server: answered on the HAN, decided on by nobody."""
        expected = Expected(None, None, None, time_answer=True)
        sent = {"direction": "han", "action": case.han, "cluster": "0x000A (Time)"}
        if not isinstance(meter, SimIhd):
            why = "needs the simulated IHD (a real one reads the time on its own)"
            return _not_run(case, mode, sent, expected, why)
        before = len(meter.time_answers)
        meter.read_time()
        await self._until(lambda: len(meter.time_answers) > before, self.wait)
        await asyncio.sleep(self.settle)
        hub = self.log.entries[mark:]
        upstream = [o for o in self.observer.messages[seen:] if o.topic.startswith("up/")]
        failures: list[str] = []
        answers = meter.time_answers[before:]
        if len(answers) != 1 or 0x0000 not in answers[0]:
            failures.append(
                f"the hub's Time server answered {len(answers)} times with the time, expected once"
            )
        if hub:
            failures.append(
                f"the hub decided on {len(hub)} frame(s): HAN-local traffic carries no GBCS"
            )
        if upstream:
            topics = ", ".join(o.topic for o in upstream)
            failures.append(f"upstream got {topics} in {mode.value} mode, expected nothing")
        return CaseResult(case, mode, sent, expected, hub, upstream, failures)

    def _cannot_run(
        self, case: Case, device: bytes | None, meter: SimDevice | None, *, needs_meter: bool
    ) -> str:
        if device is None:
            return f"no {case.device} in this run"
        if needs_meter and meter is None:
            if case.alert is not None:
                return "a real meter raises alerts on its own, not on request"
            return "a real GSME polls on its own schedule, not on request"
        return ""

    def _statuses(self, seen: int, request_id: str) -> list[str]:
        return [
            str(o.payload.get("status"))
            for o in self.observer.messages[seen:]
            if o.topic == "down/result" and o.payload.get("id") == request_id
        ]

    async def _until(self, done: Callable[[], bool], within: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while not done():
                    self.observer.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await self.observer.changed.wait()

    async def _wait(
        self,
        expected: Expected,
        device: bytes,
        mark: int,
        seen: int,
        request_id: str,
        gsme: SimGsme | None,
        polled: int,
    ) -> None:
        hub_eui = self.hub.hub_eui64
        want_up = sum(
            c is not None for c in (expected.upstream_category(), expected.hub_alert_category())
        )
        want_meter = 1 if expected.reply is not None else 0
        want_hub = 1 if expected.hub_alert is not None else 0

        def done() -> bool:
            new = self.observer.messages[seen:]
            ups = self.log.entries[mark:]
            return (
                len(self._statuses(seen, request_id)) >= len(expected.results)
                and sum(o.topic.startswith("up/") for o in new) >= want_up
                and len(_from(ups, device)) >= want_meter
                and len(_from(ups, hub_eui)) >= want_hub
                and (gsme is None or len(gsme.get_responses) > polled)
            )

        await self._until(done, self.wait)


def _not_run(
    case: Case, mode: Mode, sent: dict[str, Any], expected: Expected, why: str
) -> CaseResult:
    return CaseResult(case, mode, sent, expected, [], [], [], ran=False, why_not_run=why)


def _from(entries: Iterable[HubDecision], device: bytes) -> list[HubDecision]:
    """What `device` sent the hub (the hub's own alerts come from the hub's EUI-64)."""
    eui = device.hex().upper()
    return [d for d in entries if d.direction == Direction.UPSTREAM and d.device == eui]


def _judge_get(expected: Expected, answers: list[tuple[int, bytes]], command: str) -> list[str]:
    """The GSME's GET after the command: served the command iff it was to be delivered."""
    if len(answers) != 1:
        return [f"the GSME's GET was answered {len(answers)} times, expected once"]
    queued, message = answers[0]
    if "delivered" in expected.results:
        if message.hex().upper() != command:
            return ["the GSME's GET was not answered with the command, unchanged"]
    elif message:
        return ["the GSME's GET was served a command that was not to reach it"]
    if queued != 0:
        return [f"the GSME's GET-RESPONSE says {queued} more wait, expected 0"]
    return []


def judge(
    expected: Expected,
    hub: list[HubDecision],
    upstream: list[Observed],
    mode: Mode,
    device: bytes | None = None,
    hub_eui: bytes | None = None,
) -> list[str]:
    """Every way the observed exchange differs from the expected one, in words. `device` is the
    meter's EUI-64 (None: every upstream frame is the meter's), `hub_eui` the hub's own."""
    failures: list[str] = []
    downs = [d for d in hub if d.direction == Direction.DOWNSTREAM]
    ups = [d for d in hub if d.direction == Direction.UPSTREAM]
    own = _from(ups, hub_eui) if hub_eui is not None else []
    from_meter = [d for d in ups if d not in own] if device is None else _from(ups, device)
    if expected.down is not None:
        if len(downs) != 1 or downs[0].decision is None:
            failures.append(f"the hub decided {len(downs)} times on the command, expected once")
        elif downs[0].decision[:3] != expected.down[:3]:
            failures.append(
                f"command: hub decided {_said(downs[0].decision)}, "
                f"profile says {_said(expected.down)}"
            )
        results = [o for o in upstream if o.topic == "down/result"]
        statuses = tuple(str(o.payload.get("status")) for o in results)
        if statuses != expected.results:
            failures.append(
                f"down/result said {', '.join(statuses) or 'nothing'}, "
                f"expected {', '.join(expected.results)}"
            )
        elif statuses == ("blocked",) and not str(results[0].payload.get("reason", "")).startswith(
            CONSUMER_CHOICE
        ):
            failures.append("a blocked command's result does not say it was the consumer's choice")
    if expected.reply is None:
        if from_meter:
            failures.append(f"the meter sent {len(from_meter)} frame(s) when it should send none")
    elif len(from_meter) != 1:
        failures.append(f"the meter sent {len(from_meter)} frames, expected 1")
    else:
        failures += _judge_frame(
            from_meter[0], expected.reply, expected.up, "the meter sent", "GBCS expects"
        )
    if expected.hub_alert is None:
        if own:
            failures.append(f"the hub raised {len(own)} alert(s) of its own, expected none")
    elif len(own) != 1:
        failures.append(f"the hub raised {len(own)} alerts of its own, expected 1")
    else:
        failures += _judge_frame(
            own[0], expected.hub_alert, expected.hub_alert_up, "the hub raised", "expected"
        )
    forwarded = [o for o in upstream if o.topic.startswith("up/")]
    wanted = [
        (category, frames[0].frame if len(frames) == 1 else None)
        for category, frames in (
            (expected.upstream_category(), from_meter),
            (expected.hub_alert_category(), own),
        )
        if category is not None
    ]
    if not wanted:
        if forwarded:
            topics = ", ".join(o.topic for o in forwarded)
            failures.append(f"upstream got {topics} in {mode.value} mode, expected nothing")
    elif len(forwarded) != len(wanted):
        on = " and ".join(f"up/{c}" for c, _f in wanted)
        failures.append(f"{len(forwarded)} frames went upstream, expected {len(wanted)} on {on}")
    else:
        for category, sent in wanted:
            match = [o for o in forwarded if o.topic == f"up/{category}"]
            if not match:
                topics = ", ".join(o.topic for o in forwarded)
                failures.append(f"upstream on {topics}, expected up/{category}")
            elif sent is None or all(
                base64.b64decode(str(o.payload.get("frame", ""))) != sent for o in match
            ):
                failures.append(f"the frame on up/{category} is not byte for byte what was sent")
    return failures  # fmt: skip


def _judge_frame(
    got: HubDecision, shape: Shape, decision: Decision | None, who: str, rule: str
) -> list[str]:
    failures = []
    if got.shape != shape:
        said = "unreadable" if got.shape is None else _shape(got.shape)
        failures.append(f"{who} {said}, {rule} {_shape(shape)}")
    if got.decision is not None and decision is not None and got.decision[:3] != decision[:3]:
        failures.append(
            f"hub decided {_said(got.decision)} on that frame, "
            f"profile says {_said(decision)} for a conforming one"
        )
    return failures


def _said(decision: Decision) -> str:
    return f"{decision.action.value} {decision.category.value} ({decision.rule})"


def _shape(shape: Shape) -> str:
    alert = "" if shape.alert_code is None else f" alert 0x{shape.alert_code:04X}"
    kind = "signed" if shape.critical else "unsigned"
    return f"{kind} {shape.cra.label} 0x{shape.message_code:04X}{alert}"


def simulated_devices(config: Config, kinds: Iterable[str]) -> list[SimDevice]:
    """One simulated device of each kind, on the lab's EUI-64s. Alert counters start at the
    current time in milliseconds, so two runs never reuse a dedup id."""
    first = int(datetime.now(UTC).timestamp() * 1000)
    made: dict[str, Callable[[], SimDevice]] = {
        "esme": lambda: esme.SimEsme(
            bytes.fromhex(config.lab.esme), 0x1A01, first_alert_counter=first
        ),
        "gsme": lambda: SimGsme(LAB_GSME, 0x1A0C, first_alert_counter=first),
        "ppmid": lambda: SimPpmid(LAB_PPMID, 0x1A0D, first_alert_counter=first),
        "ihd": lambda: SimIhd(bytes.fromhex(config.lab.ihd), 0x1A05),
    }
    return [made[kind]() for kind in kinds if kind in made]


async def run_conformance(
    config: Config,
    *,
    cases: Sequence[Case] | None = None,
    meters: Sequence[SimDevice] = (),
    device: bytes | None = None,
    device_kind: str = "esme",
    progress: Progress | None = None,
    view: Any = None,
    settle: float = SETTLE,
    wait: float = WAIT,
) -> tuple[list[CaseResult], dict[str, Any]]:
    """Start a hub on `config`, attach `meters` (virtual radio: one per kind) or find `device`
    (real radio, a `device_kind`), and run every case (default: the shipped ones) in full then
    restricted mode. The caller picks the state dir: the run changes the consent record of the
    hub it starts."""
    cases = shipped_cases() if cases is None else list(cases)
    sims = {meter.kind: meter for meter in meters}
    devices = {kind: sim.eui64 for kind, sim in sims.items()}
    if device is not None:
        devices[device_kind] = device
    if not devices:
        raise ValueError("a simulated meter or a device EUI-64 is needed")
    if "gsme" in sims:  # a queued command's expiry is part of the run: seconds, not a day
        config = dataclasses.replace(
            config, gsme=dataclasses.replace(config.gsme, queue_expiry=GSME_EXPIRY)
        )
    log = DecisionLog(view)
    hub = Hub(config, view=log)
    check_can_switch(hub)
    await hub.start()
    try:
        if sims:
            attach = getattr(hub.app, "attach", None)
            if attach is None:
                raise ConfigError(config.path, "[radio] type", "'virtual' for a simulated meter")
            for sim in sims.values():
                hub.device_log.provision(sim.eui64, LAB_INSTALL_CODE)  # the whitelist admits it
                attach(sim)
        await _ready(hub, devices, sims, config)
        async with observe(config) as observer:
            supplier = LabSupplier(bytes.fromhex(config.lab.supplier))
            run = Conformance(hub, log, observer, devices, sims, supplier, settle=settle, wait=wait)
            results: list[CaseResult] = []
            total = len(cases) * len(MODES)
            for mode in MODES:
                await change_consent(hub, mode, "conformance run")
                for case in cases:
                    result = await run.run_case(case, mode)
                    results.append(result)
                    if progress is not None:
                        progress(
                            len(results), total, f"{case.id} ({mode.value}): {verdict(result)}"
                        )
            meta = {
                "profile": hub.profile.name,
                "profile_version": hub.profile.version,
                "profile_sha256": hub.profile.digest,
                "devices": {kind: eui.hex().upper() for kind, eui in devices.items()},
                "simulated": sorted(sims),
            }
            if "gsme" in sims:
                meta["gsme_queue_expiry"] = config.gsme.queue_expiry
            return results, meta
    finally:
        await hub.stop()  # fmt: skip


class NotReady(RuntimeError):
    """The run could not start: no broker, no radio, or the device never opened its tunnel.
    `status` is the exit status: 75 (EX_TEMPFAIL) for no broker, as the client commands."""

    def __init__(self, text: str, status: int = 1) -> None:
        super().__init__(text)
        self.status = status


async def _ready(
    hub: Hub,
    devices: Mapping[str, bytes],
    sims: Mapping[str, SimDevice],
    config: Config,
    within: float = 30.0,
) -> None:
    """The broker connected, the radio up, and every device ready for its cases: a tunnel to
    the ESME (the hub opens it), the GSME's tunnel to the hub (the run asks it to open it once
    the hub knows it as a GSME), the IHD initialised."""
    mqtt = f"{config.mqtt.host}:{config.mqtt.port}"
    if not await _within(hub.uplink.connected.wait(), within):
        raise NotReady(f"the broker at {mqtt} accepted no connection within {within:g} s", 75)
    if not await _within(_router(hub), within):
        raise NotReady(f"the radio did not come up ({hub.radio.last_error}) within {within:g} s")
    for kind, eui in devices.items():
        name = f"{kind} {eui.hex().upper()}"
        sim = sims.get(kind)
        step: Coroutine[Any, Any, Any]
        if isinstance(sim, SimGsme):
            step, failure = _gsme_tunnel(hub, sim), f"{name} opened no tunnel to the hub"
        elif kind == "gsme":  # a real one: it opens its tunnel when it wakes
            step, failure = _gsme_tunnel_open(hub, eui), f"{name} opened no tunnel to the hub"
        elif kind == "ihd":
            step, failure = _initialised(hub, eui), f"{name} was not initialised by the hub"
        else:
            assert hub.router is not None
            ready = hub.router.tunnel_ready.setdefault(eui, asyncio.Event())
            step, failure = ready.wait(), f"device {name} opened no tunnel to the hub"
        if not await _within(step, within):
            raise NotReady(f"{failure} within {within:g} s")


async def _within(step: Coroutine[Any, Any, Any], seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        return False
    return True


async def _router(hub: Hub) -> None:
    while hub.router is None:  # noqa: ASYNC110 - the radio's first open has no event
        await asyncio.sleep(0.05)


async def _gsme_tunnel(hub: Hub, gsme: SimGsme) -> None:
    while not hub.gsme.is_gsme(gsme.eui64):  # noqa: ASYNC110 - the interview has no event
        await asyncio.sleep(0.05)
    gsme.request_tunnel()
    while gsme.tunnel_id is None:  # noqa: ASYNC110 - the sim's answer has no event
        await asyncio.sleep(0.05)


async def _gsme_tunnel_open(hub: Hub, eui: bytes) -> None:
    while True:
        state = hub.gsme.meters.get(eui)
        if state is not None and state.tunnel_id is not None:
            return
        await asyncio.sleep(0.05)


async def _initialised(hub: Hub, eui: bytes) -> None:
    ieee = zigpy.types.EUI64(eui[::-1])
    while True:
        device = hub.app.devices.get(ieee) if hub.app is not None else None
        if device is not None and device.is_initialized:
            return
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
