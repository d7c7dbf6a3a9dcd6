"""The client commands' broker options (agent/broker_client.py) through the real CLI against real
mosquittos: the hub's own config (TLS with a required client certificate, a password), the
HAN_AGENT_MQTT_* environment, the flags, their precedence, and one-line errors."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import aiomqtt
import pytest
from conftest import ROOT, Broker, cli, start_mosquitto, stop_process, write_config
from test_delivery import tls_broker
from tls_helpers import Pki, world_readable_dir

from agent import hub_key, signed_answer
from agent.broker_client import DEFAULT_URL, broker_from_args
from agent.cli import build_parser
from agent.config import ConfigError, load_config
from gbcs import signature

RECORD = {"mode": "full", "set_by": "43BF61563D227CA6", "reason": "broker-client test"}
HUB_KEY = signature.generate_key()


async def retain_record(port: int, topic: str, pki: Pki | None = None, **login: str) -> None:
    tls = None
    if pki is not None:
        tls = ssl.create_default_context(cafile=str(pki.ca))
        tls.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    async with aiomqtt.Client("127.0.0.1", port, tls_context=tls, **login) as client:  # type: ignore[arg-type]
        # As a hub publishes them: the record signed by its key, the key in bridge/info.
        await client.publish(topic, signed_answer.sign(HUB_KEY, RECORD), qos=1, retain=True)
        info = {"hub_key": {"public_key_pem": hub_key.public_pem(HUB_KEY)}}
        base = topic.removesuffix("/consent")
        await client.publish(f"{base}/bridge/info", json.dumps(info), qos=1, retain=True)


def shown(stdout: str) -> dict[str, object]:
    """The record `consent show` printed, less the hub's signature."""
    record = json.loads(stdout)
    assert "signed" in record
    return {k: v for k, v in record.items() if k != "signed"}


def tls_config(tmp_path: Path, broker: Broker, pki: Pki, *, cert: bool = True) -> Path:
    files = f'ca = "{pki.ca}"\n'
    if cert:
        files += f'cert = "{pki.client_cert}"\nkey = "{pki.client_key}"\n'
    return write_config(
        tmp_path / ("hub" if cert else "hub-without-cert"),
        None,
        hub_id="00DB1234567890C1",
        mqtt_url=f"mqtts://127.0.0.1:{broker.port}",
        mqtt_extra=files,
    )


async def test_consent_show_with_the_hubs_config_on_a_mutual_tls_broker(tmp_path: Path) -> None:
    broker, pki = tls_broker(tmp_path)
    try:
        await retain_record(broker.port, "test/00DB1234567890C1/consent", pki)
        config = tls_config(tmp_path, broker, pki)
        out = await asyncio.to_thread(cli, "consent", "show", "--config", str(config))
        assert out.returncode == 0, out.stderr
        assert shown(out.stdout) == RECORD  # hub id and base topic from the config too

        # The same with flags, and with the environment, and no config at all.
        common = ["--hub", "00DB1234567890C1", "--base-topic", "test"]
        url = f"mqtts://127.0.0.1:{broker.port}"
        flags = await asyncio.to_thread(
            cli, "consent", "show", *common, "--mqtt-url", url, "--cafile", str(pki.ca),
            "--cert", str(pki.client_cert), "--key", str(pki.client_key),
        )  # fmt: skip
        assert flags.returncode == 0, flags.stderr
        env = {
            "HAN_AGENT_MQTT_URL": url,
            "HAN_AGENT_MQTT_CAFILE": str(pki.ca),
            "HAN_AGENT_MQTT_CERT": str(pki.client_cert),
            "HAN_AGENT_MQTT_KEY": str(pki.client_key),
        }
        from_env = await asyncio.to_thread(cli, "consent", "show", *common, env=env)
        assert from_env.returncode == 0, from_env.stderr
        assert shown(flags.stdout) == shown(from_env.stdout) == RECORD

        # Without the client certificate the broker refuses: one line, exit 75, and it says so.
        bare = tls_config(tmp_path, broker, pki, cert=False)
        refused = await asyncio.to_thread(cli, "consent", "show", "--config", str(bare))
        assert refused.returncode == 75
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith(f"consent show: broker mqtts://127.0.0.1:{broker.port}: ")
        assert "certificate required" in line and "--cert/--key" in line
        assert refused.stdout == ""
    finally:
        stop_process(broker.pid, broker.process)
        shutil.rmtree(pki.ca.parent.parent, ignore_errors=True)


async def test_password_from_the_environment_or_the_config(tmp_path: Path) -> None:
    passwords = world_readable_dir("han-agent-passwords-") / "passwords"
    made = await asyncio.to_thread(
        subprocess.run, ["mosquitto_passwd", "-b", "-c", str(passwords), "wan", "s3cret"]
    )
    assert made.returncode == 0
    passwords.chmod(0o644)
    broker = start_mosquitto(
        tmp_path / "broker", listener=f"allow_anonymous false\npassword_file {passwords}\n"
    )
    try:
        await retain_record(
            broker.port, "gbcs-hub/00DB1234567890C2/consent", username="wan", password="s3cret"
        )
        show = ["consent", "show", "--hub", "00DB1234567890C2", "--username", "wan"]
        env = {"HAN_AGENT_MQTT_URL": broker.url, "HAN_AGENT_MQTT_PASSWORD": "s3cret"}
        ok = await asyncio.to_thread(cli, *show, env=env)
        assert ok.returncode == 0, ok.stderr
        assert shown(ok.stdout) == RECORD

        config = write_config(
            tmp_path / "hub", broker, hub_id="00DB1234567890C2",
            mqtt_extra='username = "wan"\npassword = "s3cret"\n',
        )  # fmt: skip
        text = config.read_text().replace('base_topic = "test"', 'base_topic = "gbcs-hub"')
        config.write_text(text)
        from_config = await asyncio.to_thread(cli, "consent", "show", "--config", str(config))
        assert from_config.returncode == 0, from_config.stderr

        # The environment's password beats the config's: a wrong one is refused.
        wrong = await asyncio.to_thread(
            cli, "consent", "show", "--config", str(config),
            env={"HAN_AGENT_MQTT_PASSWORD": "wrong"},
        )  # fmt: skip
        assert wrong.returncode == 75
        [line] = wrong.stderr.strip().splitlines()
        assert line.startswith(f"consent show: broker {broker.url}: ")
        assert "s3cret" not in line and "wrong" not in line
    finally:
        stop_process(broker.pid, broker.process)
        shutil.rmtree(passwords.parent, ignore_errors=True)


def parse(*argv: str) -> object:
    return build_parser("consent").parse_args(["consent", "show", *argv])


def test_precedence_flags_then_environment_then_config_then_default(tmp_path: Path) -> None:
    config = write_config(tmp_path, None, hub_id="00DB1234567890C3")  # mqtt://127.0.0.1:1
    env = {"HAN_AGENT_MQTT_URL": "mqtt://127.0.0.1:2", "HAN_AGENT_MQTT_USERNAME": "env"}

    default = broker_from_args(parse(), {})  # type: ignore[arg-type]
    assert default.where == DEFAULT_URL and default.settings.base_topic == "gbcs-hub"
    assert default.hub_id is None

    configured = broker_from_args(parse("--config", str(config)), {})  # type: ignore[arg-type]
    assert configured.where == "mqtt://127.0.0.1:1" and configured.settings.base_topic == "test"
    assert configured.hub_id == "00DB1234567890C3"

    environment = broker_from_args(parse("--config", str(config)), env)  # type: ignore[arg-type]
    assert environment.where == "mqtt://127.0.0.1:2" and environment.settings.username == "env"
    assert environment.settings.base_topic == "test"  # what the environment leaves: the config's

    flags = parse("--config", str(config), "--mqtt-url", "mqtt://flag:pw@127.0.0.1:3")
    flagged = broker_from_args(flags, env)  # type: ignore[arg-type]
    assert flagged.where == "mqtt://127.0.0.1:3"
    assert (flagged.settings.username, flagged.settings.password) == ("flag", "pw")


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (
            ["--hub", "00DB1234567890C4", "--cafile", "ca.pem"],
            {},
            "config error: (command line): --cafile: set only with an mqtts:// url",
        ),
        (
            ["--hub", "00DB1234567890C4"],
            {"HAN_AGENT_MQTT_URL": "http://x"},
            "config error: (environment): HAN_AGENT_MQTT_URL: "
            "expected a URL like mqtt://HOST:PORT or mqtts://HOST:PORT, got 'http://x'",
        ),
        (
            ["--hub", "00DB1234567890C4", "--mqtt-url", "mqtts://127.0.0.1:8883", "--cert", "c"],
            {},
            f"config error: (command line): --cert: an existing file, got '{ROOT / 'c'}'",
        ),
        (
            [],
            {},
            "config error: (command line): --hub: "
            "the hub id for consent show (or --config, the hub's config)",
        ),
    ],
)
def test_a_bad_broker_option_is_one_line_naming_it(
    argv: list[str], env: dict[str, str], line: str
) -> None:
    result = cli("consent", "show", *argv, env=env)
    assert result.returncode == 78
    assert result.stderr.strip() == line


def test_no_broker_is_one_line_exit_75() -> None:
    result = cli("consent", "show", "--hub", "00DB1234567890C4", "--mqtt-url", "mqtt://127.0.0.1:1")
    assert result.returncode == 75
    assert result.stderr.strip() == (
        "consent show: broker mqtt://127.0.0.1:1: [Errno 111] Connection refused"
    )


def test_device_log_and_firmware_take_broker_and_hub_from_the_config(
    tmp_path: Path, broker: Broker
) -> None:
    config = write_config(tmp_path / "hub", broker, hub_id="00DB1234567890C5")
    assert load_config(config).mqtt.port == broker.port
    removed = cli(
        "device-log", "remove", "--config", str(config), "--eui64", "00DB1234567890B7",
        "--timeout", "0.5",
    )  # fmt: skip
    assert removed.returncode == 75
    assert removed.stderr.strip() == (
        "device-log: no answer on test/00DB1234567890C5/down/result within 0.5 s"
    )
    image = tmp_path / "meter.ota"
    built = cli(
        "firmware", "build", "--key", str(ROOT / "config/lab/TEST-ONLY-lab-supplier.key.pem"),
        "--image", str(ROOT / "README.md"), "--out", str(image),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    sent = cli(
        "firmware", "send", str(image), "--targets", "00DB1234567890A0", "--config", str(config),
        "--timeout", "0.5",
    )  # fmt: skip
    assert sent.returncode == 75
    assert sent.stderr.strip() == (
        "firmware send: no answer on test/00DB1234567890C5/bridge/response/firmware in 0.5 s"
    )


def test_a_missing_config_is_one_line() -> None:
    with pytest.raises(ConfigError):
        broker_from_args(parse("--config", "/nonexistent/hub.toml"), {})  # type: ignore[arg-type]
    result = cli("device-log", "remove", "--config", "/nonexistent/hub.toml", "--eui64", "00" * 8)
    assert result.returncode == 78
    assert result.stderr.strip() == "config error: /nonexistent/hub.toml: (file): file not found"
