"""Shared fixtures: a real mosquitto on a free loopback port, and hub configs that point at it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "restricted-profile.toml"


@dataclass
class Broker:
    host: str
    port: int
    pid: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with status {process.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{port}")


def start_mosquitto(
    workdir: Path, port: int | None = None, *, listener: str = "", persistent: bool = False
) -> Broker:
    """A mosquitto on 127.0.0.1:port. `listener` adds lines to the listener (TLS options);
    `persistent` makes it save its state on every change, so a SIGKILL loses nothing it had
    acknowledged (what a durable broker looks like; mosquitto's default saves every 30 min)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise RuntimeError("mosquitto is not installed: run .ci/run or apt-get install mosquitto")
    fresh = port is None
    port = port or free_port()
    # Started as root, mosquitto drops to user 'mosquitto': its config must be world-readable.
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    conf = workdir / f"mosquitto-{port}.conf"
    # mosquitto drops to its own user, so its store must be reachable through world-searchable
    # directories (pytest's tmp_path is 0700): one per port under /tmp, kept across restarts.
    store = Path(tempfile.gettempdir()) / f"han-agent-mosquitto-store-{port}"
    if fresh:
        shutil.rmtree(store, ignore_errors=True)
    store.mkdir(exist_ok=True)
    store.chmod(0o777)
    persistence = (
        f"persistence true\npersistence_location {store}/\n"
        "autosave_on_changes true\nautosave_interval 1\n"
        if persistent
        else "persistence false\n"
    )
    conf.write_text(
        f"per_listener_settings false\nallow_anonymous true\n{persistence}"
        "log_dest stderr\nlog_type error\nlog_type warning\n"
        f"listener {port} 127.0.0.1\n{listener}"
    )
    conf.chmod(0o644)
    # The broker's log goes to a file: a pipe nobody reads fills up and stalls the broker.
    with open(workdir / f"mosquitto-{port}.log", "ab") as log:
        process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log)
    _wait_for_port(port, process, time.monotonic() + 10)
    return Broker("127.0.0.1", port, process.pid, process)


def stop_process(pid: int, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    workdir = Path(tempfile.mkdtemp(prefix="han-agent-broker-"))
    b = start_mosquitto(workdir)
    try:
        yield b
    finally:
        stop_process(b.pid, b.process)
        shutil.rmtree(workdir, ignore_errors=True)


_hub_ids = iter(range(0x00DB123456780000, 0x00DB12345678FFFF))


def write_config(
    directory: Path,
    broker: Broker | None,
    *,
    mode: str = "restricted",
    lab: bool = False,
    extra: str = "",
    hub_id: str | None = None,
    interval: float = 0.2,
    mqtt_url: str | None = None,
    mqtt_extra: str = "",
    radio_path: str = "",
) -> Path:
    """A hub config in `directory`, with its own state dir and a hub id no other test uses."""
    directory.mkdir(parents=True, exist_ok=True)
    hub_id = hub_id or f"{next(_hub_ids):016X}"
    url = mqtt_url or (broker.url if broker is not None else "mqtt://127.0.0.1:1")
    text = f"""
hub_id = "{hub_id}"
[mqtt]
url = "{url}"
base_topic = "test"
keepalive = 5
{mqtt_extra}
[radio]
type = "virtual"
path = "{radio_path}"
[state]
dir = "state"
[consent]
initial_mode = "{mode}"
profile = "{PROFILE}"
[lab]
enabled = {"true" if lab else "false"}
command_interval = {interval}
alert_interval = {interval}
{extra}
"""
    path = directory / "hub.toml"
    path.write_text(text)
    return path


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`han-agent ARGS` as a user runs it, in a subprocess; HAN_AGENT_MQTT_* from the caller's
    environment are left out so that only `env` sets them."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HAN_AGENT_MQTT_")}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        env={**clean, **(env or {})},
    )
