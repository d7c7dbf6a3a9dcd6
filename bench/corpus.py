"""A deterministic mixed corpus of GBCS frames for the benchmark and the fuzz runner.

Every message code in gbcs/codes.py, framed the ways the wire has them: commands and responses
MAC-wrapped or bare and signed, pre-commands, alerts in DLMS, GBZ and ASN.1 form with alert
codes from the table, date-times, supplementary fields of every length class, future-dated,
firmware-receipt and CCS08 alert bodies, GBT blocks and GSME tunnel headers. Signatures are
random 64-byte strings: the hub reads framing, it does not verify (a verifying benchmark would
measure `cryptography`, not the codec). The DCC reference frames are added when the shared
reference file is beside the repository.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

from gbcs import payloads, tunnel
from gbcs.codes import ALERT_CODES, ALERT_MESSAGE_CODES, MESSAGE_CODES
from gbcs.frame import Cra, build_frame
from gbcs.gbt_transfer import split_into_blocks
from gbcs.supplementary import Supplementary

REFERENCE = Path(__file__).resolve().parents[1] / "tests/data/gbcs-examples.json"
WHEN = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
MAC_KEY = bytes(range(16))


def reference_frames() -> list[bytes]:
    if not REFERENCE.is_file():
        return []
    return [bytes.fromhex(e["hex"]) for e in json.loads(REFERENCE.read_text(encoding="utf-8"))]


def build_corpus(seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    alert_codes = sorted(ALERT_CODES)
    frames: list[bytes] = []

    def eui() -> bytes:
        return rng.randbytes(8)

    def supplementary() -> bytes:
        kind = rng.choice([0, 0, 0, 0, 1, 2, 3, 4])
        return Supplementary(
            eui() if kind >= 1 else None,
            rng.getrandbits(64) if kind >= 2 else None,
            rng.getrandbits(64) if kind >= 3 else None,
            rng.randbytes(rng.randint(1, 400)) if kind >= 4 else None,
        ).encode()

    def frame(cra: Cra, code: int, payload: bytes, *, signed: bool, mac: bool) -> bytes:
        return build_frame(
            cra=cra,
            counter=rng.getrandbits(64),
            originator=eui(),
            recipient=eui(),
            message_code=code,
            payload=payload,
            date_time=payloads.dlms_date_time(WHEN) if rng.random() < 0.2 else None,
            supplementary=supplementary(),
            signer=(lambda _: rng.randbytes(64)) if signed else None,
            mac_key=MAC_KEY if mac else None,
            signature_field=signed or mac or rng.random() < 0.5,
        )

    for code in sorted(set(MESSAGE_CODES) - ALERT_MESSAGE_CODES):
        signed = rng.random() < 0.4
        body = rng.randbytes(rng.randint(0, 300))
        frames.append(frame(Cra.COMMAND, code, b"\xd9" + body, signed=signed, mac=True))
        frames.append(frame(Cra.RESPONSE, code, b"\xda" + body, signed=signed, mac=not signed))
        frames.append(frame(Cra.COMMAND, code, b"\x05\x00", signed=False, mac=False))  # pre-command
    for code in sorted(ALERT_MESSAGE_CODES):
        for _ in range(4):
            alert = rng.choice(alert_codes)
            payload = rng.choice(
                [
                    payloads.dlms_alert(1, alert, WHEN, rng.randbytes(rng.randint(0, 60))),
                    payloads.gbz_alert(alert, WHEN, rng.randbytes(rng.randint(0, 60))),
                    payloads.asn1_firmware_transfer(alert, WHEN, eui(), b"\x01\x02", 0),
                ]
            )
            signed = rng.random() < 0.5
            frames.append(frame(Cra.ALERT, code, payload, signed=signed, mac=not signed))
    reported = sorted(MESSAGE_CODES)
    for _ in range(40):
        outcome = rng.choice([0x8F66, 0x8F67])
        command, counter = rng.choice(reported), rng.getrandbits(64)
        dlms = payloads.dlms_future_dated_alert(1, outcome, WHEN, command, counter)
        gbz = payloads.gbz_future_dated_alert(outcome, WHEN, command, counter)
        frames.append(frame(Cra.ALERT, 0x00CC, dlms, signed=True, mac=False))
        frames.append(frame(Cra.ALERT, 0x00CD, gbz, signed=True, mac=False))
        image = rng.randbytes(32)
        receipt = payloads.dlms_firmware_receipt(1, 0x8F72, WHEN, image)
        frames.append(frame(Cra.ALERT, 0x00CE, receipt, signed=True, mac=False))
        frames.append(
            frame(
                Cra.ALERT,
                0x00CF,
                payloads.gbz_firmware_receipt(0x8F1C, WHEN, image),
                signed=True,
                mac=False,
            )
        )
    for message in rng.sample(frames, 30):
        frames.extend(split_into_blocks(message, rng.randint(40, 200)))
    frames.extend(reference_frames())
    return frames


def tunnel_wrapped(frames: list[bytes], seed: int = 2) -> list[bytes]:
    """The same frames behind GSME tunnel headers, as a GSME and the CHF exchange them."""
    rng = random.Random(seed)
    return [
        tunnel.put(f) if rng.random() < 0.5 else tunnel.get_response(rng.randint(0, 9), f)
        for f in frames
    ]
