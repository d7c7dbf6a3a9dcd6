"""`han-agent device-log add|remove` against a running hub through a real mosquitto: the CLI
plays the ACB, reading the hub's key-agreement key from bridge/info and MACing its CCS01/CCS02.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from conftest import Broker
from test_consent_cli import cli
from test_device_log_e2e import GOOD_CODE, NEW_METER
from test_e2e import running_hub
from test_hub_command_mac import config_with_acb_key, public_pem

from agent.config import load_config
from gbcs import signature


async def test_add_and_remove_as_the_acb(tmp_path: Path, broker: Broker) -> None:
    keys = tmp_path / "keys"
    assert (await asyncio.to_thread(cli, "keys", "generate", "--out", str(keys))).returncode == 0
    acb_private = keys / "supplier.key.pem"
    acb = signature.load_private_key(acb_private.read_bytes())
    config = load_config(config_with_acb_key(tmp_path, public_pem(acb), broker))
    common = ["--hub", config.hub_id, "--eui64", NEW_METER.hex().upper(), "--mqtt-url", broker.url]
    common += ["--base-topic", "test"]
    async with running_hub(config) as (hub, _lab):
        added = await asyncio.to_thread(
            cli, "device-log", "add", *common, "--install-code", GOOD_CODE.hex(),
            "--acb-key", str(acb_private),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["reason"] == (
            f"actioned by the hub: {NEW_METER.hex().upper()} added to the device log"
        )
        assert hub.device_log.admits(NEW_METER)

        # Without the ACB's key the CLI can only put the lab's fixed MAC on: this hub refuses it.
        forged = await asyncio.to_thread(cli, "device-log", "remove", *common)
        assert forged.returncode == 1
        assert "its MAC does not verify" in json.loads(forged.stdout)["reason"]
        assert hub.device_log.admits(NEW_METER)

        removed = await asyncio.to_thread(
            cli, "device-log", "remove", *common, "--acb-key", str(acb_private)
        )
        assert removed.returncode == 0, removed.stderr
        assert json.loads(removed.stdout)["status"] == "delivered"
        assert not hub.device_log.admits(NEW_METER)


def test_no_hub_answering_exits_75(broker: Broker) -> None:
    sent = cli(
        "device-log", "remove", "--hub", "00DB1234567890EE", "--eui64", NEW_METER.hex(),
        "--mqtt-url", broker.url, "--timeout", "0.5",
    )  # fmt: skip
    assert sent.returncode == 75
    assert "no answer on gbcs-hub/00DB1234567890EE/down/result" in sent.stderr


def test_bad_arguments_are_refused_before_publishing() -> None:
    sent = cli(
        "device-log", "add", "--hub", "00DB", "--eui64", NEW_METER.hex(), "--install-code", "00",
        "--mqtt-url", "mqtt://127.0.0.1:1",
    )  # fmt: skip
    assert sent.returncode == 1
    assert sent.stderr.strip() == "device-log: --hub '00DB': expected 16 hex digits"
    missing = cli(
        "device-log", "remove", "--hub", "00DB1234567890EE", "--eui64", NEW_METER.hex(),
        "--acb-key", "/nonexistent.pem", "--mqtt-url", "mqtt://127.0.0.1:1",
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "device-log: --acb-key /nonexistent.pem: No such file or directory"
    )
