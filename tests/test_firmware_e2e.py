"""Firmware distribution end to end, in restricted mode.

Real mosquitto, real zigpy and its OTA server over the virtual radio, real keys: the lab's TEST
Supplier key signs the image, the hub checks it against the trust store, zigpy serves it block by
block to the simulated ESME's OTA client, the meter checks the signature and hash and sends its
receipt alert, the hub raises its own signed CCS08, and CS06 activates the image.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, write_config
from mqtt_helpers import Recorder, recording
from test_device_log_e2e import hub_frames, result, send_down
from test_e2e import running_hub

from agent import firmware
from agent.config import load_config
from agent.hub import Hub
from gbcs import signature
from gbcs.alert_details import FirmwareReceipt, FirmwareTransfer, alert_detail
from gbcs.alerts import alert_code_from_payload
from gbcs.firmware_image import build_image, parse_image
from gbcs.frame import Cra, build_frame, parse_frame
from hal.sim.esme import LAB_MAC_KEY

ROOT = Path(__file__).resolve().parents[1]
SUPPLIER = signature.load_private_key(
    (ROOT / "config/lab/TEST-ONLY-lab-supplier.key.pem").read_bytes()
)
TRUST_LAB = f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n'
NEW_VERSION = 0x00020001


def signed_image(body: bytes, version: int = NEW_VERSION) -> bytes:
    return build_image(body, lambda d: signature.sign(SUPPLIER, d), file_version=version)


async def request_firmware(broker: Broker, base: str, txn: str, image: bytes, eui: bytes) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as wan:
        body = {
            "transaction": txn,
            "image": base64.b64encode(image).decode(),
            "targets": [eui.hex().upper()],
        }
        await wan.publish(f"{base}/bridge/request/firmware", json.dumps(body), qos=1)


def answer(rec: Recorder, txn: str) -> dict[str, object] | None:
    for m in rec.on("/bridge/response/firmware"):
        if m.json().get("transaction") == txn:
            assert "signed" in m.json(), "every answer carries the hub's signature"
            return {k: v for k, v in m.json().items() if k != "signed"}
    return None


def ups_from(rec: Recorder, eui: bytes) -> list[tuple[str, dict[str, object]]]:
    found = []
    for m in rec.messages:
        if "/up/" in m.topic:
            frame = parse_frame(base64.b64decode(m.json()["frame"]))
            if frame.originator == eui:
                found.append((m.topic.split("/up/")[1], m.json()))
    return found


def receipts(rec: Recorder, eui: bytes) -> list[tuple[int, FirmwareReceipt]]:
    out = []
    for _topic, env in ups_from(rec, eui):
        frame = parse_frame(base64.b64decode(env["frame"]))  # type: ignore[arg-type]
        if frame.cra is Cra.ALERT and frame.message_code == 0x00CE:
            code = alert_code_from_payload(frame.message_code, frame.payload)
            detail = alert_detail(frame.cra, frame.message_code, code, frame.payload)
            assert isinstance(detail, FirmwareReceipt) and code is not None
            out.append((code, detail))
    return out


def transfers(rec: Recorder, hub: Hub) -> list[FirmwareTransfer]:
    out = []
    for _topic, frame in hub_frames(rec, hub):
        if frame.message_code == 0x0128:
            code = alert_code_from_payload(frame.message_code, frame.payload)
            detail = alert_detail(frame.cra, frame.message_code, code, frame.payload)
            assert isinstance(detail, FirmwareTransfer)
            out.append(detail)
    return out


async def test_signed_image_distributed_activated_in_restricted_mode(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    body = os.urandom(3000)
    image = signed_image(body)
    digest = hashlib.sha256(body).digest()
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        esme = lab.esme
        # The lab's meter holds the Supplier key the hub trusts (config/lab/trust).
        assert esme.ota.supplier_key is not None
        assert esme.ota.supplier_key.public_numbers() == SUPPLIER.public_key().public_numbers()
        eui = esme.eui64
        await request_firmware(broker, base, "fw-1", image, eui)
        await rec.wait_for(lambda _m: answer(rec, "fw-1") is not None, timeout=20)
        await rec.wait_for(lambda _m: receipts(rec, eui) and transfers(rec, hub), timeout=10)
        done = answer(rec, "fw-1")
        health = hub.health_snapshot()

        # CS06 goes down as a normal (critical) command naming the image hash.
        counter = int(time.time() * 1000)
        cs06 = build_frame(
            cra=Cra.COMMAND,
            counter=counter,
            originator=lab.supplier.eui64,
            recipient=eui,
            message_code=0x0012,
            payload=b"\x30\x22\x04\x20" + digest,
            signer=lambda d: signature.sign(lab.supplier.key, d),
            mac_key=LAB_MAC_KEY,
        )
        await send_down(broker, base, "cs06", eui, cs06)
        await rec.wait_for(lambda _m: result(rec, "cs06") is not None, timeout=10)
        await rec.wait_for(
            lambda _m: any(
                env["message_code"] == "0x0012" and env["cra"] == "response"
                for _t, env in ups_from(rec, eui)
            ),
            timeout=10,
        )
        [(cs06_topic, cs06_up)] = [
            (t, env) for t, env in ups_from(rec, eui) if env["message_code"] == "0x0012"
        ]
        # The version read back over ZCL from the meter's OTA cluster.
        assert hub.app is not None
        device = hub.app.get_device(ieee=esme.ieee)
        ota = device.endpoints[esme.endpoint].out_clusters[0x0019]
        read, _ = await ota.read_attributes(["current_file_version"], allow_cache=False)

    assert done is not None and done["status"] == "ok", done
    target = done["data"]["targets"][eui.hex().upper()]  # type: ignore[index]
    assert target["state"] == "transferred"
    assert target["blocks"] == -(-len(image) // 50)  # zigpy caps blocks at 50 bytes
    assert esme.ota.blocks == target["blocks"]
    assert (config.state_dir / "firmware" / f"{digest.hex()}.ota").read_bytes() == image
    [(code, receipt)] = receipts(rec, eui)
    assert code == 0x8F72 and receipt.verified is True and receipt.image_hash == digest
    [transfer] = transfers(rec, hub)
    assert transfer.success is True and transfer.target == eui and transfer.result == 0
    assert transfer.firmware_version == NEW_VERSION.to_bytes(4, "big")
    fw = health["firmware"]
    assert fw["image"]["sha256"] == digest.hex()  # type: ignore[index]
    assert fw["targets"][eui.hex().upper()]["state"] == "transferred"  # type: ignore[index]
    assert result(rec, "cs06")["status"] == "delivered"  # type: ignore[index]
    [response] = [parse_frame(f) for f in esme.sent if parse_frame(f).message_code == 0x0012]
    assert response.cra is Cra.RESPONSE and response.counter == counter
    assert response.payload == b"\x30\x09\x0a\x01\x00\x04\x04" + NEW_VERSION.to_bytes(4, "big")
    assert read == {"current_file_version": NEW_VERSION}
    # The response went up in restricted mode, unchanged.
    assert cs06_topic == "firmware"
    assert base64.b64decode(cs06_up["frame"]) == response.raw  # type: ignore[arg-type]


async def test_tampered_image_refused_and_rejecting_meter_reported(
    tmp_path: Path, broker: Broker
) -> None:
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    body = os.urandom(1000)
    image = signed_image(body)
    tampered = bytearray(image)
    tampered[100] ^= 0x01
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        esme = lab.esme
        eui = esme.eui64
        await request_firmware(broker, base, "forged", bytes(tampered), eui)
        await rec.wait_for(lambda _m: answer(rec, "forged") is not None, timeout=10)
        forged = answer(rec, "forged")
        blocks_after_forged = esme.ota.blocks
        stored_after_forged = (
            list((config.state_dir / "firmware").glob("*"))
            if (config.state_dir / "firmware").exists()
            else []
        )

        # A meter holding a different Supplier key rejects a correctly signed image.
        esme.ota.supplier_key = signature.generate_key().public_key()
        await request_firmware(broker, base, "rejected", image, eui)
        await rec.wait_for(lambda _m: answer(rec, "rejected") is not None, timeout=20)
        await rec.wait_for(lambda _m: receipts(rec, eui) and transfers(rec, hub), timeout=10)
        rejected = answer(rec, "rejected")
        health = hub.health_snapshot()

    assert forged == {
        "status": "error",
        "error": "image refused: the Supplier signature does not verify against any trusted key",
        "transaction": "forged",
    }
    assert blocks_after_forged == 0 and stored_after_forged == []
    assert rejected is not None and rejected["status"] == "error"
    target = rejected["data"]["targets"][eui.hex().upper()]  # type: ignore[index]
    assert target["state"] == "failed" and "INVALID_IMAGE" in target["reason"]
    [(code, receipt)] = receipts(rec, eui)
    assert code == 0x8F1C and receipt.verified is False
    assert receipt.image_hash == hashlib.sha256(body).digest()
    [transfer] = transfers(rec, hub)
    assert transfer.success is False and transfer.result == 3 and transfer.target == eui
    assert health["firmware"]["refused"] == 1  # type: ignore[index]
    assert esme.ota.held is None


async def test_cli_builds_and_sends_with_progress(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB))
    body = tmp_path / "meter.bin"
    body.write_bytes(os.urandom(2000))
    out = tmp_path / "meter.ota"
    key = ROOT / "config/lab/TEST-ONLY-lab-supplier.key.pem"
    missing = tmp_path / "none.pem"
    assert (
        main(["firmware", "build", "--key", str(missing), "--image", str(body), "--out", str(out)])
        == 1
    )
    assert "none.pem" in capsys.readouterr().err and not out.exists()
    assert (
        main(["firmware", "build", "--key", str(key), "--image", str(body), "--out", str(out)]) == 0
    )
    built = capsys.readouterr()
    assert (
        built.err == "" and f"sha256 {hashlib.sha256(body.read_bytes()).hexdigest()}" in built.out
    )
    assert main(["firmware", "send", str(body), "--targets", "00", "--hub", config.hub_id]) == 1
    assert "not a ZigBee OTA file" in capsys.readouterr().err
    async with running_hub(config) as (hub, lab):
        lab.esme.ota.supplier_key = SUPPLIER.public_key()
        argv = [
            "firmware",
            "send",
            str(out),
            "--targets",
            lab.esme.eui64.hex(),
            "--hub",
            config.hub_id,
            "--mqtt-url",
            broker.url,
            "--base-topic",
            "test",
            "--timeout",
            "20",
        ]
        status = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    printed = captured.out
    assert status == 0, printed
    assert "answer signed by the hub" in captured.err
    lines = [line for line in printed.splitlines() if " bytes" in line and "%" in line]
    assert len(lines) >= 10 and lines[-1].startswith("100.0%") and "transferred" in lines[-1]
    answer = json.loads(printed[printed.index("{") :])
    assert answer["status"] == "ok"
    assert answer["data"]["targets"][lab.esme.eui64.hex().upper()]["state"] == "transferred"
    assert hub.firmware.status["targets"][lab.esme.eui64.hex().upper()]["state"] == "transferred"  # type: ignore[index]


def test_progress_bar_on_a_terminal() -> None:
    import io

    from agent.commands.firmware import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = Progress(out)
    bar.update({"target": "00DB1234567890A0", "state": "transferring", "offset": 50, "size": 200})
    bar.update({"target": "00DB1234567890A0", "state": "transferred", "offset": 200, "size": 200})
    text = out.getvalue()
    assert text.startswith("\r[#######-----------------------]  25.0% 00DB1234567890A0")
    assert "\r[##############################] 100.0% 00DB1234567890A0 transferred" in text
    assert text.endswith("200/200 bytes\n")


async def test_only_the_latest_images_are_kept(tmp_path: Path, broker: Broker) -> None:
    # An unattended hub must not fill its SD card with every image it was ever sent.
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    absent = bytes.fromhex("00DB12345678ABCD")  # not on the HAN: stored, then reported failed
    images = [signed_image(os.urandom(200), version=NEW_VERSION + n) for n in range(4)]
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (_hub, _lab),
    ):
        for n, image in enumerate(images):
            await request_firmware(broker, base, f"img-{n}", image, absent)
            await rec.wait_for(lambda _m, n=n: answer(rec, f"img-{n}") is not None, timeout=10)
    stored = sorted(p.name for p in (config.state_dir / "firmware").iterdir())
    expected = sorted(f"{parse_image(image).image_hash.hex()}.ota" for image in images[1:])
    assert stored == expected
    assert firmware.IMAGES_KEPT == 3
