"""Computes the CBKE suite 2 known-answer vectors in tests/data/cbke-283k1-vectors.json.

Every input is fixed (scalars are SHA-256 of a label, reduced mod n), so running this again
gives the same file: `.venv/bin/python tests/cbke_vectors.py` rewrites it. The tests check the
file against this computation, and check its values against OpenSSL independently
(tests/test_cbke_vectors.py).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hal.cbke_math import curve, ecmqv, ecqv  # noqa: E402

VECTORS = Path(__file__).parent / "data" / "cbke-283k1-vectors.json"

SOURCES = {
    "curve": "SEC 2 v2 (2010) 3.4.1 sect283k1; checked against `openssl ecparam -name "
    "sect283k1 -param_enc explicit` by tests/test_cbke_math.py",
    "aes_mmo": "ZigBee specification 05-3474, Annex C test vectors (AES-MMO hash of C0; keyed "
    "hash with key 40..4F over C0) and the install-code example 83FE..C3B5 -> 66B6..02BB",
    "scalars": "fixed test inputs: SHA-256 of the label, as an integer mod n",
    "certificates": "issued by the test CA below with hal/cbke_math/ecqv.py (SEC 4 ECQV); "
    "layout per docs/cbke.md",
    "derived": "computed by hal/cbke_math (ECMQV per SEC 1 v2 3.4, KDF and MACs per SE 1.x "
    "Annex C.4); public keys and Z checked against OpenSSL from the scalars alone",
}


def scalar(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (curve.N - 1) + 1


def compute() -> dict[str, Any]:
    ca = ecqv.TestCa(bytes.fromhex("54455354434130aa"), scalar("cbke test CA"))
    parties: dict[str, Any] = {}
    for role, subject in (("initiator", "0011223344556677"), ("responder", "8899aabbccddeeff")):
        k_u = scalar(f"{role} request nonce")
        k_ca = scalar(f"{role} CA nonce")
        request = curve.compress(curve.multiply(k_u, curve.G))
        cert, r = ca.issue(
            request, bytes.fromhex(subject), serial=bytes.fromhex(subject), ca_nonce=k_ca
        )
        d = ecqv.reconstruct_private_key(cert, k_u, r)
        q = ecqv.reconstruct_public_key(cert, ca.public_key)
        e_d = scalar(f"{role} ephemeral")
        parties[role] = {
            "subject": subject,
            "request_nonce": f"{k_u:072x}",
            "ca_nonce": f"{k_ca:072x}",
            "certificate_hash_e": f"{ecqv.certificate_hash(cert):032x}",
            "certificate": cert.hex(),
            "private_key_contribution_r": f"{r:072x}",
            "private_key": f"{d:072x}",
            "public_key": curve.compress(q).hex(),
            "ephemeral_private_key": f"{e_d:072x}",
            "ephemeral_public_key": curve.compress(curve.multiply(e_d, curve.G)).hex(),
        }
    u, v = parties["initiator"], parties["responder"]
    z = ecmqv.ecmqv(
        int(u["private_key"], 16),
        int(u["ephemeral_private_key"], 16),
        curve.decompress(bytes.fromhex(u["ephemeral_public_key"])),
        curve.decompress(bytes.fromhex(v["public_key"])),
        curve.decompress(bytes.fromhex(v["ephemeral_public_key"])),
    )
    keys = ecmqv.kdf(z)
    macs = ecmqv.smacs(
        keys.mac_key,
        bytes.fromhex(u["subject"]),
        bytes.fromhex(v["subject"]),
        bytes.fromhex(u["ephemeral_public_key"]),
        bytes.fromhex(v["ephemeral_public_key"]),
    )
    return {
        "sources": SOURCES,
        "curve": {
            "reduction_polynomial": "x^283 + x^12 + x^7 + x^5 + 1",
            "generator": curve.compress(curve.G).hex(),
            "order_n": f"{curve.N:x}",
            "cofactor_h": curve.H,
        },
        "aes_mmo": [
            {"message": "c0", "hash": "ae3a102a28d43ee0d4a09e22788b206c"},
            {
                "message": "83fed3407a939723a5c639b26916d505c3b5",
                "hash": "66b6900981e1ee3ca4206b6b861c02bb",
            },
        ],
        "hmac_aes_mmo": [
            {
                "key": "404142434445464748494a4b4c4d4e4f",
                "message": "c0",
                "mac": "4512807bf94cb3400f0e2c25fb76e999",
            },
        ],
        "ca": {
            "issuer": ca.issuer.hex(),
            "private_key": f"{ca.private_key:072x}",
            "public_key": ca.public_key.hex(),
        },
        "initiator": u,
        "responder": v,
        "shared_secret_z": z.hex(),
        "mac_key": keys.mac_key.hex(),
        "key_data": keys.key_data.hex(),
        "macu_initiator_smac": macs.initiator.hex(),
        "macv_responder_smac": macs.responder.hex(),
    }


if __name__ == "__main__":
    VECTORS.write_text(json.dumps(compute(), indent=2) + "\n")
    print(f"wrote {VECTORS}")
