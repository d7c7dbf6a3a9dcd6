"""Running a scenario (agent.scenario_file) on a live hub, and observing what really happened.

The scenario's devices are the lab's simulated ones (agent.lab.make_sim) and its commands come
from the lab's supplier, so a scenario exercises exactly what the lab default does. While it
plays, the run records what the hub did, from three places that do not depend on what the
scenario expects: every decision the hub's view hook reports, every frame a separate MQTT client
sees arrive on up/<category>, and every status on down/result. agent.expectations judges the
scenario's expectations against that record.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from dataclasses import dataclass, field, replace

import aiomqtt

from agent.broker_client import Broker, client
from agent.config import Config, LabConfig
from agent.consent import Mode
from agent.consent_command import sign_consent
from agent.expectations import Arrived, Case, Decided, Observed, Verdict, judge
from agent.hub import Hub
from agent.lab import Lab, LabCommand, make_sim
from agent.policy import Decision
from agent.router import eui64_bytes
from agent.scenario_file import Device, Event, Scenario, ScenarioError, load_scenario
from agent.shipped import LAB_TEST_KEY
from agent.view import ForwardingView, LiveView
from gbcs import signature
from gbcs.frame import Frame, FrameError, parse_frame
from hal.sim.base import SimDevice
from hal.sim.esme import SimEsme
from hal.sim.gsme import SimGsme
from hal.sim.ihd import SimIhd

__all__ = [
    "LAB_TEST_KEY",
    "RunError",
    "ScenarioError",
    "ScenarioRun",
    "change_consent",
    "load_scenario",
    "run_scenario",
    "scenario_config",
]


class RunError(Exception):
    """A scenario run that could not go on; one line says why. `status` is the exit status:
    75 when the broker did not answer, 1 otherwise."""

    def __init__(self, text: str, status: int = 1) -> None:
        super().__init__(text)
        self.status = status


def scenario_config(config: Config, scenario: Scenario, time_scale: float) -> Config:
    """The hub's config for the run: a scenario's gsme_queue_expiry (scenario seconds) replaces
    [gsme] queue_expiry, scaled like every other time."""
    if scenario.gsme_queue_expiry is None:
        return config
    expiry = max(scenario.gsme_queue_expiry / time_scale, 0.1)
    return replace(config, gsme=replace(config.gsme, queue_expiry=expiry))


class DecisionRecorder(ForwardingView):
    """The hub's view hook, recording each decision, then passing every call on to the view
    that was there (the live view, or none)."""

    def __init__(self, inner: LiveView | None, into: Observed) -> None:
        super().__init__(inner)
        self.into = into

    def decision(self, direction: str, device: bytes, frame: Frame, decision: Decision) -> None:
        self.into.decisions.append(
            Decided(
                upstream=direction == "upstream",
                raw=frame.raw,
                forwarded=decision.forwarded,
                category=decision.category.value,
                reason=decision.reason,
            )
        )
        super().decision(direction, device, frame, decision)


@dataclass
class ScenarioRun:
    """A played scenario: its lab (stop it), the expectations' cases and what was observed."""

    scenario: Scenario
    hub: Hub
    lab: Lab
    observed: Observed
    cases: list[Case] = field(default_factory=list)
    watcher: asyncio.Task[None] | None = None
    inner_view: LiveView | None = None

    async def verdicts(self, settle: float = 5.0) -> list[Verdict]:
        """Judge every expectation once all pass or `settle` seconds have gone by: a frame
        forwarded at the end of the run may still be on its way to the broker, a GSME's command
        may still be waiting to expire."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle
        while True:
            verdicts = judge(self.cases, self.observed)
            if all(v.passed for v in verdicts) or loop.time() >= deadline:
                return verdicts
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.lab.stop()
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self.watcher
        self.hub.view = self.inner_view


def sims_for(scenario: Scenario) -> list[tuple[Device, SimDevice]]:
    numbers: dict[str, int] = {}
    pairs = []
    for device in scenario.devices:
        index = numbers.get(device.kind, 0)
        numbers[device.kind] = index + 1
        pairs.append((device, make_sim(device.kind, bytes.fromhex(device.eui64), index)))
    return pairs


async def run_scenario(
    hub: Hub, scenario: Scenario, lab_config: LabConfig, *, time_scale: float = 1.0
) -> ScenarioRun:
    """Attach the scenario's devices to the running hub, watch the broker, and play its events.

    The consent changes go through the broker to the hub's own bridge/request/consent, signed
    with the lab TEST key, and the run waits until the hub has taken each one (the hub must
    trust config/lab/trust). The caller judges (ScenarioRun.verdicts) and stops the run.
    """
    pairs = sims_for(scenario)
    lab = Lab(hub, lab_config, [sim for _, sim in pairs])
    check_addresses(hub, scenario, pairs)
    observed = Observed(hub_eui64=hub.hub_eui64)
    run = ScenarioRun(scenario, hub, lab, observed, inner_view=hub.view)
    hub.view = DecisionRecorder(hub.view, observed)
    join_timeout = 30.0 + 0.5 * len(pairs)
    try:
        await lab.start(traffic=False, join_timeout=join_timeout)
    except TimeoutError:
        await run.stop()
        names = ", ".join(f"{d.name} ({d.eui64})" for d, s in pairs if s in lab.waiting())
        raise RunError(f"not joined within {join_timeout:g} s: {names}") from None
    try:
        async with asyncio.timeout(10):
            await hub.uplink.connected.wait()
            ready = asyncio.Event()
            run.watcher = asyncio.get_running_loop().create_task(watch(hub, observed, ready))
            await ready.wait()
    except TimeoutError:
        await run.stop()
        s = hub.config.mqtt
        why = hub.uplink.last_error or "no answer"
        raise RunError(f"no broker at {s.host}:{s.port} within 10 s ({why})", 75) from None
    sims = {device.name: sim for device, sim in pairs}
    loop = asyncio.get_running_loop()
    start = loop.time()
    stamp = f"scenario-{int(time.time())}"
    for n, event in enumerate(scenario.events):
        delay = start + event.at / time_scale - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await _play(run, sims, event, f"{stamp}-{n + 1}")
    remaining = start + scenario.duration / time_scale - loop.time()
    if remaining > 0:
        await asyncio.sleep(remaining)
    return run


async def watch(hub: Hub, into: Observed, ready: asyncio.Event) -> None:
    """A second MQTT client, apart from the hub's: what really reached the broker."""
    up = hub.uplink.topic("up/")
    result = hub.uplink.topic("down/result")
    async with client(Broker(hub.config.mqtt, hub.config.hub_id)) as mqtt:
        await mqtt.subscribe(up + "#", qos=1)
        await mqtt.subscribe(result, qos=1)
        ready.set()
        async for message in mqtt.messages:
            topic = str(message.topic)
            try:
                body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                if topic == result:
                    into.results.setdefault(str(body["id"]), []).append(str(body["status"]))
                elif topic.startswith(up):
                    raw = base64.b64decode(body["frame"])
                    frame = parse_frame(raw)
                    into.ups.append(
                        Arrived(
                            topic.removeprefix(up),
                            raw,
                            frame.originator,
                            frame.alert_code,
                            asyncio.get_running_loop().time(),
                        )
                    )
            except (ValueError, KeyError, TypeError, FrameError):
                continue  # not the hub's envelope: nothing to observe in it


def check_addresses(hub: Hub, scenario: Scenario, pairs: list[tuple[Device, SimDevice]]) -> None:
    """The lab's simulated devices always take the same network addresses. A state dir whose
    network (zigbee.db) has another device at one of them would get the scenario's device
    confused with it: it never initialises, and the run used to end in a bare TimeoutError
    after 30 s. Say so at once instead, naming the scenario key and the state."""
    app = hub.app
    if app is None:
        return
    for spec, sim in pairs:
        for device in app.devices.values():
            if device.nwk == sim.nwk and device.ieee != sim.ieee:
                held = eui64_bytes(device.ieee).hex().upper()
                raise ScenarioError(
                    scenario.path,
                    spec.key,
                    f"a device the state's network can take: {hub.config.state_dir} already "
                    f"has {held} at the simulated device's address 0x{sim.nwk:04X} (run "
                    "without --state-dir for a fresh state, or name that device)",
                )


async def _play(run: ScenarioRun, sims: dict[str, SimDevice], event: Event, rid: str) -> None:
    hub, lab = run.hub, run.lab
    sim = sims.get(event.device)
    loop = asyncio.get_running_loop()
    if event.kind == "command" and sim is not None:
        frame = lab.supplier.command(sim.eui64, LabCommand(event.message_code, event.critical))
        run.cases += _cases(event, frame, f"0x{event.message_code:04X}", rid, loop.time())
        await hub.command_from_wan(rid, sim.eui64, frame)
    elif event.kind == "alert" and isinstance(sim, SimEsme):
        frame = sim.alert(
            event.alert_code,
            message_code=event.message_code if event.has_message_code else None,
            critical=event.critical,
            extra=event.extra,
        )
        run.cases += _cases(event, frame, f"0x{event.alert_code:04X}", "", loop.time())
        sim.send_gbcs(frame)
    elif event.kind == "ihd_read" and isinstance(sim, SimIhd):
        sim.read_time()
    elif event.kind == "wake" and isinstance(sim, SimGsme):
        sim.poll()
    elif event.kind == "consent":
        await change_consent(hub, Mode(event.mode), event.reason)


def _cases(event: Event, raw: bytes, code: str, rid: str, now: float) -> list[Case]:
    return [
        Case(event.key, event.device, event.at, event.kind, x.what, x.value, code, raw, rid, now)
        for x in event.expects
    ]


async def change_consent(hub: Hub, mode: Mode, reason: str) -> None:
    key = signature.load_private_key(LAB_TEST_KEY.read_bytes())
    now = int(time.time())
    command = sign_consent(
        key,
        hub_id=hub.config.hub_id,
        mode=mode,
        reason=reason,
        counter=int(time.time() * 1000),
        issued_at=now - 5,
        expires_at=now + 600,
    )
    payload = json.dumps({**command.to_dict(), "transaction": "scenario"}).encode()
    hub.uplink.publish("bridge/request/consent", payload, qos=1)
    try:
        async with asyncio.timeout(10):
            while hub.consent.mode is not mode:  # noqa: ASYNC110 - the hub has no change event
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise RunError(
            f"the hub did not take the consent change to {mode.value} within 10 s (does its "
            f"[trust] dir trust the lab TEST key, {LAB_TEST_KEY.name}?)"
        ) from None
