"""The lab user's flow through the real CLI: keys generate, consent sign, consent send, consent
show, against a real mosquitto and a running `han-agent run` process; a replayed command is
refused after the agent restarts. Also: the production template never trusts the lab key.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, Broker, cli, write_config
from mqtt_helpers import recording

from agent.config import load_config
from agent.consent_store import load_trust_dir
from gbcs import signature

LAB_KID = "43BF61563D227CA6"


def start_agent(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_production_template_never_trusts_the_lab_key() -> None:
    pi = load_config(ROOT / "config/pi-ezsp.toml")
    lab = load_config(ROOT / "config/lab-virtual.toml")
    assert pi.trust_dir == Path("/etc/han-agent/trust")
    assert not str(pi.trust_dir).startswith(str(ROOT))
    assert LAB_KID in load_trust_dir(lab.trust_dir)
    public = signature.load_public_key(
        (ROOT / "config/lab/trust/TEST-ONLY-lab-supplier.pub.pem").read_bytes()
    )
    private = signature.load_private_key(
        (ROOT / "config/lab/TEST-ONLY-lab-supplier.key.pem").read_bytes()
    )
    assert signature.key_id(public) == signature.key_id(private.public_key()) == LAB_KID


def test_keys_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    first = cli("keys", "generate", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    kid = re.search(r"key id ([0-9A-F]{16})", first.stdout)
    assert kid is not None
    assert (tmp_path / "supplier.key.pem").stat().st_mode & 0o777 == 0o600
    public = signature.load_public_key((tmp_path / "supplier.pub.pem").read_bytes())
    assert signature.key_id(public) == kid.group(1)
    again = cli("keys", "generate", "--out", str(tmp_path))
    assert again.returncode == 1 and "not overwriting" in again.stderr
    assert signature.key_id(
        signature.load_public_key((tmp_path / "supplier.pub.pem").read_bytes())
    ) == kid.group(1)


async def test_sign_send_show_and_replay_after_restart(tmp_path: Path, broker: Broker) -> None:
    keys = tmp_path / "keys"
    generated = cli("keys", "generate", "--out", str(keys))
    kid = re.search(r"key id ([0-9A-F]{16})", generated.stdout).group(1)  # type: ignore[union-attr]
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "supplier.pem").write_bytes((keys / "supplier.pub.pem").read_bytes())
    config_path = write_config(
        tmp_path / "hub", broker, mode="full", extra=f'[trust]\ndir = "{trust}"\n'
    )
    config = load_config(config_path)
    hub = config.hub_id
    url = broker.url
    command = tmp_path / "restrict.json"
    signed = cli(
        "consent", "sign", "--key", str(keys / "supplier.key.pem"), "--hub", hub,
        "--mode", "restricted", "--reason", "consumer opted out", "--out", str(command),
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert f"signer {kid}" in signed.stdout
    body = json.loads(command.read_text())
    assert body["mode"] == "restricted" and body["signer"] == kid
    assert abs(body["counter"] - time.time() * 1000) < 60_000, "counter defaults to ms time"
    assert body["expires_at"] - body["issued_at"] == 3600

    async with recording(broker.host, broker.port, f"test/{hub}/bridge/state") as rec:
        for attempt in ("first", "replay"):
            agent = start_agent(config_path)
            try:
                seen = len(rec.messages)
                await rec.wait_for(
                    lambda m, seen=seen: any(
                        x.json() == {"state": "online"} for x in m[seen:]
                    ),
                    timeout=30,
                )  # fmt: skip
                await asyncio.sleep(0.3)  # the agent subscribes just after saying online
                sent = await asyncio.to_thread(
                    cli, "consent", "send", str(command), "--mqtt-url", url, "--base-topic", "test"
                )
                shown = await asyncio.to_thread(
                    cli, "consent", "show", "--hub", hub, "--mqtt-url", url, "--base-topic", "test"
                )
            finally:
                agent.terminate()
                agent.wait(timeout=15)
            answer = json.loads(sent.stdout)
            record = json.loads(shown.stdout)
            assert record["mode"] == "restricted" and record["set_by"] == kid
            assert record["reason"] == "consumer opted out"
            if attempt == "first":
                assert sent.returncode == 0, sent.stderr
                assert answer["status"] == "ok"
                assert answer["data"]["record"]["counter"] == body["counter"]
            else:
                assert sent.returncode == 1
                assert answer["status"] == "error"
                assert answer["data"] == {"refusal": "replayed"}
                assert f"counter {body['counter']} is not greater" in answer["error"]
            assert re.fullmatch(r"[0-9a-f]{12}", answer["transaction"])
    local = cli("consent", "show", "--state", "--config", str(config_path))
    assert local.returncode == 0
    shown_local = json.loads(local.stdout)
    assert shown_local["record"]["mode"] == "restricted"
    assert shown_local["counters"] == {kid: body["counter"]}
    assert shown_local["trusted_keys"] == [kid]


def test_send_without_a_hub_answers_exits_75(tmp_path: Path, broker: Broker) -> None:
    command = tmp_path / "c.json"
    key = tmp_path / "k"
    cli("keys", "generate", "--out", str(key))
    cli("consent", "sign", "--key", str(key / "supplier.key.pem"), "--hub", "00DB1234567890EE",
        "--mode", "full", "--out", str(command))  # fmt: skip
    sent = cli("consent", "send", str(command), "--mqtt-url", broker.url, "--timeout", "0.5")
    assert sent.returncode == 75
    assert "no answer on gbcs-hub/00DB1234567890EE/bridge/response/consent" in sent.stderr


def test_send_refuses_a_malformed_file_before_publishing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"command": "consent", "mode": "full"}')
    sent = cli("consent", "send", str(bad), "--mqtt-url", "mqtt://127.0.0.1:1")
    assert sent.returncode == 1 and "missing field(s)" in sent.stderr
