"""The Key Establishment exchange in process: the hub's state machine, its NCP operations done by
the NCP-side CBKE library, against the simulated meter's own machine and maths. Both ends agree
on a link key only when the exchange is right; each refusal ends with the spec's Terminate status
and a reason."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.cbke_math import ecqv
from hal.cbke_math.ncp import CbkeLibrary, CbkeLibraryError
from hal.key_establishment import (
    SUITE_283K1,
    Action,
    ConfirmKeyRequest,
    ConfirmKeyResponse,
    EphemeralDataRequest,
    EphemeralDataResponse,
    Finished,
    InitiateRequest,
    InitiateResponse,
    KeyEstablishment,
    Message,
    NcpCalculateSmacs,
    NcpClear,
    NcpGenerateKeys,
    Role,
    Send,
    StartTimer,
    Terminate,
    TerminateStatus,
    Timing,
)
from hal.sim.key_establishment import SimKeyEstablishment

HUB = bytes.fromhex("90b3d51f30010000")
METER = bytes.fromhex("00db1234fa000001")
CA = ecqv.TestCa(b"LAB-CA01", ecqv.random_scalar())
HUB_KEY = CA.mint(HUB)
METER_KEY = CA.mint(METER)


def library(issued: ecqv.IssuedKey, ca: ecqv.TestCa = CA) -> CbkeLibrary:
    return CbkeLibrary(issued.certificate, issued.private_key, ca.public_key)


@dataclass
class Hub:
    """The hub's machine with its NCP calls answered by the NCP-side library, step by step."""

    machine: KeyEstablishment
    ncp: CbkeLibrary
    sent: list[Message] = field(default_factory=list)
    timers: list[float] = field(default_factory=list)
    ncp_calls: list[str] = field(default_factory=list)

    def run(self, actions: list[Action]) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, Send):
                self.sent.append(action.message)
            elif isinstance(action, NcpGenerateKeys):
                self.ncp_calls.append("generateCbkeKeys283k1")
                pending.extend(self.machine.keys_generated(self.ncp.generate_keys()))
            elif isinstance(action, NcpCalculateSmacs):
                self.ncp_calls.append("calculateSmacs283k1")
                try:
                    s = self.ncp.calculate_smacs(
                        action.am_initiator, action.partner_certificate, action.partner_ephemeral
                    )
                except CbkeLibraryError as exc:
                    pending.extend(self.machine.ncp_failed(str(exc)))
                else:
                    pending.extend(self.machine.smacs_calculated(s.initiator, s.responder))
            elif isinstance(action, NcpClear):
                self.ncp_calls.append(
                    f"clearTemporaryDataMaybeStoreLinkKey283k1({action.store_link_key})"
                )
                self.ncp.clear_temporary_data(action.store_link_key)
            elif isinstance(action, StartTimer):
                self.timers.append(action.seconds)
            else:
                assert isinstance(action, Finished)


def exchange(
    meter: SimKeyEstablishment,
    *,
    hub_key: ecqv.IssuedKey = HUB_KEY,
    partner: bytes = METER,
    in_flight: object = None,
) -> tuple[Hub, Finished]:
    """Run hub (initiator) against meter (responder) until both stop; `in_flight` may rewrite a
    message on the air."""
    hub = Hub(
        KeyEstablishment(Role.INITIATOR, hub_key.certificate, partner),
        library(hub_key),
    )
    hub.run(hub.machine.start())
    delivered = 0
    while delivered < len(hub.sent) and hub.machine.outcome is None:
        message = hub.sent[delivered]
        delivered += 1
        if callable(in_flight):
            message = in_flight(message)
        for answer in meter.receive(message, HUB):
            if callable(in_flight):
                answer = in_flight(answer)
            hub.run(hub.machine.receive(answer))
    if hub.machine.outcome is None:  # the meter went quiet: the hub's timer fires
        hub.run(hub.machine.timeout())
    # What the hub sent last (a Terminate, say) still reaches the meter.
    for message in hub.sent[delivered:]:
        meter.receive(message, HUB)
    assert hub.machine.outcome is not None
    return hub, hub.machine.outcome


def test_hub_and_meter_agree_on_one_link_key() -> None:
    meter = SimKeyEstablishment(library(METER_KEY))
    hub, outcome = exchange(meter)
    assert outcome.ok and outcome.status is None and outcome.partner == METER
    assert meter.outcomes[-1].ok and meter.outcomes[-1].partner == HUB
    key = hub.ncp.link_keys[METER]
    assert meter.link_keys == {HUB: key} and len(key) == 16
    assert [type(m).__name__ for m in hub.sent] == [
        "InitiateRequest",
        "EphemeralDataRequest",
        "ConfirmKeyRequest",
    ]
    assert hub.ncp_calls == [
        "generateCbkeKeys283k1",
        "calculateSmacs283k1",
        "clearTemporaryDataMaybeStoreLinkKey283k1(True)",
    ]
    # The timers follow the spec's scheme: a fixed wait for the Initiate response, then what
    # the meter advertised plus a transit margin.
    t = Timing()
    assert hub.timers == [
        t.initiate_response,
        t.ephemeral_data_generate,  # our own NCP's key generation
        t.ephemeral_data_generate + t.transit_margin,  # the meter's ephemeral data
        t.confirm_key_generate,  # our own NCP's SMACs
        t.confirm_key_generate + t.transit_margin,  # the meter's confirm
    ]
    first = hub.sent[0]
    assert isinstance(first, InitiateRequest) and first.suite == SUITE_283K1
    assert first.identity == HUB_KEY.certificate


def test_a_second_exchange_gives_a_fresh_key() -> None:
    meter = SimKeyEstablishment(library(METER_KEY))
    hub_a, _ = exchange(meter)
    hub_b, outcome = exchange(meter)
    assert outcome.ok
    assert hub_a.ncp.link_keys[METER] != hub_b.ncp.link_keys[METER]  # fresh ephemeral keys
    assert meter.link_keys[HUB] == hub_b.ncp.link_keys[METER]


def refused(hub: Hub, outcome: Finished, status: TerminateStatus | None, reason: str) -> None:
    assert not outcome.ok
    assert outcome.status == status
    assert reason in outcome.reason
    assert hub.ncp.link_keys == {}
    assert "clearTemporaryDataMaybeStoreLinkKey283k1(True)" not in hub.ncp_calls


def test_a_certificate_for_another_device_is_refused() -> None:
    other = CA.mint(bytes.fromhex("00db1234fa0000ff"))
    meter = SimKeyEstablishment(library(other))
    hub, outcome = exchange(meter)
    refused(hub, outcome, TerminateStatus.INVALID_CERTIFICATE, "is not the device 00db1234fa000001")
    assert hub.sent[-1] == Terminate(TerminateStatus.INVALID_CERTIFICATE, 10, SUITE_283K1)
    assert meter.outcomes[-1].status == TerminateStatus.INVALID_CERTIFICATE
    assert meter.link_keys == {}
    # Refused before the NCP did any key work; it is only told to drop its temporary data.
    assert hub.ncp_calls == ["clearTemporaryDataMaybeStoreLinkKey283k1(False)"]


def meter_first(meter: SimKeyEstablishment) -> tuple[Hub, Finished]:
    """The meter initiates (as joining SE devices do) and the hub responds."""
    hub = Hub(KeyEstablishment(Role.RESPONDER, HUB_KEY.certificate, METER), library(HUB_KEY))
    queue = meter.start(HUB)
    while queue and hub.machine.outcome is None:
        hub.run(hub.machine.receive(queue.pop(0)))
        for message in hub.sent:
            queue.extend(meter.receive(message, HUB))
        hub.sent.clear()
    assert hub.machine.outcome is not None
    return hub, hub.machine.outcome


def test_a_certificate_from_an_unknown_issuer_is_refused() -> None:
    other_ca = ecqv.TestCa(b"OTHER-CA", ecqv.random_scalar())
    # The hub responding checks the meter's certificate itself.
    meter = SimKeyEstablishment(library(other_ca.mint(METER), other_ca))
    hub, outcome = meter_first(meter)
    refused(hub, outcome, TerminateStatus.UNKNOWN_ISSUER, "4f544845522d4341 is not this NCP's CA")
    assert meter.outcomes[-1].status == TerminateStatus.UNKNOWN_ISSUER
    assert (
        "partner terminated key establishment: UNKNOWN_ISSUER (0x01)" in meter.outcomes[-1].reason
    )
    # The hub initiating: the meter refuses the hub's certificate first, and the hub says why.
    hub, outcome = exchange(SimKeyEstablishment(library(other_ca.mint(METER), other_ca)))
    refused(hub, outcome, TerminateStatus.UNKNOWN_ISSUER, "UNKNOWN_ISSUER (0x01)")


def test_a_forged_certificate_under_our_issuer_id_fails_the_key_confirmation() -> None:
    # A CA that claims our issuer id but has another key: the certificates parse, the NCPs
    # reconstruct different public keys, the two ends compute different secrets.
    rogue = ecqv.TestCa(CA.issuer, ecqv.random_scalar())
    meter = SimKeyEstablishment(library(rogue.mint(METER), rogue))
    hub, outcome = exchange(meter)
    refused(hub, outcome, TerminateStatus.BAD_KEY_CONFIRM, "BAD_KEY_CONFIRM (0x02)")
    assert meter.outcomes[-1].status == TerminateStatus.BAD_KEY_CONFIRM
    assert meter.link_keys == {}


def test_a_bad_confirm_mac_from_the_meter_is_refused_by_the_hub() -> None:
    meter = SimKeyEstablishment(library(METER_KEY))
    meter.corrupt_confirm = True
    # The hub responding is the end that checks the meter's MACU.
    hub, outcome = meter_first(meter)
    refused(hub, outcome, TerminateStatus.BAD_KEY_CONFIRM, "confirm MAC does not match")
    assert meter.outcomes[-1].status == TerminateStatus.BAD_KEY_CONFIRM and meter.link_keys == {}


def test_the_meter_may_initiate_and_the_hub_responds() -> None:
    meter = SimKeyEstablishment(library(METER_KEY))
    hub, outcome = meter_first(meter)
    assert outcome.ok and meter.outcomes[-1].ok
    assert hub.ncp.link_keys == {METER: meter.link_keys[HUB]}


def test_the_hub_checks_the_responders_confirm_mac() -> None:
    meter = SimKeyEstablishment(library(METER_KEY))
    meter.corrupt_confirm = True
    hub, outcome = exchange(meter)
    refused(hub, outcome, TerminateStatus.BAD_KEY_CONFIRM, "confirm MAC does not match")
    assert hub.sent[-1] == Terminate(TerminateStatus.BAD_KEY_CONFIRM, 10, SUITE_283K1)
    # The meter, responder, had finished (its MACU check passed) before the hub's Terminate
    # told it the hub refused; the hub holds no key, so no APS-secured traffic can flow.
    assert meter.outcomes[0].ok
    assert meter.outcomes[-1].status == TerminateStatus.BAD_KEY_CONFIRM


def test_a_silent_meter_times_out() -> None:
    meter = SimKeyEstablishment(library(METER_KEY))
    meter.silent = True
    hub, outcome = exchange(meter)
    refused(hub, outcome, None, "timed out waiting for Initiate Key Establishment Response")
    assert hub.timers == [Timing().initiate_response]


def test_an_unsupported_suite_and_a_short_certificate_are_refused() -> None:
    meter = SimKeyEstablishment(library(METER_KEY))

    def suite_1(message: object) -> object:
        return replace(message, suite=0x0001) if isinstance(message, InitiateResponse) else message

    hub, outcome = exchange(meter, in_flight=suite_1)
    refused(hub, outcome, TerminateStatus.UNSUPPORTED_SUITE, "suite 0x0001")

    def short(message: object) -> object:
        if isinstance(message, InitiateResponse):
            return replace(message, identity=message.identity[:48])
        return message

    hub, outcome = exchange(SimKeyEstablishment(library(METER_KEY)), in_flight=short)
    refused(hub, outcome, TerminateStatus.BAD_MESSAGE, "expected 74 bytes")


def test_a_message_out_of_order_is_a_bad_message() -> None:
    hub = Hub(KeyEstablishment(Role.INITIATOR, HUB_KEY.certificate, METER), library(HUB_KEY))
    hub.run(hub.machine.start())
    hub.run(hub.machine.receive(ConfirmKeyResponse(bytes(16))))
    assert hub.machine.outcome is not None
    refused(hub, hub.machine.outcome, TerminateStatus.BAD_MESSAGE, "unexpected ConfirmKeyResponse")


IN_FLIGHT = st.sampled_from(
    [InitiateResponse, EphemeralDataRequest, EphemeralDataResponse, ConfirmKeyRequest]
)


@settings(max_examples=8, deadline=None)
@given(IN_FLIGHT, st.data())
def test_one_bit_changed_in_flight_never_gives_a_shared_key(
    kind: type, data: st.DataObject
) -> None:
    """Whatever bit of whichever message is changed on the air, the ends never both store a key
    (the spec's promise: a tampered exchange is detected by the confirm MACs at the latest)."""
    field_name = {
        InitiateResponse: "identity",
        EphemeralDataRequest: "ephemeral_data",
        EphemeralDataResponse: "ephemeral_data",
        ConfirmKeyRequest: "mac",
    }[kind]
    done = [False]

    def flip(message: object) -> object:
        if done[0] or not isinstance(message, kind):
            return message
        value = getattr(message, field_name)
        bit = data.draw(st.integers(min_value=0, max_value=len(value) * 8 - 1))
        changed = bytearray(value)
        changed[bit // 8] ^= 0x80 >> (bit % 8)
        done[0] = True
        return replace(message, **{field_name: bytes(changed)})

    meter = SimKeyEstablishment(library(METER_KEY))
    hub, outcome = exchange(meter, in_flight=flip)
    assert done[0]
    assert not outcome.ok
    assert not (hub.ncp.link_keys and meter.link_keys)


def _any_message() -> st.SearchStrategy[Message]:
    blob = st.binary(min_size=0, max_size=80)
    small = st.integers(min_value=0, max_value=255)
    return st.one_of(
        st.builds(InitiateResponse, st.integers(0, 0xFFFF), small, small, blob),
        st.builds(
            InitiateResponse, st.just(SUITE_283K1), small, small, st.just(METER_KEY.certificate)
        ),
        st.builds(EphemeralDataResponse, blob),
        st.builds(ConfirmKeyResponse, blob),
        st.builds(Terminate, small, small, st.integers(0, 0xFFFF)),
        st.builds(InitiateRequest, st.integers(0, 0xFFFF), small, small, blob),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(_any_message(), max_size=6))
def test_no_sequence_of_messages_from_an_impostor_yields_a_key(messages: list[Message]) -> None:
    """A partner without the meter's private key (here: arbitrary messages, even carrying the
    meter's real certificate) never gets the hub to store a link key, and every failure comes with
    a reason."""
    hub = Hub(KeyEstablishment(Role.INITIATOR, HUB_KEY.certificate, METER), library(HUB_KEY))
    hub.run(hub.machine.start())
    for message in messages:
        hub.run(hub.machine.receive(message))
    outcome = hub.machine.outcome
    assert hub.ncp.link_keys == {}
    assert "clearTemporaryDataMaybeStoreLinkKey283k1(True)" not in hub.ncp_calls
    if outcome is not None:
        assert not outcome.ok and outcome.reason
