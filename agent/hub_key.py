"""The hub's own keys, EC P-256, each made once and kept in the state dir.

- `hub-key.pem`, the signing key: the CHF signs the alerts it originates (CS14, CCS08, 0x00D5) as
  any GBCS device signs its critical alerts.
- `hub-ka-key.pem`, the key-agreement key: with the ACB's, it gives the key of each MAC on a
  command to the hub (gbcs/mac_key.py), as a GBCS device holds a KA key beside its signing key.

A private key is written owner-only (0600) and is never logged or published; the public keys
and key ids go in `bridge/info`, so the WAN can verify the hub's alerts and the ACB can MAC its
commands.

The key is written atomically (agent/state.py), so a crash while it is first made leaves no
key file or the whole one. A key file that is not an EC P-256 private key stops start-up
(StateError, exit 65) and is left as it is: a new signing key would make the hub's alerts
unverifiable by a WAN that knows the old one, and a new KA key the ACB's MACs unverifiable by the
hub, so that is for the operator to choose.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.state import StateError, atomic_write_bytes
from gbcs import signature

KEY_FILE = "hub-key.pem"
KA_KEY_FILE = "hub-ka-key.pem"
USES = {KEY_FILE: ("signing key", "the WAN"), KA_KEY_FILE: ("key-agreement key", "the ACB")}
"""Each key file: what the key is, and who must be given a new key's public half."""


def load_or_create(state_dir: Path, file: str = KEY_FILE) -> ec.EllipticCurvePrivateKey:
    path = state_dir / file
    use, holder = USES[file]
    if path.exists():
        try:
            return signature.load_private_key(path.read_bytes())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # TypeError: a key with a password. cryptography's own message for a PEM that does
            # not parse is long and points at its FAQ: what is expected is said here instead.
            raise StateError(
                f"state error: {path}: not the hub's {use} (expected an unencrypted EC "
                "P-256 private key in PEM); restore it from a backup, or move it aside to make a "
                f"new key ({holder} must then be given its public key from bridge/info)"
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
