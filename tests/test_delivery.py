"""Nothing accepted is lost: the outbox and uplink against a real mosquitto that is killed,
restarted, unreachable or demanding client certificates, and an agent killed mid-burst.

Counts are options: HAN_BURST_ALERTS (default 5000) and HAN_KILL_LOOPS (default 3 here; the
full run, `make delivery-full`, uses 20).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, free_port, start_mosquitto, stop_process, write_config
from mqtt_helpers import recording
from test_e2e import _agent, running_hub
from tls_helpers import Pki, make_ca, make_pki, world_readable_dir

from agent.config import Config, ConfigError, load_config
from agent.lab import LabCommand
from agent.outbox import priority_of
from gbcs.frame import parse_frame

BURST = int(os.environ.get("HAN_BURST_ALERTS", "5000"))
KILL_LOOPS = int(os.environ.get("HAN_KILL_LOOPS", "3"))


def envelope_id(raw: bytes) -> str:
    frame = parse_frame(raw)
    return (
        f"{frame.originator.hex().upper()}-{frame.recipient.hex().upper()}"
        f"-{int(frame.cra)}-{frame.counter}"
    )


class PersistentSubscriber:
    """A WAN consumer with a persistent session that reconnects whenever its broker comes back,
    and de-duplicates by id as docs/mqtt.md tells consumers to."""

    def __init__(self, port: int, topic: str) -> None:
        self.port = port
        self.topic = topic
        self.frames: dict[str, bytes] = {}
        self.deliveries = 0
        self.conflicts: list[str] = []
        self.errors: list[str] = []
        self.subscribed = asyncio.Event()
        self.changed = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier="persistent-wan-consumer",
                    clean_session=False,
                    protocol=aiomqtt.ProtocolVersion.V311,
                    keepalive=5,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        env = json.loads(message.payload)
                        raw = base64.b64decode(env["frame"])
                        if env["id"] in self.frames and self.frames[env["id"]] != raw:
                            self.conflicts.append(env["id"])
                        self.frames[env["id"]] = raw
                        self.deliveries += 1
                        self.changed.set()
            except Exception as exc:  # a robust consumer reconnects whatever broke
                self.errors.append(repr(exc))
                self.subscribed.clear()
                await asyncio.sleep(0.05)

    async def wait_for(self, ids: set[str], timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not ids <= self.frames.keys():
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def subscriber(port: int, topic: str):  # type: ignore[no-untyped-def]
    sub = PersistentSubscriber(port, topic)
    task = asyncio.create_task(sub.run())
    try:
        async with asyncio.timeout(10):
            await sub.subscribed.wait()
        yield sub
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_burst_survives_three_broker_kills(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "broker", persistent=True)
    config = load_config(write_config(tmp_path / "hub", broker, mode="full"))
    kills = {BURST // 4, BURST // 2, 3 * BURST // 4}
    sent: set[str] = set()
    try:
        async with (
            subscriber(broker.port, f"test/{config.hub_id}/up/#") as sub,
            running_hub(config) as (hub, lab),
        ):
            for i in range(BURST):
                critical = i % 2 == 0
                frame = lab.esme.raise_alert(0x8F3E if critical else 0x8010, critical=critical)
                sent.add(envelope_id(frame))
                if i % 25 == 0:
                    await asyncio.sleep(0.01)  # about 2,000 alerts a second: a busy HAN
                if i in kills:
                    # Kill the broker once it holds nothing undelivered: mosquitto loses what
                    # it had acknowledged but not yet saved or delivered (measured: 2 of 5,000
                    # with autosave on every change), and that loss is the broker's, not the
                    # hub's. The meter's burst then goes on into the outage.
                    await sub.wait_for(set(sent), timeout=120)
                    os.kill(broker.pid, signal.SIGKILL)
                    broker.process.wait(timeout=5)
                    await asyncio.sleep(0.3)
                    broker = start_mosquitto(tmp_path / "broker", broker.port, persistent=True)
            await sub.wait_for(sent, timeout=240)
            assert hub.uplink.reconnects >= 3
    finally:
        stop_process(broker.pid, broker.process)
    assert len(sent) == BURST
    assert sent <= sub.frames.keys(), f"lost: {len(sent - sub.frames.keys())}"
    assert sub.conflicts == [], "a duplicate must carry the same id and the same bytes"
    assert sub.deliveries >= BURST


def _outbox_ids(state: Path) -> set[str]:
    """The upstream frames the killed agent had committed and not yet had acknowledged, read
    from its file (command results on down/result are committed too; the consumer here reads
    up/# only)."""
    with contextlib.closing(sqlite3.connect(state / "outbox.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {
            row[0] for row in db.execute("SELECT dedup_id FROM outbox WHERE topic LIKE '%/up/%'")
        }


async def test_agent_killed_mid_burst_loses_nothing_it_committed(
    tmp_path: Path, broker: Broker
) -> None:
    config_path = write_config(tmp_path, broker, mode="full", lab=True, interval=0.02)
    hub_id = load_config(config_path).hub_id
    committed: set[str] = set()
    rng = random.Random(5)
    async with subscriber(broker.port, f"test/{hub_id}/up/#") as sub:
        for _ in range(KILL_LOOPS):
            agent = _agent(config_path)
            try:
                before = sub.deliveries
                async with asyncio.timeout(60):
                    while sub.deliveries < before + 20:  # running and publishing
                        sub.changed.clear()
                        await sub.changed.wait()
                await asyncio.sleep(rng.uniform(0.0, 1.5))
            finally:
                agent.send_signal(signal.SIGKILL)
                agent.wait(timeout=10)
            committed |= _outbox_ids(tmp_path / "state")
        agent = _agent(config_path)
        try:
            before = sub.deliveries
            async with asyncio.timeout(60):
                while sub.deliveries < before + 20:  # up and publishing (signals handled)
                    sub.changed.clear()
                    await sub.changed.wait()
            try:
                await sub.wait_for(committed, timeout=60)
            except TimeoutError:
                missing = committed - sub.frames.keys()
                raise AssertionError(
                    f"{len(missing)} committed frames never arrived, e.g. {sorted(missing)[:3]}; "
                    f"still in the outbox: {len(missing & _outbox_ids(tmp_path / 'state'))}"
                ) from None
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
    assert committed <= sub.frames.keys()
    assert sub.conflicts == []
    assert agent.returncode == 0


async def test_full_outbox_drops_lowest_priority_first_and_says_so(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet: the WAN is down
    config = load_config(
        write_config(
            tmp_path / "hub",
            None,
            mode="full",
            mqtt_url=f"mqtt://127.0.0.1:{port}",
            extra="[outbox]\nmax_bytes = 65536",
        )
    )
    reads: list[str] = []
    async with running_hub_offline(config) as (hub, lab):
        for _ in range(30):
            lab.esme.raise_alert(0x8F35, message_code=0x0067)  # safety, priority 3
            lab.esme.raise_alert(0x8010, critical=False)  # power quality, priority 1
        for _ in range(80):
            await lab.send_command(LabCommand(0x0027, critical=False))  # read, priority 0
            reads.append(envelope_id(lab.esme.sent[-1]))
        await asyncio.sleep(0.2)
        await hub.outbox.flush()
        stats = hub.health_snapshot()["outbox"]
        assert stats["bytes"] <= 65536
        assert set(stats["dropped"]) == {"p0_full"}, stats["dropped"]
        dropped = stats["dropped"]["p0_full"]
        assert 0 < dropped < 80
        broker = start_mosquitto(tmp_path / "broker", port)
        try:
            async with recording(broker.host, port, f"test/{config.hub_id}/#") as rec:
                await rec.wait_for(
                    lambda m: len([x for x in m if "/up/" in x.topic]) >= 60 + 80 - dropped,
                    timeout=30,
                )
                await asyncio.sleep(0.3)
        finally:
            stop_process(broker.pid, broker.process)
    up = [m.json() for m in rec.messages if "/up/" in m.topic]
    by_category = {c: [e for e in up if e["category"] == c] for c in ("safety", "alert", "read")}
    assert len(by_category["safety"]) == 30 and len(by_category["alert"]) == 30
    # The oldest reads went; the newest stayed, in order.
    assert [e["id"] for e in by_category["read"]] == reads[dropped:]
    assert priority_of("read") < priority_of("alert") < priority_of("safety")


@contextlib.asynccontextmanager
async def running_hub_offline(config):  # type: ignore[no-untyped-def]
    """A hub whose broker is not there: the lab still runs, the outbox fills."""
    from agent.hub import Hub
    from agent.lab import Lab

    hub = Hub(config)
    lab = Lab(hub, config.lab)
    await hub.start()
    try:
        await lab.start(traffic=False, join_timeout=20)
        yield hub, lab
    finally:
        await lab.stop()
        await hub.stop()


def tls_broker(tmp_path: Path) -> tuple[Broker, Pki]:
    """A mosquitto that requires client certificates, and the PKI it trusts."""
    pki = make_pki(world_readable_dir("han-agent-pki-") / "pki")
    listener = (
        f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        "require_certificate true\n"
    )
    return start_mosquitto(tmp_path / "broker", listener=listener), pki


def tls_hub_config(tmp_path: Path, broker: Broker, tls: str) -> Config:
    return load_config(
        write_config(
            tmp_path / "hub",
            None,
            mode="full",
            mqtt_url=f"mqtts://127.0.0.1:{broker.port}",
            mqtt_extra=tls,
        )
    )


def tls_broker_and_hub(tmp_path: Path, *, wrong_ca: bool = False) -> tuple[Broker, Config]:
    """A TLS broker and a hub config that presents a client certificate; with `wrong_ca` the
    hub trusts another CA than the one that signed the broker's certificate."""
    broker, pki = tls_broker(tmp_path)
    ca = make_ca(pki.ca.parent, "another-ca")[0] if wrong_ca else pki.ca
    tls = f'ca = "{ca}"\ncert = "{pki.client_cert}"\nkey = "{pki.client_key}"'
    return broker, tls_hub_config(tmp_path, broker, tls)


async def assert_an_alert_is_delivered(config: Config) -> None:
    async with running_hub(config) as (hub, lab):
        lab.esme.raise_alert(0x8F3E, critical=True)
        async with asyncio.timeout(10):
            # committed, published over TLS, acknowledged by the broker, deleted
            while not (hub.outbox.committed >= 1 and hub.outbox.count == 0):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert hub.uplink.published >= 1 and hub.uplink.last_error is None


async def test_tls_with_client_certificate(tmp_path: Path) -> None:
    broker, config = tls_broker_and_hub(tmp_path)
    try:
        await assert_an_alert_is_delivered(config)
    finally:
        stop_process(broker.pid, broker.process)


async def test_tls_refused_with_the_wrong_ca(tmp_path: Path) -> None:
    broker, config = tls_broker_and_hub(tmp_path, wrong_ca=True)
    try:
        async with running_hub_offline(config) as (hub, _lab):
            async with asyncio.timeout(10):
                while hub.uplink.last_error is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert not hub.uplink.connected.is_set()
            assert "CERTIFICATE_VERIFY_FAILED" in hub.uplink.last_error
    finally:
        stop_process(broker.pid, broker.process)


async def test_tls_files_as_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`credential:ID` reads the file from $CREDENTIALS_DIRECTORY, as systemd's LoadCredential=
    lays it out (0400, the service's own): the hub connects over TLS with a key from there."""
    broker, pki = tls_broker(tmp_path)
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o500)
    files = {"mqtt-ca": pki.ca, "mqtt-cert": pki.client_cert, "mqtt-key": pki.client_key}
    for name, source in files.items():
        (credentials / name).write_bytes(source.read_bytes())
        (credentials / name).chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    tls = 'ca = "credential:mqtt-ca"\ncert = "credential:mqtt-cert"\nkey = "credential:mqtt-key"'
    try:
        config = tls_hub_config(tmp_path, broker, tls)
        assert config.mqtt.key == credentials / "mqtt-key"
        await assert_an_alert_is_delivered(config)
    finally:
        stop_process(broker.pid, broker.process)


async def test_mqtt_password_and_network_key_as_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker that wants a password: the hub reads it from $CREDENTIALS_DIRECTORY, so no
    secret sits in the config file; a wrong one is refused by the broker, not by the hub."""
    # mosquitto reads its password file as its own user: a world-readable place, not tmp_path.
    passwords = world_readable_dir("han-agent-passwords-") / "passwords"
    made = await asyncio.to_thread(
        subprocess.run, ["mosquitto_passwd", "-b", "-c", str(passwords), "hub", "s3cret"]
    )
    assert made.returncode == 0
    passwords.chmod(0o644)
    broker = start_mosquitto(
        tmp_path / "broker", listener=f"allow_anonymous false\npassword_file {passwords}\n"
    )
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "mqtt-password").write_text("s3cret\n")
    (credentials / "network-key").write_text("00112233445566778899AABBCCDDEEFF\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    extra = 'username = "hub"\npassword = "credential:mqtt-password"\n'
    try:
        path = write_config(tmp_path / "hub", broker, mode="full", mqtt_extra=extra)
        with_key = '[radio]\nnetwork_key = "credential:network-key"\n'
        path.write_text(path.read_text().replace("[radio]\n", with_key, 1))
        config = load_config(path)
        assert config.mqtt.password == "s3cret"
        assert config.radio.network_key == "00112233445566778899AABBCCDDEEFF"
        await assert_an_alert_is_delivered(config)

        (credentials / "mqtt-password").write_text("wrong\n")
        async with running_hub_offline(load_config(path)) as (hub, _lab):
            async with asyncio.timeout(10):
                while hub.uplink.last_error is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert not hub.uplink.connected.is_set()
    finally:
        stop_process(broker.pid, broker.process)
        shutil.rmtree(passwords.parent, ignore_errors=True)


def test_a_credential_secret_is_checked_once_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "network-key").write_text("not a key\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    path = write_config(tmp_path / "hub", None)
    text = path.read_text().replace(
        "[radio]\n", '[radio]\nnetwork_key = "credential:network-key"\n'
    )
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "[radio] network_key"
    assert err.value.expected == f"32 hex digits in {credentials / 'network-key'}"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "[radio] network_key" and "CREDENTIALS_DIRECTORY is not set" in str(
        err.value
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("credential:mqtt-key", "LoadCredential=mqtt-key:/path/to/file"),
        ("credential:", "credential:ID with a plain ID"),
        ("credential:../etc/shadow", "credential:ID with a plain ID"),
    ],
)
def test_a_credential_the_service_does_not_have_stops_startup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    pki = make_pki(tmp_path / "pki")
    tls = f'ca = "{pki.ca}"\ncert = "{pki.client_cert}"\nkey = "{value}"'
    path = write_config(tmp_path / "hub", None, mqtt_url="mqtts://127.0.0.1:8883", mqtt_extra=tls)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "[mqtt] key" and expected in str(err.value)


def test_client_key_readable_by_others_stops_startup(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    pki.client_key.chmod(0o644)
    tls = f'ca = "{pki.ca}"\ncert = "{pki.client_cert}"\nkey = "{pki.client_key}"'
    path = write_config(tmp_path / "hub", None, mqtt_url="mqtts://127.0.0.1:8883", mqtt_extra=tls)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "[mqtt] key" and "0644" in str(err.value)
