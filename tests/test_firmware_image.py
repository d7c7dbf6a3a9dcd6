"""The GBCS OTA image layout and the firmware request checks: clear errors, nothing stored."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from agent.consent_command import public_key_b64
from agent.firmware import FirmwareService
from gbcs import signature
from gbcs.firmware_image import ImageError, build_image, parse_image, verify_image

KEY = signature.generate_key()


def image(body: bytes = b"firmware" * 20) -> bytes:
    return build_image(body, lambda d: signature.sign(KEY, d), file_version=0x00020001)


def test_layout_round_trips() -> None:
    data = image(b"abc" * 100)
    parsed = parse_image(data)
    assert parsed.header_length == 60 and parsed.manufacturer_image == b"abc" * 100
    assert parsed.file_version == 0x00020001 and parsed.manufacturer_id == 0x121D
    assert data[-66:-64] == b"\x00\x40" and len(parsed.signature) == 64


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:100], "is too short"),
        (lambda d: b"\x00" + d[1:], "no 1E F1 EE 0B magic"),
        (lambda d: d + b"\x00", "the file has"),
        (lambda d: d[:-66] + b"\x01" + d[-65:], "no Supplier signature trailer"),
    ],
)
def test_bad_layouts_say_why(mutate: object, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        parse_image(mutate(image()))  # type: ignore[operator]


def test_signature_checked_against_each_trusted_key() -> None:
    other = signature.generate_key()
    parsed = parse_image(image())
    checks = {
        "other": lambda d, s: signature.verify(other.public_key(), d, s),
        "mine": lambda d, s: signature.verify(KEY.public_key(), d, s),
    }
    assert verify_image(parsed, checks) == "mine"
    with pytest.raises(ImageError, match="does not verify against any trusted key"):
        verify_image(parsed, {"other": checks["other"]})


async def test_bad_requests_are_answered_and_store_nothing(tmp_path: Path) -> None:
    answers: list[dict[str, object]] = []
    trust = {"mine": public_key_b64(KEY.public_key())}
    service = FirmwareService(
        tmp_path, lambda: trust, lambda: None, lambda *_: None, answers.append
    )
    good = base64.b64encode(image()).decode()
    service.handle(b"not json")
    service.handle(json.dumps({"transaction": 1, "image": good, "targets": []}).encode())
    service.handle(json.dumps({"transaction": 2, "image": good, "targets": ["00AB"]}).encode())
    service.handle(
        json.dumps({"transaction": 3, "image": "@@", "targets": ["00DB1234567890A0"]}).encode()
    )
    forged = bytearray(image())
    forged[70] ^= 0xFF
    request = {"transaction": 4, "image": base64.b64encode(forged).decode()}
    service.handle(json.dumps(request | {"targets": ["00DB1234567890A0"]}).encode())
    await asyncio.sleep(0)
    assert [a["status"] for a in answers] == ["error"] * 5
    assert "malformed request" in str(answers[0]["error"])
    assert answers[1] == {
        "status": "error",
        "error": (
            "malformed request: targets must be a list of 1 to 64 EUI-64s (16 hex digits each)"
        ),
        "transaction": 1,
    }
    assert answers[2]["error"] == (
        "malformed request: each target must be an EUI-64 of exactly 16 hex digits"
    )
    assert answers[4]["error"] == (
        "image refused: the Supplier signature does not verify against any trusted key"
    )
    assert not (tmp_path / "firmware").exists()
    # Every refusal counts, malformed requests included (4 malformed + 1 forged image).
    assert service.stats()["refused"] == 5 and service.stats()["image"] is None
