"""The AES-MMO hash and its HMAC, as CBKE uses them.

AES-MMO (Matyas-Meyer-Oseas over AES-128, ZigBee specification B.6) is the function zigpy
already implements for install-code keys (zigpy.util.aes_mmo_hash); it is reused, not
re-implemented. The MAC is the ZigBee specification's keyed hash for message authentication
(B.1.4): HMAC (FIPS 198) with AES-MMO, a 16-byte block, ipad 0x36 and opad 0x5C. CBKE keys are
16 bytes, one block, so they are used as they are.
"""

from __future__ import annotations

from zigpy.util import aes_mmo_hash

BLOCK = 16


def aes_mmo(data: bytes) -> bytes:
    return bytes(aes_mmo_hash(data))


def hmac_aes_mmo(key: bytes, message: bytes) -> bytes:
    if len(key) > BLOCK:
        key = aes_mmo(key)
    key = key.ljust(BLOCK, b"\x00")
    inner = aes_mmo(bytes(b ^ 0x36 for b in key) + message)
    return aes_mmo(bytes(b ^ 0x5C for b in key) + inner)
