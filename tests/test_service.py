"""The agent as systemd runs it: a subprocess with NOTIFY_SOCKET and WATCHDOG_USEC, a real
mosquitto, the lab on the virtual radio. READY, watchdog pings, no pings once the radio has
been lost for longer than allowed, SIGHUP reload of the profile without a restart, STOPPING on
SIGTERM. The notify socket is a real AF_UNIX datagram socket, read as systemd would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiomqtt
import pytest
from conftest import PROFILE, ROOT, Broker, write_config
from mqtt_helpers import recording
from test_consent_mqtt import TRUST_LAB, signed

from agent.commands.run import say_threads_left
from agent.config import load_config
from agent.consent import Mode


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.path = path
        self.received: list[tuple[float, list[str]]] = []

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            self.received.append((time.monotonic(), data.decode().split("\n")))

    async def wait_for(self, field: str, timeout: float, after: float = 0.0) -> float:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            for at, fields in self.received:
                if at >= after and field in fields:
                    return at
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {field} within {timeout}s; got {self.received}")

    def times(self, field: str, since: float = 0.0) -> list[float]:
        self.drain()
        return [at for at, fields in self.received if at >= since and field in fields]


def _start(config: Path, sock: Path, watchdog_usec: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, NOTIFY_SOCKET=str(sock), WATCHDOG_USEC=str(watchdog_usec))
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(agent: subprocess.Popen[bytes]) -> str:
    if agent.poll() is None:
        agent.kill()
    _out, err = agent.communicate(timeout=10)
    return err.decode()


async def test_ready_pings_fault_and_stopping(tmp_path: Path, broker: Broker) -> None:
    config = write_config(
        tmp_path,
        broker,
        lab=True,
        extra="[health]\nradio_recovery = 2\ninterval = 1",
        radio_path="virtual://service-test",  # a named dongle the lab's SIGUSR1 can pull
    )
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = _start(config, notify.path, watchdog_usec=1_000_000)  # ping every 0.5 s
    try:
        ready = await notify.wait_for("READY=1", timeout=30)
        assert all(at >= ready for at in notify.times("WATCHDOG=1")), "no ping before READY"
        await asyncio.sleep(2)
        pings = notify.times("WATCHDOG=1", since=ready)
        assert len(pings) >= 3, f"pings every 0.5 s while healthy, got {len(pings)}"

        os.kill(agent.pid, signal.SIGUSR1)  # the lab pulls the virtual dongle
        lost = time.monotonic()
        await notify.wait_for("WATCHDOG=1", timeout=2, after=lost)  # still within recovery
        unhealthy_at = None
        deadline = time.monotonic() + 10
        while unhealthy_at is None and time.monotonic() < deadline:
            notify.drain()
            unhealthy_at = next(
                (
                    at
                    for at, fields in notify.received
                    if any(f.startswith("STATUS=unhealthy: radio fault") for f in fields)
                ),
                None,
            )
            await asyncio.sleep(0.1)
        assert unhealthy_at is not None, notify.received
        assert unhealthy_at - lost >= 2, "the allowed recovery time was granted"
        await asyncio.sleep(2.5)
        assert notify.times("WATCHDOG=1", since=unhealthy_at) == [], "no ping once past allowed"
        assert agent.poll() is None, "the hub keeps running: killing it is systemd's call"

        os.kill(agent.pid, signal.SIGTERM)
        await notify.wait_for("STOPPING=1", timeout=10)
        rc = await asyncio.to_thread(agent.wait, 20)
        assert rc == 0
    finally:
        err = _stop(agent)
        notify.sock.close()
    assert "withholding the systemd watchdog ping: radio fault" in err
    assert "<3>ERROR agent.radio_supervisor: radio lost" in err
    assert "cannot exit" not in err, "every thread stopped with the hub"


async def test_sighup_reloads_the_profile_without_a_restart(tmp_path: Path, broker: Broker) -> None:
    profile = tmp_path / "profile.toml"
    original = PROFILE.read_text()
    profile.write_text(original)
    config = write_config(tmp_path, broker, lab=True, extra=TRUST_LAB)
    config.write_text(config.read_text().replace(str(PROFILE), str(profile)))
    hub_id = load_config(config).hub_id
    notify = NotifySocket(tmp_path / "notify.sock")
    async with (
        recording(broker.host, broker.port, f"test/{hub_id}/bridge/info") as rec,
        recording(broker.host, broker.port, f"test/{hub_id}/consent") as consent,
    ):
        agent = _start(config, notify.path, watchdog_usec=2_000_000)
        try:
            ready = await notify.wait_for("READY=1", timeout=30)
            await rec.wait_for(lambda m: bool(m), timeout=10)
            before = rec.messages[-1].json()["profile"]
            version = before["version"]
            assert f"version = {version}" in original
            profile.write_text(original.replace(f"version = {version}", f"version = {version + 1}"))
            os.kill(agent.pid, signal.SIGHUP)
            reloading = await notify.wait_for("RELOADING=1", timeout=10, after=ready)
            await notify.wait_for("READY=1", timeout=10, after=reloading)
            await rec.wait_for(
                lambda m: m[-1].json()["profile"]["version"] == version + 1, timeout=10
            )
            after = rec.messages[-1].json()["profile"]
            assert after["sha256"] != before["sha256"]
            # A consent change accepted after the reload records the profile now in force.
            async with aiomqtt.Client(broker.host, broker.port) as wan:
                command = json.dumps(signed(hub_id, Mode.FULL, 7200))
                await wan.publish(f"test/{hub_id}/bridge/request/consent", command, qos=1)
            await consent.wait_for(lambda m: bool(m) and m[-1].json()["mode"] == "full", 10)
            assert consent.messages[-1].json()["profile"]["version"] == version + 1

            # A broken profile is refused; the running one stays, and so does the process.
            profile.write_text("this is not toml [")
            os.kill(agent.pid, signal.SIGHUP)
            second = await notify.wait_for("RELOADING=1", timeout=10, after=reloading + 0.001)
            await notify.wait_for("READY=1", timeout=10, after=second)
            await notify.wait_for("WATCHDOG=1", timeout=5, after=second)
            assert agent.poll() is None, "reload never restarts or stops the hub"
            os.kill(agent.pid, signal.SIGTERM)
            assert await asyncio.to_thread(agent.wait, 20) == 0
        finally:
            err = _stop(agent)
            notify.sock.close()
    assert err.count("agent.hub: hub ") == 1, "one start: the radio was not reopened"
    assert f"reloaded: profile {after['name']} v{version + 1}" in err
    assert "reload refused, running settings kept: config error:" in err
    assert "cannot exit" not in err


async def test_no_ready_until_the_radio_is_open(tmp_path: Path, broker: Broker) -> None:
    # A dongle missing at start: the hub keeps retrying, but a unit that is "active" has a
    # working radio, so READY=1 is not sent (systemd's TimeoutStartSec then restarts it). The
    # watchdog's grace for a radio that went away later does not count here.
    config = write_config(
        tmp_path, broker, extra="[health]\nradio_recovery = 600", radio_path="/dev/ttyNOSUCH"
    )
    config.write_text(config.read_text().replace('type = "virtual"', 'type = "ezsp"', 1))
    notify = NotifySocket(tmp_path / "notify.sock")
    agent = _start(config, notify.path, watchdog_usec=1_000_000)
    try:
        await asyncio.sleep(4)
        assert agent.poll() is None, "still starting, retrying the radio"
        assert notify.times("READY=1") == []
        assert notify.times("WATCHDOG=1") == []
        os.kill(agent.pid, signal.SIGTERM)
        assert await asyncio.to_thread(agent.wait, 20) == 0
    finally:
        err = _stop(agent)
        notify.sock.close()
    assert "not ready yet: radio fault: no serial port at /dev/ttyNOSUCH" in err
    assert "cannot exit" not in err


def test_a_thread_left_running_at_stop_is_named(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck-library-thread")
    stuck.start()
    try:
        say_threads_left()
    finally:
        release.set()
        stuck.join()
    (record,) = [r for r in caplog.records if "cannot exit" in r.getMessage()]
    assert record.levelname == "ERROR"
    assert "stuck-library-thread" in record.getMessage()
    caplog.clear()
    say_threads_left()
    assert "stuck-library-thread" not in caplog.text, "a thread that ended is not named"
