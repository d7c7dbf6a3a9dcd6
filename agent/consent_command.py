"""Signed commands that change the consent flag or the trust store, and the rules that judge them.

Rules of this file (pure: no files, no clocks, no sockets; the caller passes `now`):

1. A command is a small JSON object. What is signed is not that JSON but a canonical encoding of
   its fields: the domain line `han-agent signed command v1`, a newline, then the fields as JSON
   with sorted keys, no whitespace and ASCII only. Every field except the signature is signed,
   including the command kind, the target hub id and the signer's key id, so a command cannot be
   replayed to another hub, reused as another kind, or attributed to another key.
2. Signatures are ECDSA P-256 / SHA-256 in raw r||s form (64 bytes, base64 on the wire), as GBCS
   carries them (gbcs/signature.py).
3. Parsing is strict: an unknown or missing field, a wrong type, a float or boolean where an
   integer belongs, lower-case hex, control characters in the reason: all refused as malformed.
   Two different JSON objects never verify under the same signature.
4. `judge` checks, in this order, and the first failure is the answer: the hub id, the signer is
   in the trust store, the signature, not yet valid (issued more than MAX_SKEW_S in the future),
   expired (now >= expires_at), the counter strictly greater than the last one accepted from
   that signer, then what the command asks: restricted mode on an ineligible site (network-
   managed or radio-teleswitched), or a trust update that removes an untrusted key or would
   leave no trusted key. A refusal changes nothing.
5. An accepted command yields the whole next state (record, counters, trust store); the caller
   persists it atomically before it acknowledges anything. A trust update leaves the record as
   it is: the consent flag survives a change of supplier. Counters are never forgotten, even
   for a removed key, so re-trusting a key cannot reopen its old commands.

Theory: the anchors are GBCS anti-replay (a per-remote-party counter, strictly increasing,
DCC Boxed uses the time in milliseconds) and TUF's rule that a client persists what it trusted
and refuses anything not strictly newer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.consent import ConsentRecord, Mode, ProfileRef
from gbcs import signature

DOMAIN = b"han-agent signed command v1\n"
MAX_COUNTER = 2**64 - 1
MAX_TIME = 2**53  # seconds since the epoch; also keeps every integer exact in JSON doubles
MAX_REASON = 200
MAX_SKEW_S = 300
MAX_TRUST_CHANGES = 16
HEX16 = re.compile(r"^[0-9A-F]{16}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Kind(StrEnum):
    CONSENT = "consent"
    TRUST = "trust"


class Refusal(StrEnum):
    MALFORMED = "malformed"
    WRONG_HUB = "wrong_hub"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    INELIGIBLE = "ineligible"
    BAD_TRUST_UPDATE = "bad_trust_update"


class CommandError(ValueError):
    """A command that is not well formed; its message says which field and why."""


_COMMON = ("command", "hub_id", "counter", "issued_at", "expires_at", "signer", "signature")
_FIELDS = {
    Kind.CONSENT: frozenset((*_COMMON, "mode", "reason")),
    Kind.TRUST: frozenset((*_COMMON, "add", "remove")),
}


@dataclass(frozen=True, slots=True)
class SignedCommand:
    kind: Kind
    hub_id: str
    counter: int
    issued_at: int
    expires_at: int
    signer: str
    signature: bytes
    mode: Mode | None = None
    reason: str = ""
    add: tuple[str, ...] = ()  # public keys: base64 of DER SubjectPublicKeyInfo
    remove: tuple[str, ...] = ()  # key ids

    def signed_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": self.kind.value,
            "hub_id": self.hub_id,
            "counter": self.counter,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "signer": self.signer,
        }
        if self.kind is Kind.CONSENT:
            assert self.mode is not None
            out["mode"] = self.mode.value
            out["reason"] = self.reason
        else:
            out["add"] = list(self.add)
            out["remove"] = list(self.remove)
        return out

    def canonical(self) -> bytes:
        return canonical_bytes(self.signed_fields())

    def to_dict(self) -> dict[str, Any]:
        """The wire form: the signed fields plus the signature in base64."""
        return {**self.signed_fields(), "signature": base64.b64encode(self.signature).decode()}


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return DOMAIN + text.encode("ascii")


# -- parsing --------------------------------------------------------------------------------------


def _int(data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CommandError(f"{key} must be an integer from {low} to {high}")
    return value


def _hex16(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not HEX16.match(value):
        raise CommandError(f"{key} must be 16 upper-case hex digits")
    return value


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise CommandError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CommandError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != value:
        raise CommandError(f"{what} is not canonical base64")
    return raw


def public_key_from_b64(value: object, what: str = "key") -> ec.EllipticCurvePublicKey:
    raw = _b64(value, what)
    try:
        key = serialization.load_der_public_key(raw)
    except ValueError:
        raise CommandError(f"{what} is not a DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CommandError(f"{what} is not an EC P-256 public key")
    return key


def public_key_b64(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def parse_command(data: object) -> SignedCommand:
    """A command from its wire form; CommandError names what is wrong."""
    if not isinstance(data, dict):
        raise CommandError("a command must be a JSON object")
    try:
        kind = Kind(str(data.get("command")))
    except ValueError:
        raise CommandError("command must be 'consent' or 'trust'") from None
    expected = _FIELDS[kind]
    missing = sorted(expected - data.keys())
    if missing:
        raise CommandError(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(data.keys() - expected)
    if unknown:
        raise CommandError(f"unknown field(s): {', '.join(map(str, unknown))}")
    issued_at = _int(data, "issued_at", 0, MAX_TIME)
    expires_at = _int(data, "expires_at", 0, MAX_TIME)
    if expires_at <= issued_at:
        raise CommandError("expires_at must be later than issued_at")
    sig = _b64(data["signature"], "signature")
    if len(sig) != 2 * signature.COORDINATE_BYTES:
        raise CommandError("signature must be 64 bytes (raw r||s)")
    common: dict[str, Any] = {
        "kind": kind,
        "hub_id": _hex16(data, "hub_id"),
        "counter": _int(data, "counter", 1, MAX_COUNTER),
        "issued_at": issued_at,
        "expires_at": expires_at,
        "signer": _hex16(data, "signer"),
        "signature": sig,
    }
    if kind is Kind.CONSENT:
        mode_text = data["mode"]
        if mode_text not in ("full", "restricted"):
            raise CommandError("mode must be 'full' or 'restricted'")
        reason = data["reason"]
        if not isinstance(reason, str) or len(reason) > MAX_REASON or CONTROL.search(reason):
            raise CommandError(
                f"reason must be a string of at most {MAX_REASON} characters without control "
                "characters"
            )
        return SignedCommand(mode=Mode(mode_text), reason=reason, **common)
    add, remove = data["add"], data["remove"]
    if not isinstance(add, list) or not isinstance(remove, list):
        raise CommandError("add and remove must be lists")
    if len(add) + len(remove) > MAX_TRUST_CHANGES:
        raise CommandError(f"at most {MAX_TRUST_CHANGES} keys added or removed at once")
    for i, item in enumerate(add):
        public_key_from_b64(item, f"add[{i}]")
    for i, item in enumerate(remove):
        if not isinstance(item, str) or not HEX16.match(item):
            raise CommandError(f"remove[{i}] must be a key id (16 upper-case hex digits)")
    if len(set(add)) != len(add) or len(set(remove)) != len(remove):
        raise CommandError("add and remove must not repeat an entry")
    return SignedCommand(add=tuple(add), remove=tuple(remove), **common)


# -- signing (for the CLI and the tests; the hub never signs) -------------------------------------


def sign_consent(
    key: ec.EllipticCurvePrivateKey,
    *,
    hub_id: str,
    mode: Mode,
    reason: str,
    counter: int,
    issued_at: int,
    expires_at: int,
) -> SignedCommand:
    unsigned = SignedCommand(
        kind=Kind.CONSENT,
        hub_id=hub_id,
        counter=counter,
        issued_at=issued_at,
        expires_at=expires_at,
        signer=signature.key_id(key.public_key()),
        signature=b"",
        mode=mode,
        reason=reason,
    )
    return replace(unsigned, signature=signature.sign(key, unsigned.canonical()))


def sign_trust(
    key: ec.EllipticCurvePrivateKey,
    *,
    hub_id: str,
    add: tuple[ec.EllipticCurvePublicKey, ...],
    remove: tuple[str, ...],
    counter: int,
    issued_at: int,
    expires_at: int,
) -> SignedCommand:
    unsigned = SignedCommand(
        kind=Kind.TRUST,
        hub_id=hub_id,
        counter=counter,
        issued_at=issued_at,
        expires_at=expires_at,
        signer=signature.key_id(key.public_key()),
        signature=b"",
        add=tuple(public_key_b64(k) for k in add),
        remove=remove,
    )
    return replace(unsigned, signature=signature.sign(key, unsigned.canonical()))


# -- judging --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    """Eligibility (modification report, 'Eligibility and non-eligibility'): such sites must keep
    communicating, so they refuse restricted mode."""

    network_managed: bool = False
    radio_teleswitched: bool = False

    def refuses_restricted(self) -> str | None:
        if self.network_managed:
            return "the site is network-managed and must keep communicating"
        if self.radio_teleswitched:
            return "the site is radio-teleswitched and must keep communicating"
        return None


@dataclass(frozen=True)
class ConsentState:
    """Everything a change touches, persisted together in one atomic write."""

    record: ConsentRecord
    counters: Mapping[str, int] = field(default_factory=dict)
    trust: Mapping[str, str] = field(default_factory=dict)  # key id -> base64 DER


@dataclass(frozen=True, slots=True)
class Accepted:
    state: ConsentState
    summary: str


@dataclass(frozen=True, slots=True)
class Refused:
    code: Refusal
    message: str


def iso_utc(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(int(epoch_seconds), UTC).isoformat().replace("+00:00", "Z")


def judge(
    command: SignedCommand,
    state: ConsentState,
    *,
    hub_id: str,
    now: float,
    site: Site,
    profile: ProfileRef,
) -> Accepted | Refused:
    if command.hub_id != hub_id:
        return Refused(Refusal.WRONG_HUB, f"command is for hub {command.hub_id}, this is {hub_id}")
    encoded = state.trust.get(command.signer)
    if encoded is None:
        return Refused(Refusal.UNKNOWN_KEY, f"key {command.signer} is not in the trust store")
    if not signature.verify(public_key_from_b64(encoded), command.canonical(), command.signature):
        return Refused(
            Refusal.BAD_SIGNATURE, f"signature does not verify with key {command.signer}"
        )
    if command.issued_at > now + MAX_SKEW_S:
        return Refused(
            Refusal.NOT_YET_VALID,
            f"command is issued at {iso_utc(command.issued_at)}, in the future",
        )
    if now >= command.expires_at:
        return Refused(Refusal.EXPIRED, f"command expired at {iso_utc(command.expires_at)}")
    last = state.counters.get(command.signer, 0)
    if command.counter <= last:
        return Refused(
            Refusal.REPLAYED,
            f"counter {command.counter} is not greater than {last}, the last accepted from "
            f"key {command.signer}",
        )
    counters = {**state.counters, command.signer: command.counter}
    if command.kind is Kind.CONSENT:
        assert command.mode is not None
        if command.mode is Mode.RESTRICTED:
            why = site.refuses_restricted()
            if why is not None:
                return Refused(Refusal.INELIGIBLE, f"restricted mode refused: {why}")
        record = ConsentRecord(
            mode=command.mode,
            reason=command.reason,
            since=iso_utc(now),
            set_by=command.signer,
            counter=command.counter,
            profile=profile,
        )
        return Accepted(
            ConsentState(record, counters, state.trust),
            f"mode {state.record.mode.value} -> {command.mode.value}",
        )
    trust = dict(state.trust)
    for kid in command.remove:
        if kid not in trust:
            return Refused(Refusal.BAD_TRUST_UPDATE, f"key {kid} is not in the trust store")
        del trust[kid]
    added = []
    for encoded_key in command.add:
        kid = signature.key_id(public_key_from_b64(encoded_key))
        trust[kid] = encoded_key
        added.append(kid)
    if not trust:
        return Refused(Refusal.BAD_TRUST_UPDATE, "the update would leave no trusted key")
    return Accepted(
        ConsentState(state.record, counters, trust),
        f"trust store: added {', '.join(added) or 'none'}; "
        f"removed {', '.join(command.remove) or 'none'}",
    )
