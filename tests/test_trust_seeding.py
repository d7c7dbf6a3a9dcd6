"""Supplier keys put in `[trust] dir` after the first start: taken in while the store is empty.

A hub installed and started before its supplier key was in place has an empty trust store on
disk. While it is empty, each start takes the directory's keys in, as the first start would have;
once it holds a key, the directory is ignored and only a signed trust command changes the store.
Real keys, the real consent store and service on a tmp state dir, a real hub over a real broker,
and install.sh staged into a DESTDIR.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from conftest import Broker, write_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mqtt_helpers import recording
from test_consent_mqtt import ask
from test_e2e import running_hub

from agent.config import Config, load_config
from agent.consent import Mode, ProfileRef
from agent.consent_command import sign_consent
from agent.consent_service import ConsentService, open_consent
from agent.hub import load_profile
from gbcs import signature

TRUST = '[trust]\ndir = "trust"\n'  # relative to the config file, as in the installed template


def put_key(trust_dir: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A fresh supplier key pair; its public half written to `trust_dir/name.pub.pem`."""
    key = signature.generate_key()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust_dir.mkdir(parents=True, exist_ok=True)
    (trust_dir / f"{name}.pub.pem").write_bytes(pem)
    return key, signature.key_id(key.public_key())


def command(hub_id: str, key: ec.EllipticCurvePrivateKey, mode: Mode, counter: int) -> Any:
    now = int(time.time())
    return sign_consent(
        key, hub_id=hub_id, mode=mode, reason=f"test {counter}", counter=counter,
        issued_at=now - 5, expires_at=now + 600,
    ).to_dict()  # fmt: skip


def start(config: Config) -> ConsentService:
    """What the hub does at start (agent/hub.py): the profile, then open_consent."""
    profile = load_profile(config)
    return open_consent(config, ProfileRef(profile.name, profile.version, profile.digest))


async def send(service: ConsentService, body: dict[str, Any]) -> Any:
    return (await service.handle(json.dumps(body).encode())).body


def on_disk(config: Config) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((config.state_dir / "consent.json").read_text())
    return data


async def test_a_key_added_after_the_first_start_is_taken_in_while_the_store_is_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(write_config(tmp_path, None, mode="restricted", extra=TRUST))
    trust_dir = config.trust_dir
    trust_dir.mkdir()
    caplog.set_level(logging.INFO)

    # First start, the trust directory still empty: an empty store is persisted.
    first = start(config)
    assert dict(first.state.trust) == {}
    assert on_disk(config)["trust"] == {}
    assert "the trust store is empty: no consent command or firmware image" in caplog.text

    # The supplier key is put in place; the next start takes it in and saves it.
    key1, kid1 = put_key(trust_dir, "supplier")
    caplog.clear()
    second = start(config)
    assert list(second.state.trust) == [kid1]
    saved = on_disk(config)
    assert list(saved["trust"]) == [kid1]
    assert saved["record"]["mode"] == "restricted" and saved["record"]["set_by"] == "config"
    seeded = [r for r in caplog.records if r.name == "agent.consent_store"]
    assert [(r.levelno, r.getMessage()) for r in seeded] == [
        (
            logging.WARNING,
            f"the trust store was empty: took in 1 key(s) from {trust_dir} ({kid1}), as on a "
            "first start; from now on only a signed trust command changes it",
        )
    ]
    assert "the trust store is empty" not in caplog.text

    # A command signed with it is accepted.
    answer = await send(second, command(config.hub_id, key1, Mode.FULL, 10))
    assert answer["status"] == "ok", answer
    assert second.record.mode is Mode.FULL and second.record.set_by == kid1

    # A second key put in the directory is not taken in: the store is no longer empty.
    key2, kid2 = put_key(trust_dir, "intruder")
    caplog.clear()
    third = start(config)
    assert list(third.state.trust) == [kid1]
    assert list(on_disk(config)["trust"]) == [kid1]
    assert third.record.mode is Mode.FULL and dict(third.state.counters) == {kid1: 10}
    assert f"trust directory has key(s) {kid2} that the trust store does not: ignored" in (
        caplog.text
    )
    assert "took in" not in caplog.text
    refused = await send(third, command(config.hub_id, key2, Mode.RESTRICTED, 11))
    assert refused["status"] == "error" and refused["data"] == {"refusal": "unknown_key"}
    assert third.record.mode is Mode.FULL


def test_a_start_with_the_store_empty_and_the_directory_empty_changes_nothing(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, None, mode="restricted", extra=TRUST))
    start(config)
    before = (config.state_dir / "consent.json").read_bytes()
    config.trust_dir.mkdir()
    again = start(config)
    assert dict(again.state.trust) == {}
    assert (config.state_dir / "consent.json").read_bytes() == before


async def test_end_to_end_a_hub_started_before_its_key_was_in_place(
    tmp_path: Path, broker: Broker
) -> None:
    """The installed template's case, over MQTT into a running hub: restricted at first start
    with no key, the key put in the directory, a restart, a signed command to full accepted."""
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=TRUST))
    hub_id, base = config.hub_id, f"test/{config.hub_id}"
    config.trust_dir.mkdir()
    key1 = signature.generate_key()

    async def one_start(body: dict[str, Any], tx: str) -> tuple[Any, Mode, list[str]]:
        async with (
            recording(broker.host, broker.port, f"{base}/#") as rec,
            running_hub(config) as (hub, _lab),
            aiomqtt.Client(broker.host, broker.port) as wan,
        ):
            answer = await ask(wan, rec, base, body, tx)
            return answer, hub.consent.mode, sorted(hub.consent_service.state.trust)

    answer, mode, trusted = await one_start(command(hub_id, key1, Mode.FULL, 1), "before")
    assert answer["data"] == {"refusal": "unknown_key"} and mode is Mode.RESTRICTED
    assert trusted == []

    pem = key1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (config.trust_dir / "supplier.pub.pem").write_bytes(pem)
    kid1 = signature.key_id(key1.public_key())
    answer, mode, trusted = await one_start(command(hub_id, key1, Mode.FULL, 2), "after")
    assert answer["status"] == "ok", answer
    assert mode is Mode.FULL and trusted == [kid1]

    key2, kid2 = put_key(config.trust_dir, "second")
    answer, mode, trusted = await one_start(command(hub_id, key2, Mode.RESTRICTED, 3), "second")
    assert answer["data"] == {"refusal": "unknown_key"}, "the store held a key: dir ignored"
    assert mode is Mode.FULL and trusted == [kid1] and kid2 not in on_disk(config)["trust"]
