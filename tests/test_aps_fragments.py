"""hal.aps_fragments: limits, splitting, the windowed sender and the reassembler (pure)."""

from __future__ import annotations

import bellows.types as bt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal import aps_fragments as af

payloads = st.binary(min_size=1, max_size=1200)
block_sizes = st.integers(min_value=5, max_value=af.MAX_APS_PAYLOAD)
windows = st.integers(min_value=1, max_value=af.MAX_WINDOW)
# no per-example deadline: the machine running CI is shared and its timing is noisy
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_limits_are_the_stacks_documented_figures() -> None:
    # 127 - 11 (MAC) - 8 (NWK) - 8 (APS) = 100; NWK security takes 18 more: EmberZNet's 100 / 82.
    assert af.MAX_APS_PAYLOAD_NO_NWK_SECURITY == 100
    assert af.max_aps_payload() == 82
    assert af.max_aps_payload(aps_encryption=True) == 73
    assert af.max_aps_payload(fragment=True) == 80
    assert af.max_aps_payload(aps_encryption=True, fragment=True) == 71
    assert af.max_aps_payload(relays=3) == 82 - 2 - 6
    with pytest.raises(ValueError, match="relays"):
        af.max_aps_payload(relays=-1)


def test_the_option_bit_is_bellows_own() -> None:
    assert af.APS_OPTION_FRAGMENT == bt.EmberApsOption.APS_OPTION_FRAGMENT


def test_split_numbers_blocks_as_ember_and_bellows_read_them() -> None:
    blocks = af.split(bytes(range(200)), 71)
    assert [b.group_id for b in blocks] == [0x0300, 0x0301, 0x0302]
    assert all(b.options == af.APS_OPTION_FRAGMENT for b in blocks)
    assert [len(b.data) for b in blocks] == [71, 71, 58]
    # bellows' receive side (protocol.py) takes the count from the high byte of every block
    assert {af.block_numbering(b.group_id)[0] for b in blocks} == {3}


def test_split_refuses_what_cannot_be_numbered() -> None:
    with pytest.raises(ValueError, match="at most 255"):
        af.split(bytes(256 * 10), 10)
    with pytest.raises(ValueError, match="empty"):
        af.split(b"", 10)


@PROPERTY
@given(payloads, block_sizes)
def test_every_block_fits_and_they_join_to_the_payload(payload: bytes, size: int) -> None:
    blocks = af.split(payload, size)
    assert all(1 <= len(b.data) <= size for b in blocks)
    assert b"".join(b.data for b in blocks) == payload


@PROPERTY
@given(payloads, block_sizes, st.data())
def test_reassembled_in_any_order_with_duplicates(
    payload: bytes, size: int, data: st.DataObject
) -> None:
    blocks = af.split(payload, size)
    extra = data.draw(st.lists(st.sampled_from(blocks), max_size=len(blocks)))
    arrivals = blocks + extra
    data.draw(st.randoms()).shuffle(arrivals)
    r = af.Reassembler(timeout_s=10)
    results = [r.receive("m", b.group_id, b.data, now=1.0) for b in arrivals]
    complete = [x for x in results if x.outcome == "complete"]
    assert len(complete) == 1 and complete[0].payload == payload
    assert not [x for x in results if x.outcome == "refused"]
    assert r.pending() == 0


@PROPERTY
@given(payloads, block_sizes, windows, st.data())
def test_sender_never_exceeds_its_window_and_the_windowed_receiver_takes_it(
    payload: bytes, size: int, window: int, data: st.DataObject
) -> None:
    """Confirmations come back in any order; the receiver enforces the same window."""
    blocks = af.split(payload, size)
    sender = af.FragmentSender(len(blocks), window)
    receiver = af.Reassembler(timeout_s=10, window=window)
    in_flight: list[int] = []
    step: af.Step = sender.start()
    got = None
    while not isinstance(step, af.Done):
        assert isinstance(step, af.Send)
        for i in step.indices:
            result = receiver.receive("m", blocks[i].group_id, blocks[i].data, now=0.0)
            assert result.outcome in ("partial", "complete"), result.reason
            if result.outcome == "complete":
                got = result.payload
        in_flight.extend(step.indices)
        assert 1 <= len(in_flight) <= window
        assert len(sender.outstanding) <= window
        index = in_flight.pop(data.draw(st.integers(0, len(in_flight) - 1)))
        step = sender.on_sent(index, delivered=True)
    assert got == payload
    assert sender.confirmed == set(range(len(blocks)))


@PROPERTY
@given(st.integers(2, 40), windows, st.data())
def test_one_failed_block_fails_the_message_with_its_number(
    count: int, window: int, data: st.DataObject
) -> None:
    sender = af.FragmentSender(count, window)
    step: af.Step = sender.start()
    bad = data.draw(st.integers(0, count - 1))
    while isinstance(step, af.Send):
        outstanding = sorted(sender.outstanding)
        index = outstanding[0]
        step = sender.on_sent(index, delivered=index != bad, why="DELIVERY_FAILED")
    assert step == af.Failed(f"APS fragment {bad + 1} of {count} not delivered: DELIVERY_FAILED")
    assert sender.on_sent(0, delivered=True) == step  # nothing more happens after a failure


def test_sender_refuses_a_confirmation_for_a_block_never_sent() -> None:
    sender = af.FragmentSender(5, 2)
    assert sender.start() == af.Send((0, 1))
    with pytest.raises(ValueError, match="block 3 was never sent"):
        sender.on_sent(3, delivered=True)
    assert sender.on_sent(1, delivered=True) == af.Send(())
    assert sender.on_sent(1, delivered=True) == af.Send(())  # repeated: ignored
    assert sender.on_sent(0, delivered=True) == af.Send((2, 3))


def test_reassembler_refusals_name_the_fault() -> None:
    r = af.Reassembler(timeout_s=5)
    assert r.receive("a", 0x0000, b"x", 0).reason == "block 0 carries no block count"
    assert r.receive("a", 0x0200, b"x", 0).outcome == "partial"
    assert r.receive("a", 0x0202, b"x", 0).reason == "block 2 of a 2-block message"
    assert r.receive("a", 0x0301, b"x", 0).reason == "block 1 says 3 blocks, block 0 said 2"
    assert r.receive("a", 0x0001, b"y", 0).outcome == "complete"  # high byte 0: the stack's form
    # block 0 arriving last, with a held block beyond its count
    assert r.receive("b", 0x0005, b"x", 0).outcome == "partial"
    refused = r.receive("b", 0x0300, b"x", 0)
    assert refused.reason == "blocks [5] were held for a 3-block message"
    assert r.pending() == 0


def test_windowed_reassembler_refuses_a_block_ahead_of_its_window() -> None:
    r = af.Reassembler(timeout_s=5, window=2)
    assert r.receive("m", 0x0502, b"c", 0).reason == "block 2 is outside the window 0..1"
    assert r.pending() == 0  # a refused first block leaves nothing to time out
    assert r.receive("m", 0x0501, b"b", 0).outcome == "partial"
    assert r.receive("m", 0x0500, b"a", 0).outcome == "partial"
    assert r.receive("m", 0x0504, b"e", 0).reason == "block 4 is outside the window 2..3"
    for i, d in ((3, b"d"), (2, b"c"), (4, b"e")):
        last = r.receive("m", 0x0500 | i, d, 0)
    assert last.payload == b"abcde"


def test_a_missing_block_times_out_on_the_clock_given() -> None:
    r = af.Reassembler(timeout_s=10)
    r.receive("m", 0x0400, b"a", now=100.0)
    r.receive("m", 0x0402, b"c", now=103.0)
    assert r.expire(now=112.9) == []
    assert r.expire(now=113.0) == [
        ("m", "fragmented message timed out after 10 s: blocks [1, 3] of 4 missing")
    ]
    assert r.pending() == 0
    # a late block starts over rather than completing a dropped message
    assert r.receive("m", 0x0401, b"b", now=114.0).outcome == "partial"


def test_a_block_repeated_after_completion_is_a_duplicate_until_the_timeout() -> None:
    r = af.Reassembler(timeout_s=10)
    r.receive("m", 0x0200, b"a", now=0.0)
    assert r.receive("m", 0x0201, b"b", now=1.0).payload == b"ab"
    assert r.receive("m", 0x0201, b"b", now=2.0).outcome == "duplicate"
    r.expire(now=11.0)
    assert r.receive("m", 0x0200, b"a", now=12.0).outcome == "partial"  # a new message


@PROPERTY
@given(payloads, block_sizes, windows, st.data())
def test_windowed_receiver_takes_any_order_inside_a_window_and_nothing_ahead(
    payload: bytes, size: int, window: int, data: st.DataObject
) -> None:
    blocks = af.split(payload, size)
    r = af.Reassembler(timeout_s=10, window=window)
    got = None
    for base in range(0, len(blocks), window):
        ahead = base + window
        if ahead < len(blocks):
            refused = r.receive("m", blocks[ahead].group_id, blocks[ahead].data, now=0.0)
            assert refused.outcome == "refused" and "outside the window" in refused.reason
        order = data.draw(st.permutations(range(base, min(ahead, len(blocks)))))
        for i in order:
            result = r.receive("m", blocks[i].group_id, blocks[i].data, now=0.0)
            assert result.outcome in ("partial", "complete"), result.reason
            got = result.payload if result.outcome == "complete" else got
    assert got == payload and r.pending() == 0
