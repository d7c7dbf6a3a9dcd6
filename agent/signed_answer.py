"""Answers the WAN can trust: the hub signs what it says on `bridge/response/*` and its retained
`consent` record, so that a client with publish rights on the broker cannot answer for it.

Rules of this module:

* The signed bytes are the answer's canonical JSON: the object without its `signed` member,
  keys sorted, no whitespace, non-ASCII written as `\\u` escapes, no NaN or Infinity
  (`canonical`). The answers hold only strings, integers, booleans, null, lists and objects, so
  any JSON library can rebuild the same bytes from what it parsed.
* `signed` is `{"key_id": ID, "signature": BASE64}`: the 64-byte ECDSA P-256 / SHA-256
  signature (r then s, 32 bytes each) made with the hub's signing key, whose public half and key
  id `bridge/info` publishes as `hub_key` (the key the hub's own GBCS alerts are signed with).
* A verifier parses the payload, takes `signed` out, rebuilds the canonical bytes and checks the
  signature against a key it trusts: one it was given (pinned), else the one in `bridge/info`.
  A key read from the same broker proves less than a pinned one: `verify` says which it was.

Pure: bytes and keys in, bytes and verdicts out.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gbcs import signature

SIGNED = "signed"


def canonical(answer: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: `answer` without `signed`, in canonical JSON."""
    body = {k: v for k, v in answer.items() if k != SIGNED}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sign(key: ec.EllipticCurvePrivateKey, answer: Mapping[str, Any]) -> bytes:
    """The payload to publish: `answer` with its `signed` member."""
    signed = {
        "key_id": signature.key_id(key.public_key()),
        "signature": base64.b64encode(signature.sign(key, canonical(answer))).decode("ascii"),
    }
    return json.dumps(
        {**answer, SIGNED: signed}, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def verify(key: ec.EllipticCurvePublicKey, answer: Mapping[str, Any]) -> str | None:
    """None when `answer` carries a valid signature by `key`; else why not, in a few words."""
    signed = answer.get(SIGNED)
    if not isinstance(signed, dict):
        return "not signed"
    if signed.get("key_id") != signature.key_id(key):
        return f"signed by key {signed.get('key_id')!r}, not the hub's {signature.key_id(key)}"
    try:
        raw = base64.b64decode(str(signed.get("signature")), validate=True)
        body = canonical(answer)
    except (binascii.Error, ValueError, TypeError):
        return "the signature is not readable"
    if not signature.verify(key, body, raw):
        return "the signature does not verify"
    return None
