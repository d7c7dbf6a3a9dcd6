"""sect283k1 via the `openssl` command line: the independent implementation the CBKE maths is
checked against.

`cryptography` 44 and later (and the OpenSSL it bundles) no longer offer the binary-field curves,
so the tests ask the system OpenSSL 3 (Debian's build keeps EC2M) instead, through DER files
built here from raw scalars and points. Only tests import this.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

OID_SECT283K1 = bytes.fromhex("06052b81040010")  # 1.3.132.0.16 (SEC 2 v2 A.2.1)
OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1


def _der(tag: int, content: bytes) -> bytes:
    assert len(content) < 128
    return bytes([tag, len(content)]) + content


def private_key_der(d: int) -> bytes:
    """An RFC 5915 ECPrivateKey with no public key: OpenSSL computes d*G itself on load."""
    return _der(
        0x30,
        _der(0x02, b"\x01") + _der(0x04, d.to_bytes(36, "big")) + _der(0xA0, OID_SECT283K1),
    )


def public_key_der(point: bytes) -> bytes:
    """A SubjectPublicKeyInfo for an encoded point (compressed 02/03 or uncompressed 04)."""
    return _der(0x30, _der(0x30, OID_EC_PUBLIC_KEY + OID_SECT283K1) + _der(0x03, b"\x00" + point))


def _run(args: list[str]) -> bytes:
    done = subprocess.run(["openssl", *args], capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def public_key(d: int) -> tuple[int, int]:
    """(x, y) of d*G as OpenSSL computes it."""
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "k.der"
        key.write_bytes(private_key_der(d))
        text = _run(["ec", "-inform", "DER", "-in", str(key), "-text", "-noout"]).decode()
    pub_hex = "".join(
        line.strip().replace(":", "")
        for line in text.split("pub:")[1].split("ASN1 OID")[0].splitlines()
    )
    pub = bytes.fromhex(pub_hex)
    assert pub[0] == 0x04 and len(pub) == 73, pub.hex()
    return int.from_bytes(pub[1:37], "big"), int.from_bytes(pub[37:], "big")


def ecdh(d: int, peer_point: bytes) -> bytes:
    """x(d*Q) in 36 bytes, OpenSSL's ECDH of private value d with the peer's encoded point."""
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "k.der"
        peer = Path(tmp) / "p.der"
        key.write_bytes(private_key_der(d))
        peer.write_bytes(public_key_der(peer_point))
        return _run(
            [
                "pkeyutl",
                "-derive",
                "-keyform",
                "DER",
                "-inkey",
                str(key),
                "-peerform",
                "DER",
                "-peerkey",
                str(peer),
            ]
        )


def curve_parameters_text() -> str:
    return _run(
        ["ecparam", "-name", "sect283k1", "-param_enc", "explicit", "-text", "-noout"]
    ).decode()
