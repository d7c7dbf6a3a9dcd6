"""The hub's own signing key: ECDSA P-256, made once and kept in the state dir.

The CHF signs the alerts it originates (CS14, CCS08, 0x00D5) as any GBCS device signs its
critical alerts. The private key is written owner-only (0600) and is never logged or
published; its public key and key id go in `bridge/info` so the WAN can verify.

The key is written atomically (agent/state.py), so a crash while it is first made leaves no
key file or the whole one. A `hub-key.pem` that is not an EC P-256 private key stops start-up
(StateError, exit 65) and is left as it is: a new key would make the hub's alerts unverifiable
by a WAN that knows the old one, so that is for the operator to choose.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.state import StateError, atomic_write_bytes
from gbcs import signature

KEY_FILE = "hub-key.pem"


def load_or_create(state_dir: Path) -> ec.EllipticCurvePrivateKey:
    path = state_dir / KEY_FILE
    if path.exists():
        try:
            return signature.load_private_key(path.read_bytes())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # TypeError: a key with a password. cryptography's own message for a PEM that does
            # not parse is long and points at its FAQ: what is expected is said here instead.
            raise StateError(
                f"state error: {path}: not the hub's signing key (expected an unencrypted EC "
                "P-256 private key in PEM); restore it from a backup, or move it aside to make a "
                "new key (the WAN must then be given its public key from bridge/info)"
            ) from None
    key = signature.generate_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    atomic_write_bytes(path, pem, mode=0o600, create=True)
    return key


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
