"""The key a GBCS MAC is made with: ECDH between two key-agreement keys, then a one-step KDF
(docs/gbcs-notes.md 6.2).

    key = first 16 bytes of SHA-256(00 00 00 01 || Z || OtherInfo)
    Z = the ECDH P-256 shared secret (for a command: the ACB's KA key and the recipient's)
    OtherInfo = 60 85 74 06 08 03 00 || originator || 09 || mode || counter (8, big-endian)
                || recipient

That is NIST SP 800-56A's single-step KDF with SHA-256, which `cryptography` ships as
ConcatKDFHash. The counter is in the derivation, so every message has a key of its own.
`gbcs.frame.verify_mac` checks a frame's MAC with the key made here.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from gbcs.wire import Cra

ALGORITHM_ID = bytes.fromhex("60857406080300")
KEY_LENGTH = 16
MODE_PAYLOAD_ENCRYPTION = 4
"""Modes 1-3 are the CRA flag of the message a MAC protects; 4 is for encrypted payload parts."""


def derive(
    own: ec.EllipticCurvePrivateKey,
    peer: ec.EllipticCurvePublicKey,
    *,
    originator: bytes,
    recipient: bytes,
    counter: int,
    mode: int,
) -> bytes:
    """The 16-byte AES key for one message. Either party derives the same key: each uses its own
    private key and the other's public key."""
    if len(originator) != 8 or len(recipient) != 8:
        raise ValueError("originator and recipient must be 8-byte system titles")
    if not 0 <= counter < 1 << 64:
        raise ValueError("counter must fit in 64 bits")
    if not 1 <= mode <= MODE_PAYLOAD_ENCRYPTION:
        raise ValueError("mode must be 1, 2, 3 (the CRA flag) or 4 (payload encryption)")
    shared = own.exchange(ec.ECDH(), peer)
    other_info = b"".join(
        (ALGORITHM_ID, originator, b"\x09", bytes([mode]), counter.to_bytes(8, "big"), recipient)
    )
    return ConcatKDFHash(hashes.SHA256(), KEY_LENGTH, other_info).derive(shared)


def for_message(
    own: ec.EllipticCurvePrivateKey,
    peer: ec.EllipticCurvePublicKey,
    *,
    cra: Cra,
    counter: int,
    originator: bytes,
    recipient: bytes,
) -> bytes:
    """The MAC key of one message, from its header fields."""
    return derive(
        own, peer, originator=originator, recipient=recipient, counter=counter, mode=int(cra)
    )
