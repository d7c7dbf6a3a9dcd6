"""agent.consent_command: the canonical encoding, the signature, and each rule of `judge`.

Real keys from `cryptography`; the clock is a parameter. Expected outcomes are written out from
the issue's list of refusals, not computed by the code under test.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.consent import ConsentRecord, Mode, ProfileRef
from agent.consent_command import (
    DOMAIN,
    Accepted,
    CommandError,
    ConsentState,
    Kind,
    Refusal,
    Refused,
    Site,
    judge,
    parse_command,
    public_key_b64,
    sign_consent,
    sign_trust,
)
from gbcs import signature

HUB = "00DB1234567890A2"
NOW = 1_800_000_000
KEY = signature.generate_key()
OTHER = signature.generate_key()
KID = signature.key_id(KEY.public_key())
OTHER_KID = signature.key_id(OTHER.public_key())
PROFILE = ProfileRef("gb-restricted-default", 1, "cd" * 32)
START = ConsentRecord(Mode.FULL, "initial mode from configuration", "x", "config")
STATE = ConsentState(START, {}, {KID: public_key_b64(KEY.public_key())})


def consent(mode: Mode = Mode.RESTRICTED, counter: int = 1000, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        hub_id=HUB,
        mode=mode,
        reason="consumer choice",
        counter=counter,
        issued_at=NOW - 10,
        expires_at=NOW + 3600,
    )
    args.update(kw)
    key = args.pop("key", KEY)
    return sign_consent(key, **args).to_dict()


def run(wire: dict[str, Any], state: ConsentState = STATE, **kw: Any) -> Accepted | Refused:
    args: dict[str, Any] = dict(hub_id=HUB, now=NOW, site=Site(), profile=PROFILE)
    args.update(kw)
    return judge(parse_command(wire), state, **args)


def test_accepted_change_gives_the_whole_next_state() -> None:
    verdict = run(consent(counter=1234))
    assert isinstance(verdict, Accepted)
    assert verdict.state.record == ConsentRecord(
        mode=Mode.RESTRICTED,
        reason="consumer choice",
        since="2027-01-15T08:00:00Z",
        set_by=KID,
        counter=1234,
        profile=PROFILE,
    )
    assert verdict.state.counters == {KID: 1234}
    assert verdict.state.trust == STATE.trust
    assert verdict.summary == "mode full -> restricted"


def test_canonical_encoding_is_the_sorted_compact_json_of_every_field_but_the_signature() -> None:
    wire = consent(counter=7)
    command = parse_command(wire)
    expected = (
        b"han-agent signed command v1\n"
        b'{"command":"consent","counter":7,"expires_at":1800003600,"hub_id":"00DB1234567890A2",'
        b'"issued_at":1799999990,"mode":"restricted","reason":"consumer choice",'
        b'"signer":"' + KID.encode() + b'"}'
    )
    assert command.canonical() == expected
    assert signature.verify(KEY.public_key(), expected, base64.b64decode(wire["signature"]))


@pytest.mark.parametrize(
    ("wire", "kw", "code", "text"),
    [
        (consent(hub_id="00DB1234567890A3"), {}, Refusal.WRONG_HUB, "for hub 00DB1234567890A3"),
        (consent(key=OTHER), {}, Refusal.UNKNOWN_KEY, f"key {OTHER_KID} is not in the trust"),
        (
            {**consent(), "signature": consent(counter=999)["signature"]},
            {},
            Refusal.BAD_SIGNATURE,
            "does not verify",
        ),
        (consent(issued_at=NOW + 301, expires_at=NOW + 900), {}, Refusal.NOT_YET_VALID, "future"),
        (consent(expires_at=NOW), {}, Refusal.EXPIRED, "expired at 2027-01-15T08:00:00Z"),
        (consent(counter=5), {"state": ConsentState(START, {KID: 5}, STATE.trust)},
         Refusal.REPLAYED, "counter 5 is not greater than 5"),
        (consent(counter=4), {"state": ConsentState(START, {KID: 5}, STATE.trust)},
         Refusal.REPLAYED, "not greater than 5"),
        (consent(), {"site": Site(network_managed=True)}, Refusal.INELIGIBLE, "network-managed"),
        (consent(), {"site": Site(radio_teleswitched=True)}, Refusal.INELIGIBLE,
         "radio-teleswitched"),
    ],
)  # fmt: skip
def test_each_refusal_has_its_own_reason(
    wire: dict[str, Any], kw: dict[str, Any], code: Refusal, text: str
) -> None:
    verdict = run(wire, **kw)
    assert isinstance(verdict, Refused)
    assert verdict.code is code
    assert text in verdict.message


def test_ineligible_site_still_accepts_full_mode() -> None:
    verdict = run(consent(Mode.FULL), site=Site(network_managed=True, radio_teleswitched=True))
    assert isinstance(verdict, Accepted) and verdict.state.record.mode is Mode.FULL


def test_counters_are_per_signer() -> None:
    state = ConsentState(START, {KID: 10, OTHER_KID: 500}, {
        KID: public_key_b64(KEY.public_key()), OTHER_KID: public_key_b64(OTHER.public_key())
    })  # fmt: skip
    assert isinstance(run(consent(counter=11), state), Accepted)
    assert isinstance(run(consent(counter=11, key=OTHER), state), Refused)
    assert isinstance(run(consent(counter=501, key=OTHER), state), Accepted)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 2**64 - 1), min_size=1, max_size=12))
def test_a_counter_is_accepted_only_when_strictly_above_every_earlier_acceptance(
    counters: list[int],
) -> None:
    state = STATE
    highest = 0
    for counter in counters:
        verdict = run(consent(counter=counter), state)
        if counter > highest:
            assert isinstance(verdict, Accepted)
            state, highest = verdict.state, counter
        else:
            assert isinstance(verdict, Refused) and verdict.code is Refusal.REPLAYED
        assert state.counters[KID] == highest


SIGNED = consent(counter=424242)
MUTATIONS = {
    "command": st.just("trust"),
    "hub_id": st.from_regex(r"\A[0-9A-F]{16}\Z").filter(lambda v: v != HUB),
    "mode": st.just("full"),
    "reason": st.text(max_size=50).filter(lambda v: v != SIGNED["reason"]),
    "counter": st.integers(1, 2**64 - 1).filter(lambda v: v != SIGNED["counter"]),
    "issued_at": st.integers(0, NOW + 100).filter(lambda v: v != SIGNED["issued_at"]),
    "expires_at": st.integers(NOW + 1, NOW + 10**6).filter(lambda v: v != SIGNED["expires_at"]),
    "signer": st.from_regex(r"\A[0-9A-F]{16}\Z").filter(lambda v: v != KID),
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(MUTATIONS)).flatmap(lambda k: st.tuples(st.just(k), MUTATIONS[k])))
def test_any_mutation_of_a_signed_field_fails(mutation: tuple[str, Any]) -> None:
    key, value = mutation
    wire = {**SIGNED, key: value}
    try:
        command = parse_command(wire)
    except CommandError:
        return  # refused as malformed before any check: also a refusal
    trust = {**STATE.trust, value: STATE.trust[KID]} if key == "signer" else STATE.trust
    verdict = judge(
        command, ConsentState(START, {}, trust), hub_id=HUB, now=NOW, site=Site(), profile=PROFILE
    )
    assert isinstance(verdict, Refused)
    assert verdict.code in (Refusal.BAD_SIGNATURE, Refusal.WRONG_HUB)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 63), st.integers(1, 255))
def test_any_flipped_signature_bit_fails(index: int, xor: int) -> None:
    raw = bytearray(base64.b64decode(SIGNED["signature"]))
    raw[index] ^= xor
    verdict = run({**SIGNED, "signature": base64.b64encode(bytes(raw)).decode()})
    assert isinstance(verdict, Refused) and verdict.code is Refusal.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"counter": 0}, "counter must be an integer from 1"),
        ({"counter": 2**64}, "counter must be an integer"),
        ({"counter": 5.0}, "counter must be an integer"),
        ({"counter": True}, "counter must be an integer"),
        ({"counter": "5"}, "counter must be an integer"),
        ({"hub_id": "00db1234567890a2"}, "hub_id must be 16 upper-case hex"),
        ({"mode": "Restricted"}, "mode must be"),
        ({"reason": "a\nb"}, "control characters"),
        ({"reason": "x" * 201}, "at most 200"),
        ({"reason": None}, "reason must be"),
        ({"signature": "not base64!"}, "signature is not valid base64"),
        ({"signature": base64.b64encode(b"x" * 63).decode()}, "64 bytes"),
        ({"expires_at": NOW - 10}, "later than issued_at"),
        ({"command": "reboot"}, "command must be 'consent' or 'trust'"),
        ({"extra": 1}, "unknown field(s): extra"),
        ({"add": []}, "unknown field(s): add"),
    ],
)
def test_malformed_commands_say_what_is_wrong(change: dict[str, Any], text: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command({**SIGNED, **change})
    assert text in str(info.value)


@pytest.mark.parametrize("field", ["hub_id", "mode", "reason", "counter", "signature", "signer"])
def test_missing_field_is_malformed(field: str) -> None:
    wire = dict(SIGNED)
    del wire[field]
    with pytest.raises(CommandError, match=f"missing field\\(s\\): {field}"):
        parse_command(wire)


@pytest.mark.parametrize("data", [None, [], "x", 1])
def test_non_object_is_malformed(data: object) -> None:
    with pytest.raises(CommandError, match="JSON object"):
        parse_command(data)


def test_wire_form_round_trips() -> None:
    assert parse_command(json.loads(json.dumps(SIGNED))).to_dict() == SIGNED
    assert parse_command(SIGNED).canonical().startswith(DOMAIN)


# -- trust store rotation -------------------------------------------------------------------------


def trust(
    key: Any = KEY, counter: int = 2000, add: tuple[Any, ...] = (), remove: tuple[str, ...] = ()
) -> Any:
    return sign_trust(
        key, hub_id=HUB, add=add, remove=remove, counter=counter,
        issued_at=NOW - 1, expires_at=NOW + 60,
    ).to_dict()  # fmt: skip


def test_change_of_supplier_keeps_the_flag_and_moves_trust() -> None:
    restricted = run(consent(counter=1000))
    assert isinstance(restricted, Accepted)
    rotated = run(trust(add=(OTHER.public_key(),), remove=(KID,)), restricted.state)
    assert isinstance(rotated, Accepted)
    assert rotated.state.record == restricted.state.record, "the flag survives"
    assert set(rotated.state.trust) == {OTHER_KID}
    assert rotated.state.counters == {KID: 2000}
    assert parse_command(trust(add=(OTHER.public_key(),), remove=(KID,))).kind is Kind.TRUST
    by_new = run(consent(Mode.FULL, counter=1, key=OTHER), rotated.state)
    assert isinstance(by_new, Accepted) and by_new.state.record.set_by == OTHER_KID
    by_old = run(consent(Mode.FULL, counter=3000), rotated.state)
    assert isinstance(by_old, Refused) and by_old.code is Refusal.UNKNOWN_KEY


def test_trust_update_signed_by_an_untrusted_key_is_refused() -> None:
    verdict = run(trust(key=OTHER, add=(OTHER.public_key(),)))
    assert isinstance(verdict, Refused) and verdict.code is Refusal.UNKNOWN_KEY


@pytest.mark.parametrize(
    ("remove", "text"),
    [((KID,), "would leave no trusted key"), (("0000000000000000",), "is not in the trust")],
)
def test_bad_trust_updates(remove: tuple[str, ...], text: str) -> None:
    verdict = run(trust(remove=remove))
    assert isinstance(verdict, Refused) and verdict.code is Refusal.BAD_TRUST_UPDATE
    assert text in verdict.message


def test_trust_add_must_be_a_p256_public_key() -> None:
    wire = trust(add=(OTHER.public_key(),))
    with pytest.raises(CommandError, match=r"add\[0\] is not a DER public key"):
        parse_command({**wire, "add": [base64.b64encode(b"junk").decode()]})
