"""The hub's own signing key: ECDSA P-256, made once and kept in the state dir.

The CHF signs the alerts it originates (CS14, CCS08, 0x00D5) as any GBCS device signs its
critical alerts. The private key is written owner-only (0600) and is never logged or
published; its public key and key id go in `bridge/info` so the WAN can verify.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gbcs import signature

KEY_FILE = "hub-key.pem"


def load_or_create(state_dir: Path) -> ec.EllipticCurvePrivateKey:
    path = state_dir / KEY_FILE
    if path.exists():
        return signature.load_private_key(path.read_bytes())
    key = signature.generate_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    return key


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
