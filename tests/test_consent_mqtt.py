"""Signed consent over a real mosquitto, into a real hub on the virtual radio with real zigpy.

Each refusal arrives on bridge/response/consent with its own reason and the caller's
transaction; an accepted change to restricted is applied to the very next frame of a running
hub; a change of supplier rotates the trust store and keeps the flag.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
from conftest import ROOT, Broker, write_config
from mqtt_helpers import Recorder, recording
from test_e2e import running_hub

from agent import signed_answer
from agent.config import load_config
from agent.consent import Mode
from agent.consent_command import sign_consent, sign_trust
from agent.lab import LabCommand
from gbcs import signature

LAB_KEY = signature.load_private_key(
    (ROOT / "config/lab/TEST-ONLY-lab-supplier.key.pem").read_bytes()
)
LAB_KID = "43BF61563D227CA6"
TRUST_LAB = f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n'


def signed(hub: str, mode: Mode, counter: int, key: Any = LAB_KEY, **kw: Any) -> dict[str, Any]:
    now = int(time.time())
    args: dict[str, Any] = dict(issued_at=now - 5, expires_at=now + 600, reason=f"test {counter}")
    args.update(kw)
    return sign_consent(key, hub_id=hub, mode=mode, counter=counter, **args).to_dict()


async def ask(wan: aiomqtt.Client, rec: Recorder, base: str, body: object, tx: str) -> Any:
    payload = body if isinstance(body, bytes) else json.dumps({**body, "transaction": tx})  # type: ignore[dict-item]
    await wan.publish(f"{base}/bridge/request/consent", payload, qos=1)
    await rec.wait_for(
        lambda _m: any(m.json().get("transaction") == tx for m in rec.on("/response/consent")),
        timeout=10,
    )
    return next(m.json() for m in rec.on("/response/consent") if m.json()["transaction"] == tx)


def unsigned(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer less the hub's signature, which every answer carries."""
    assert "signed" in answer, answer
    return {k: v for k, v in answer.items() if k != "signed"}


def retained_consent(rec: Recorder, base: str) -> list[Any]:
    return [m.json() for m in rec.messages if m.topic == f"{base}/consent"]


async def test_each_refusal_has_its_response_and_audit_line(tmp_path: Path, broker: Broker) -> None:
    site = "[site]\nnetwork_managed = true\n"
    config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB + site))
    hub_id, base = config.hub_id, f"test/{config.hub_id}"
    stranger = signature.generate_key()
    now = int(time.time())
    good = signed(hub_id, Mode.FULL, 5000, reason="consumer asked for full service")
    forged = {**signed(hub_id, Mode.FULL, 6000), "reason": "altered after signing"}
    cases = [
        ("ok", good, None, None),
        ("replay", good, "replayed", "counter 5000 is not greater than 5000"),
        ("other-hub", signed("00DB1234567890FF", Mode.FULL, 6001), "wrong_hub", "for hub"),
        ("stranger", signed(hub_id, Mode.FULL, 6002, key=stranger), "unknown_key", "not in the"),
        ("forged", forged, "bad_signature", "does not verify"),
        ("expired", signed(hub_id, Mode.FULL, 6003, issued_at=now - 99, expires_at=now - 9),
         "expired", "expired at"),
        ("ineligible", signed(hub_id, Mode.RESTRICTED, 6004), "ineligible", "network-managed"),
        ("malformed", {"command": "consent"}, "malformed", "missing field(s)"),
    ]  # fmt: skip
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, _lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        answers = {tx: await ask(wan, rec, base, body, tx) for tx, body, _c, _t in cases}
        await wan.publish(f"{base}/bridge/request/consent", b"not json", qos=1)
        await rec.wait_for(lambda _m: len(rec.on("/response/consent")) >= len(cases) + 1, 10)
        assert hub.consent.mode is Mode.FULL and hub.consent.counter == 5000

    ok = answers["ok"]
    assert ok["status"] == "ok" and ok["transaction"] == "ok"
    assert ok["data"]["record"]["set_by"] == LAB_KID
    assert ok["data"]["record"]["reason"] == "consumer asked for full service"
    for tx, _body, code, text in cases[1:]:
        answer = answers[tx]
        assert answer["status"] == "error", tx
        assert answer["transaction"] == tx
        assert answer["data"] == {"refusal": code}
        assert text in answer["error"], (tx, answer["error"])
    no_tx = [m.json() for m in rec.on("/response/consent") if "transaction" not in m.json()]
    assert [unsigned(a) for a in no_tx] == [
        {"status": "error", "data": {"refusal": "malformed"}, "error": "request is not JSON"}
    ]
    # Every answer is signed by the hub's key (the one bridge/info publishes), and a changed
    # answer no longer verifies.
    hub_public = hub.hub_key.public_key()
    for message in rec.on("/response/consent"):
        assert signed_answer.verify(hub_public, message.json()) is None
    altered = {**answers["replay"], "status": "ok"}
    assert signed_answer.verify(hub_public, altered) == "the signature does not verify"
    record = next(m.json() for m in reversed(rec.messages) if m.topic == f"{base}/consent")
    assert signed_answer.verify(hub_public, record) is None
    audit = [json.loads(line) for line in (config.state_dir / "consent-audit.jsonl").open()]
    assert [a["outcome"] for a in audit] == ["accepted"] + ["refused"] * len(cases)
    assert [a.get("refusal") for a in audit[1:]] == [c for _t, _b, c, _x in cases[1:]] + [
        "malformed"
    ]
    assert audit[0]["signer"] == LAB_KID and audit[0]["new_mode"] == "full"
    for entry in audit:  # time, outcome, signer, modes; no command content beyond that
        assert set(entry) <= {
            "time", "outcome", "command", "signer", "counter", "requested_mode", "old_mode",
            "new_mode", "summary", "seq", "refusal", "message", "mode", "add", "remove",
        }  # fmt: skip


async def test_change_to_restricted_applies_to_the_next_frame(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    read = LabCommand(0x0027, critical=False)  # ECS17b: a read, blocked in restricted mode
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        assert await lab.send_command(read) == "delivered"
        answer = await ask(wan, rec, base, signed(config.hub_id, Mode.RESTRICTED, 7000), "r")
        assert answer["status"] == "ok"
        assert await lab.send_command(read) == "blocked"
        assert await lab.send_command(LabCommand(0x0059, critical=False)) == "delivered"
        sentinel = lab.esme.raise_alert(0x8F3D, critical=True)
        await rec.wait_for(
            lambda _m: any(base64.b64decode(m.json()["frame"]) == sentinel for m in rec.on("")
                           if "/up/" in m.topic),
            timeout=10,
        )  # fmt: skip
        await rec.wait_for(lambda _m: len(retained_consent(rec, base)) >= 2, timeout=5)
        health = hub.health_snapshot()

    consent = retained_consent(rec, base)
    assert consent[0]["mode"] == "full" and consent[-1]["mode"] == "restricted"
    assert consent[-1]["set_by"] == LAB_KID and consent[-1]["counter"] == 7000
    assert consent[-1]["profile"] == consent[-1]["profile_in_force"]
    assert consent[-1]["profile"]["name"] == "gb-restricted-default"
    assert health["mode"] == "restricted" and health["reason"] == "test 7000"
    assert any(m.json()["mode"] == "restricted" for m in rec.on("/health"))
    ups = [m.json() for m in rec.messages if "/up/" in m.topic]
    # The read before the change went down and its response came up; after it, the read was
    # blocked and only the firmware response and the security alert came up, marked restricted.
    # (The outbox sends higher priorities first, so the security alert may overtake the firmware
    # response committed in the same window: compare without order.)
    assert sorted((u["message_code"], u["mode"]) for u in ups) == [
        ("0x0027", "full"), ("0x0059", "restricted"), ("0x1000", "restricted"),
    ]  # fmt: skip
    results = [m.json()["status"] for m in rec.on("/down/result")]
    assert results == ["delivered", "blocked", "delivered"]


async def test_change_of_supplier_rotates_trust_and_keeps_the_flag(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="full", extra=TRUST_LAB))
    hub_id, base = config.hub_id, f"test/{config.hub_id}"
    new = signature.generate_key()
    new_kid = signature.key_id(new.public_key())
    now = int(time.time())
    rotate = sign_trust(
        LAB_KEY, hub_id=hub_id, add=(new.public_key(),), remove=(LAB_KID,),
        counter=8001, issued_at=now, expires_at=now + 60,
    ).to_dict()  # fmt: skip
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, _lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        assert (await ask(wan, rec, base, signed(hub_id, Mode.RESTRICTED, 8000), "a"))[
            "status"
        ] == "ok"
        rotated = await ask(wan, rec, base, rotate, "b")
        assert hub.consent.mode is Mode.RESTRICTED, "the flag survives the change of supplier"
        by_old = await ask(wan, rec, base, signed(hub_id, Mode.FULL, 8002), "c")
        by_new = await ask(wan, rec, base, signed(hub_id, Mode.FULL, 1, key=new), "d")
        await asyncio.sleep(0.1)
        assert hub.consent.mode is Mode.FULL and hub.consent.set_by == new_kid

    assert rotated["status"] == "ok" and rotated["data"]["trusted_keys"] == [new_kid]
    assert rotated["data"]["record"]["mode"] == "restricted"
    assert by_old["status"] == "error" and by_old["data"] == {"refusal": "unknown_key"}
    assert by_new["status"] == "ok" and by_new["data"]["record"]["set_by"] == new_kid
    state = json.loads((config.state_dir / "consent.json").read_text())
    assert sorted(state["trust"]) == [new_kid]
    assert state["counters"] == {LAB_KID: 8001, new_kid: 1}
