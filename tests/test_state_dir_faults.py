"""A state directory that cannot take writes (made read-only, or full) while the hub runs: every
consent request is still answered, a change that cannot be saved is not in force, the audit's
sequence has no gap, and allowed alerts keep flowing once the disk has room again.

Real file systems, not fakes: `chattr +i` makes the directory refuse new entries even to root
(as a file system remounted read-only after I/O errors refuses them), and a 1 MiB tmpfs filled
to the last byte is a full SD card. Both need root, as CI has; without it they are skipped and
say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, write_config
from mqtt_helpers import recording
from test_consent_mqtt import TRUST_LAB, ask, signed
from test_e2e import running_hub
from test_hostile_wan import SECURITY_ALERT, raise_and_see_alerts

from agent.config import load_config
from agent.consent import Mode

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chattr +i and mount need root")


@contextlib.contextmanager
def immutable(directory: Path) -> Iterator[None]:
    subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


@contextlib.contextmanager
def small_tmpfs(directory: Path, size: str = "1m") -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(directory: Path) -> Path:
    """Takes every free byte of the file system under `directory`; returns the filler."""
    filler = directory / "filler"
    with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)
    return filler


async def until(condition: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (a state to poll, not an event to wait on)
            await asyncio.sleep(0.05)


def audit_seqs(state: Path) -> list[int]:
    lines = (state / "consent-audit.jsonl").read_text().splitlines()
    return [e["seq"] for e in map(json.loads, lines) if "seq" in e]


@needs_root
async def test_a_change_the_read_only_state_dir_cannot_take_is_answered_and_not_in_force(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB))
    hub_id, base = config.hub_id, f"test/{config.hub_id}"
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        first = await ask(wan, rec, base, signed(hub_id, Mode.FULL, 10), "first")
        assert first["status"] == "ok"
        with immutable(config.state_dir):
            answer = await ask(wan, rec, base, signed(hub_id, Mode.RESTRICTED, 11), "ro")
            assert answer["status"] == "error"
            assert answer["data"] == {"refusal": "not_saved"}
            assert answer["error"] == "could not save: Operation not permitted"
            assert hub.consent.mode is Mode.FULL, "a change not on disk is not in force"
            junk = await ask(wan, rec, base, {"command": "consent"}, "junk-ro")
            assert junk["data"] == {"refusal": "malformed"}, "refusals are still answered"
        # Room again: the same change is taken, with the next number in the audit.
        again = await ask(wan, rec, base, signed(hub_id, Mode.RESTRICTED, 12), "again")
        assert again["status"] == "ok"
        assert hub.consent.mode is Mode.RESTRICTED
        assert again["data"]["seq"] == first["data"]["seq"] + 1
        await raise_and_see_alerts(lab, rec, 2)
    assert audit_seqs(config.state_dir) == [first["data"]["seq"], again["data"]["seq"]]
    refused = [
        json.loads(line)
        for line in (config.state_dir / "consent-audit.jsonl").read_text().splitlines()
        if '"not_saved"' in line
    ]
    assert [(e["outcome"], e["counter"]) for e in refused] == [("refused", 11)]


@needs_root
async def test_a_full_disk_degrades_health_then_the_hub_recovers_without_losing_alerts(
    tmp_path: Path, broker: Broker
) -> None:
    if shutil.which("mount") is None:
        pytest.fail("mount is missing: install util-linux")
    state = tmp_path / "state"
    with small_tmpfs(state):
        config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB))
        assert config.state_dir == state
        hub_id, base = config.hub_id, f"test/{config.hub_id}"
        async with (
            recording(broker.host, broker.port, f"{base}/#") as rec,
            running_hub(config) as (hub, lab),
            aiomqtt.Client(broker.host, broker.port) as wan,
        ):
            first = await ask(wan, rec, base, signed(hub_id, Mode.FULL, 20), "first")
            assert first["status"] == "ok"
            filler = fill(state)
            answer = await ask(wan, rec, base, signed(hub_id, Mode.RESTRICTED, 21), "full")
            assert answer["error"] == "could not save: No space left on device"
            assert hub.consent.mode is Mode.FULL
            # Alerts raised now cannot be committed: the hub says so, and keeps them.
            ups_before = len(rec.on("/up/security"))
            for _ in range(3):
                lab.raise_alert(SECURITY_ALERT)
            await until(lambda: hub.health_snapshot()["status"] == "degraded", timeout=10)
            problems = hub.health_snapshot()["problems"]
            assert any(p.startswith("outbox: ") for p in problems), problems
            filler.unlink()
            # Room again: the writer commits what it kept, and the alerts arrive.
            await rec.wait_for(lambda _m: len(rec.on("/up/security")) >= ups_before + 3, timeout=20)
            await until(lambda: hub.health_snapshot()["status"] == "ok", timeout=10)
            again = await ask(wan, rec, base, signed(hub_id, Mode.RESTRICTED, 22), "again")
            assert again["data"]["seq"] == first["data"]["seq"] + 1
