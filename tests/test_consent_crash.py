"""Crash consistency: the agent is SIGKILLed at random moments while it applies signed changes.

Each cycle starts `han-agent run` as a subprocess, waits until it answers on
bridge/request/consent, then sends signed changes one after another (each waits for its answer)
and kills the process with SIGKILL after a random delay. After the kill the state file must load
(the store validates it) and its record must be the last change the agent acknowledged, or the
one change that was in flight when it died (applied and persisted, not yet acknowledged); never
anything else, never a torn file. The restarted agent must publish that same record retained.

CONSENT_CRASH_KILLS sets the number of kills: a few in CI, `make consent-crash` runs 200.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
from conftest import ROOT, Broker, write_config
from mqtt_helpers import Recorder, recording

from agent.cancel import cancel_and_wait
from agent.config import load_config
from agent.consent import Mode, ProfileRef
from agent.consent_command import sign_consent
from agent.consent_store import ConsentStore
from gbcs import signature

READY_S = 20.0
LOG = Path(os.environ.get("CONSENT_CRASH_LOG", "/tmp/han-agent-consent-crash.log"))
KILLS = int(os.environ.get("CONSENT_CRASH_KILLS", "4"))
KEY = signature.load_private_key((ROOT / "config/lab/TEST-ONLY-lab-supplier.key.pem").read_bytes())
TRUST_LAB = f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n'
DEBUG = '[log]\nlevel = "debug"\n' if os.environ.get("CONSENT_CRASH_DEBUG") else ""


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config), "--quiet"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=f,
        )


def answers(rec: Recorder) -> dict[str, Any]:
    out = {}
    for m in rec.on("/bridge/response/consent"):
        body = m.json()
        out[str(body.get("transaction"))] = body
    return out


async def wait_ready(wan: aiomqtt.Client, rec: Recorder, base: str, cycle: int) -> bool:
    """Probe with a harmless malformed request until the agent answers it."""
    deadline = time.monotonic() + READY_S
    n = 0
    while time.monotonic() < deadline:
        tx = f"probe-{cycle}-{n}"
        n += 1
        await wan.publish(f"{base}/bridge/request/consent", json.dumps({"transaction": tx}), qos=1)
        try:
            await rec.wait_for(lambda _m, tx=tx: tx in answers(rec), timeout=0.3)  # type: ignore[misc]
            return True
        except TimeoutError:
            continue
    return False


async def test_sigkill_while_applying_changes_never_loses_or_tears_the_record(
    tmp_path: Path, broker: Broker
) -> None:
    config_path = write_config(tmp_path, broker, mode="full", extra=TRUST_LAB + DEBUG)
    config = load_config(config_path)
    base = f"test/{config.hub_id}"
    rng = random.Random(int(os.environ.get("CONSENT_CRASH_SEED", str(time.time_ns()))))
    counter = 1
    acked: dict[str, Any] | None = None  # the record of the last acknowledged change
    kills = outcomes = 0
    stuck: list[str] = []
    slowest_reap = 0.0  # seconds from SIGKILL to the agent reaped
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        for cycle in itertools.count():  # until KILLS kills while changes were applied
            log = LOG
            agent = start_agent(config_path, log)
            try:
                if not await wait_ready(wan, rec, base, cycle):
                    # Seen about once in 20-60 starts: the process is up but its MQTT session
                    # never comes up (no CONNACK, nothing logged). An uplink problem, reported
                    # and counted; the record must still be intact after killing it.
                    stuck.append(f"cycle {cycle}: {log.read_text()[-500:]}")
                    assert len(stuck) <= max(3, KILLS // 10), "\n".join(stuck)
                    os.kill(agent.pid, signal.SIGKILL)
                    await asyncio.to_thread(agent.wait, 10)
                    record = _load(config.state_dir)
                    assert record == acked if acked else record["counter"] == 0
                    continue
                retained = [m.json() for m in rec.messages if m.topic == f"{base}/consent"]
                assert retained, "the agent publishes the record at start"
                on_disk = _load(config.state_dir)
                ours = {k: v for k, v in retained[-1].items() if k != "profile_in_force"}
                assert ours.pop("signed"), "the record is signed by the hub"
                assert ours == on_disk
                if kills == KILLS:
                    break
                in_flight: dict[str, Any] | None = None

                async def changes() -> None:
                    nonlocal counter, acked, in_flight, outcomes
                    while True:
                        counter += 1
                        now = int(time.time())
                        mode = Mode.RESTRICTED if counter % 2 else Mode.FULL
                        command = sign_consent(
                            KEY, hub_id=config.hub_id, mode=mode, reason=f"change {counter}",
                            counter=counter, issued_at=now, expires_at=now + 600,
                        ).to_dict()  # fmt: skip
                        tx = f"c{counter}"
                        in_flight = command
                        await wan.publish(
                            f"{base}/bridge/request/consent",
                            json.dumps({**command, "transaction": tx}),
                            qos=1,
                        )
                        try:
                            await rec.wait_for(lambda _m, tx=tx: tx in answers(rec), timeout=10)  # type: ignore[misc]
                        except TimeoutError:
                            raise AssertionError(f"no answer to {tx} (agent log: {LOG})") from None
                        assert answers(rec)[tx]["status"] == "ok", answers(rec)[tx]
                        acked = answers(rec)[tx]["data"]["record"]
                        outcomes += 1

                task = asyncio.create_task(changes())
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                os.kill(agent.pid, signal.SIGKILL)
                killed = time.monotonic()
                # The agent sends no answer after the signal: stop waiting for one. A plain
                # cancel() that met the broker's PUBACK of a command in the same turn of the loop
                # was swallowed by Python 3.11's wait_for inside aiomqtt's publish; the task then
                # waited 10 s for the answer and failed (once in 100-700 kills; agent/cancel.py).
                await cancel_and_wait(task)
                await asyncio.to_thread(agent.wait, 60)
                slowest_reap = max(slowest_reap, time.monotonic() - killed)
                kills += 1
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                record = _load(config.state_dir)
                allowed = [acked["counter"] if acked else 0]
                if in_flight is not None:
                    allowed.append(in_flight["counter"])
                assert record["counter"] in allowed, (record, allowed)
                if acked is not None and record["counter"] == acked["counter"]:
                    assert record == acked
                elif in_flight is not None and record["counter"] == in_flight["counter"]:
                    assert record["mode"] == in_flight["mode"]
                    assert record["reason"] == in_flight["reason"]
                    acked = record  # applied: the next restart publishes it
            finally:
                if agent.poll() is None:
                    agent.kill()
                agent.wait(timeout=10)
    assert kills == KILLS
    assert outcomes >= 1, "some changes were acknowledged between the kills"
    audit = [json.loads(line) for line in (config.state_dir / "consent-audit.jsonl").open()]
    seqs = [a["seq"] for a in audit if a["outcome"] == "accepted"]
    assert (
        seqs and max(seqs) == json.loads((config.state_dir / "consent.json").read_text())["changes"]
    ), "every accepted change is in the audit log (recovered after a crash if need be)"
    print(
        f"\n{kills} SIGKILLs while applying changes, {outcomes} acknowledged changes, record "
        f"always the last acknowledged or the in-flight one; {len(stuck)} start(s) where the "
        "agent's MQTT session did not come up (killed and restarted, record checked); "
        f"slowest reap after SIGKILL {slowest_reap:.2f} s"
    )


def _load(state_dir: Path) -> dict[str, Any]:
    """The record as the agent would load it (the store validates the whole file)."""
    state = ConsentStore(state_dir).load(
        initial_mode=Mode.FULL, profile=ProfileRef(), seed_trust={}
    )
    return state.record.to_dict()
