"""Answers the CLI can trust, against a real hub and a spoofer on the same real mosquitto.

Anyone with publish rights on the broker could answer `consent send` before the hub, or leave
a retained `consent` record of their own; and a second client with the hub's client id takes
its session over and over. Here the hub signs its answers and record, the CLI checks them and
says UNVERIFIED for anything else, the hub says its retained topics again when someone changes
them, and a takeover is one clear error line and a count in health.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, cli, write_config
from mqtt_helpers import recording
from test_consent_mqtt import TRUST_LAB, signed
from test_e2e import running_hub

from agent import hub_key as hub_keys
from agent import signed_answer
from agent.config import load_config
from agent.consent import Mode
from gbcs import signature


@contextlib.asynccontextmanager
async def spoofer(broker: Broker, base: str, answer: dict[str, object]) -> AsyncIterator[None]:
    """Answers every consent request at once with `answer` and the request's transaction."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"{base}/bridge/request/consent", qos=1)

        async def answer_all() -> None:
            async for message in client.messages:
                request = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                fake = {**answer, "transaction": request.get("transaction")}
                await client.publish(f"{base}/bridge/response/consent", json.dumps(fake), qos=1)

        task = asyncio.create_task(answer_all())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_consent_send_takes_the_hubs_signed_answer_not_a_spoofed_one(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    stranger = tmp_path / "stranger.json"
    command = signed(config.hub_id, Mode.RESTRICTED, 9, key=signature.generate_key())
    stranger.write_text(json.dumps(command))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(signed(config.hub_id, Mode.RESTRICTED, 10)))
    where = ["--mqtt-url", broker.url, "--base-topic", "test"]
    async with running_hub(config) as (hub, _lab):
        async with spoofer(broker, base, {"status": "ok", "data": {"summary": "spoofed"}}):
            refused = await asyncio.to_thread(cli, "consent", "send", str(stranger), *where)
        async with spoofer(broker, base, {"status": "error", "error": "spoofed"}):
            accepted = await asyncio.to_thread(cli, "consent", "send", str(good), *where)
        assert hub.consent.mode is Mode.RESTRICTED

    # The hub refused the stranger's command: the CLI says so, whatever the spoofer claimed.
    assert refused.returncode == 1, refused.stderr
    assert json.loads(refused.stdout)["data"] == {"refusal": "unknown_key"}
    assert "answer signed by the hub" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["status"] == "ok"
    assert "not pinned" in accepted.stderr  # the key came from bridge/info


async def test_only_a_spoofer_answering_is_unverified_and_exit_1(
    tmp_path: Path, broker: Broker
) -> None:
    # No hub at all: the spoofer's answer is all there is, and the key it would need is absent.
    base = "test/00DB1234567890D1"
    request = tmp_path / "c.json"
    request.write_text(json.dumps(signed("00DB1234567890D1", Mode.FULL, 1)))
    async with spoofer(broker, base, {"status": "ok", "data": {}}):
        out = await asyncio.to_thread(
            cli, "consent", "send", str(request), "--mqtt-url", broker.url,
            "--base-topic", "test", "--timeout", "2",
        )  # fmt: skip
    assert out.returncode == 1
    assert "UNVERIFIED" in out.stderr and "do not rely on it" in out.stderr


async def test_a_spoofed_retained_record_is_replaced_by_the_hub_and_unverified_without_it(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    where = ["--hub", config.hub_id, "--mqtt-url", broker.url, "--base-topic", "test"]
    fake = json.dumps({"mode": "full", "reason": "spoofed"}).encode()
    async with (
        recording(broker.host, broker.port, f"{base}/consent") as rec,
        running_hub(config) as (hub, _lab),
        aiomqtt.Client(broker.host, broker.port) as attacker,
    ):
        await attacker.publish(f"{base}/consent", fake, qos=1, retain=True)
        # The hub sees it changed and says its own record again.
        await rec.wait_for(
            lambda m: len(m) >= 2 and m[-1].payload != fake and "signed" in m[-1].json(), 10
        )
        shown = await asyncio.to_thread(cli, "consent", "show", *where)
        assert hub.uplink.reasserted["consent"] == 1
        key = hub.hub_key
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["mode"] == "restricted"
    assert signed_answer.verify(key.public_key(), json.loads(shown.stdout)) is None

    # The hub is gone; the spoofed record stays on the broker. show says it cannot be trusted,
    # also with the hub's key pinned.
    async with aiomqtt.Client(broker.host, broker.port) as attacker:
        await attacker.publish(f"{base}/consent", fake, qos=1, retain=True)
    pinned = tmp_path / "hub.pub.pem"
    pinned.write_text(hub_keys.public_pem(key))
    for extra in ([], ["--hub-key", str(pinned)]):
        out = await asyncio.to_thread(cli, "consent", "show", *where, "--timeout", "1", *extra)
        assert out.returncode == 1, out.stderr
        assert "UNVERIFIED (not signed" in out.stderr
        assert json.loads(out.stdout)["reason"] == "spoofed"


async def test_a_takeover_of_the_hubs_client_id_is_said_once_and_counted(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(write_config(tmp_path, broker, mqtt_extra='client_id = "dup-hub"\n'))
    caplog.set_level(logging.INFO)
    async with running_hub(config) as (hub, _lab):
        # Another hub on the same id, as a second process reconnecting would: each connection
        # takes the session over, and each of the hub's reconnects takes it back.
        # A takeover while the hub still says its retained topics can cost it aiomqtt's 10 s
        # publish timeout before it sees the session gone: allow a few of those.
        async with asyncio.timeout(45):
            while hub.uplink.takeovers == 0:
                with contextlib.suppress(aiomqtt.MqttError):
                    async with aiomqtt.Client(broker.host, broker.port, identifier="dup-hub"):
                        await asyncio.sleep(0.5)
                await asyncio.sleep(0.2)
        mqtt = hub.health_snapshot()["mqtt"]
        assert mqtt["takeovers"] == hub.uplink.takeovers >= 1
    lines = [r.getMessage() for r in caplog.records if "took over its session" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "'dup-hub'" in lines[0] and "same [mqtt] client_id or hub_id" in lines[0]
