"""Every `han-agent` command the README shows, run as written against a lab hub.

The README's shell blocks are parsed, and each `.venv/bin/han-agent ...` line (continuations
joined, trailing comments dropped) is run by bash from a scratch directory that holds the
checkout's `config/`, with only the broker moved to the test's own mosquitto
(`HAN_AGENT_MQTT_URL`, and `--mqtt-url` for the hub). The hub is the README's lab default,
`config/lab-virtual.toml`, run as a subprocess. The one command not run is the second hub
(`run ... --hub-id`): it runs until stopped, as the first one here does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as paho
from conftest import ROOT, Broker

README = ROOT / "README.md"
LAB_HUB = "00DB1234567890A2"
DECODE_FRAME = "DF090100000000000003EA0890B3D51F300100000800DB1234567890A00002000A06300403020308"


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = re.sub(r"\s{2,}#.*$", "", line).strip()
            if line.startswith(".venv/bin/han-agent "):
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def wait_online(broker: Broker, hub: str, timeout: float = 60) -> None:
    online = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, m: online.append(json.loads(m.payload)["state"])
    client.connect(broker.host, broker.port)
    client.subscribe(f"gbcs-hub/{hub}/bridge/state", qos=1)
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        while "online" not in online:
            assert time.monotonic() < deadline, "the lab hub did not come online"
            time.sleep(0.1)
    finally:
        client.loop_stop()
        client.disconnect()


def test_the_readme_shows_the_commands_this_test_runs() -> None:
    commands = readme_commands()
    verbs = [" ".join(c.split()[1:3]) for c in commands]
    for expected in ("consent sign", "consent send", "consent show", "device-log add"):
        assert expected in verbs, f"README no longer shows `han-agent {expected}`"


def test_every_han_agent_command_in_the_readme_works(tmp_path: Path, broker: Broker) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "config").symlink_to(ROOT / "config")
    (work / "capture.hex").write_text(DECODE_FRAME + "\n")
    han_agent = f"{sys.executable} -m agent.cli"
    log = (tmp_path / "hub.log").open("wb")
    hub = subprocess.Popen(
        [*han_agent.split(), "run", "--config", "config/lab-virtual.toml", "--quiet",
         "--mqtt-url", broker.url, "--state-dir", str(tmp_path / "state")],
        cwd=work, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    ran: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        wait_online(broker, LAB_HUB)
        for command in readme_commands():
            if " run " in f"{command} ":
                continue  # the second hub runs until stopped
            ran[command] = subprocess.run(
                ["bash", "-c", command.replace(".venv/bin/han-agent", han_agent)],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=90,
                env={"PATH": "/usr/bin:/bin", "HAN_AGENT_MQTT_URL": broker.url},
            )
    finally:
        hub.terminate()
        hub.wait(timeout=30)
        log.close()
    for command, result in ran.items():
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    outputs = {" ".join(c.split()[1:3]): r.stdout for c, r in ran.items()}
    assert json.loads(outputs["consent send"])["status"] == "ok"
    assert json.loads(outputs["consent show"])["mode"] == "full"
    assert '"status": "delivered"' in outputs["device-log add"]
    assert '"status": "delivered"' in outputs["device-log remove"]
    decoded = (work / "decoded.jsonl").read_text().splitlines()
    assert len(decoded) == 1 and json.loads(decoded[0])["message_code"] == "0x000A"
    assert "Traceback" not in (tmp_path / "hub.log").read_text()
