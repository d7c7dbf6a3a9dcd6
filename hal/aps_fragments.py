"""APS fragmentation as EmberZNet hosts do it: limits, splitting, a windowed sender, a reassembler.

Pure (no I/O, no clock): the caller passes time in and sends what it is told to send.

An EZSP host fragments a long unicast itself. Every block goes down in its own `sendUnicast`
with `EmberApsOption.APS_OPTION_FRAGMENT` set and the block numbering in the APS frame's
`groupId`: the low byte is the block's index, the high byte the number of blocks (EmberZNet's
`fragmentation.c` writes `HIGH_LOW_TO_INT(count, index)` into every block; the stack reads the
count only from block 0, and bellows' receive side reads it from every block, so writing it
everywhere satisfies both). The NCP turns that into the APS extended header (2 bytes) on air.
Later blocks carry the APS counter that `sendUnicast` returned for block 0, so the receiver
sees one message. The sender keeps at most `window` blocks outstanding and, as `fragmentation.c`
does, sends the next window only when every block of the current one has been confirmed by a
`messageSentHandler` with success; one failed block fails the whole message.

API (small on purpose; `hal/ezsp.py` sends with it, an NCP emulator checks with it):

    max_aps_payload(aps_encryption=..., fragment=..., relays=...) -> int
    split(payload, block_size) -> list[Fragment]        # Fragment = (group_id, options, data)
    block_numbering(group_id) -> (count_field, index)

    sender = FragmentSender(block_count, window)
    sender.start() -> Send(indices)                     # the first window
    sender.on_sent(index, delivered, why) -> Send(indices) | Done() | Failed(reason)

    r = Reassembler(timeout_s, window=None)             # window=None: any order accepted
    r.receive(key, group_id, data, now) -> Received(outcome, index, payload, reason)
    r.expire(now) -> list[(key, reason)]                # partial messages whose time is up

`key` is whatever names one message to the receiver: an NCP uses (source, APS counter,
profile, cluster), as bellows' FragmentManager does.

Reassembly rules (documented so the emulator refuses exactly this and no more):
- the index is the groupId's low byte; block 0 gives the count in its high byte (1..255);
  a later block's high byte is either 0 (the stack's own encoding) or that same count;
- an index at or beyond the count is refused, and so is a count of 0 on block 0;
- a block already held is a duplicate and ignored (also for a message just completed, for
  `timeout_s`, since a lost APS ack makes the sender repeat a block);
- order: with `window=None` blocks are accepted in any order (block 0 may come late; the
  blocks held are checked against its count when it comes). With `window=W` only blocks of the
  current window [base, base+W) are accepted, in any order within it; the window moves on by W
  when all its blocks are in, as the Zigbee APS receiver's window does; a block ahead of it is
  refused;
- a message with no new block for `timeout_s` is dropped by `expire(now)`, naming what is
  missing.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

# -- limits ---------------------------------------------------------------------------------------
# The largest APS payload one 802.15.4 frame carries, derived from the 127-byte PHY payload
# (IEEE 802.15.4 aMaxPHYPacketSize) minus the headers a Zigbee PRO unicast data frame has.
# The figures agree with EmberZNet's documented ones (af.h: EMBER_AF_MAXIMUM_APS_PAYLOAD_LENGTH
# 100 without network security, 82 with it; EMBER_AF_APS_ENCRYPTION_OVERHEAD 9;
# EMBER_AF_APS_FRAGMENTATION_OVERHEAD 2; EMBER_AF_NWK_SOURCE_ROUTE_OVERHEAD 2 plus 2 per relay),
# which is what `emberMaximumApsPayloadLength()` / EZSP `maximumPayloadLength` report.
PHY_MAX_PAYLOAD = 127
# MAC: frame control 2, sequence 1, destination PAN 2, destination short 2, source short 2
# (PAN ID compression), FCS 2.
MAC_OVERHEAD = 11
# NWK: frame control 2, destination 2, source 2, radius 1, sequence 1.
NWK_HEADER = 8
# NWK security (always on in a Zigbee PRO network): auxiliary header (security control 1,
# frame counter 4, source IEEE 8, key sequence 1) and a 4-byte MIC.
NWK_SECURITY_OVERHEAD = 18
# APS unicast data frame: frame control 1, destination endpoint 1, cluster 2, profile 2,
# source endpoint 1, APS counter 1.
APS_HEADER = 8
# APS security with a link key: auxiliary header (security control 1, frame counter 4; no
# extended nonce) and a 4-byte MIC.
APS_ENCRYPTION_OVERHEAD = 9
# APS extended header of a fragmented frame: extended frame control 1, block number 1.
APS_FRAGMENTATION_OVERHEAD = 2
# NWK source route subframe: relay count 1, relay index 1, then 2 bytes per relay.
SOURCE_ROUTE_OVERHEAD = 2
SOURCE_ROUTE_PER_RELAY = 2

MAX_APS_PAYLOAD_NO_NWK_SECURITY = PHY_MAX_PAYLOAD - MAC_OVERHEAD - NWK_HEADER - APS_HEADER  # 100
MAX_APS_PAYLOAD = MAX_APS_PAYLOAD_NO_NWK_SECURITY - NWK_SECURITY_OVERHEAD  # 82

APS_OPTION_FRAGMENT = 0x8000  # bellows.types.EmberApsOption.APS_OPTION_FRAGMENT
MAX_BLOCKS = 255  # the count and the index are one byte each
MAX_WINDOW = 8  # EZSP CONFIG_FRAGMENT_WINDOW_SIZE range (bellows validates 0..8)


def max_aps_payload(
    *, aps_encryption: bool = False, fragment: bool = False, relays: int = 0
) -> int:
    """The largest APS payload (the ZCL frame) one frame carries, on a secured network.

    `relays` is the length of a NWK source route the frame carries (0: none)."""
    if relays < 0:
        raise ValueError(f"relays must be 0 or more, not {relays}")
    limit = MAX_APS_PAYLOAD
    if aps_encryption:
        limit -= APS_ENCRYPTION_OVERHEAD
    if fragment:
        limit -= APS_FRAGMENTATION_OVERHEAD
    if relays:
        limit -= SOURCE_ROUTE_OVERHEAD + SOURCE_ROUTE_PER_RELAY * relays
    if limit < 1:
        raise ValueError(f"a source route of {relays} relays leaves no room for a payload")
    return limit


# -- splitting ------------------------------------------------------------------------------------


class Fragment(NamedTuple):
    """One block as it goes into `sendUnicast`: the APS groupId, the option bit, the bytes."""

    group_id: int
    options: int
    data: bytes


def group_id(count: int, index: int) -> int:
    """The groupId of block `index` of `count` (count in the high byte, index in the low)."""
    return (count << 8) | index


def block_numbering(group_id_: int) -> tuple[int, int]:
    """(high byte, low byte) of a fragment's groupId: (count field, index)."""
    return (group_id_ >> 8) & 0xFF, group_id_ & 0xFF


def split(payload: bytes, block_size: int) -> list[Fragment]:
    """`payload` cut into blocks of `block_size` bytes (the last may be shorter)."""
    if block_size < 1:
        raise ValueError(f"block size must be at least 1 byte, not {block_size}")
    if not payload:
        raise ValueError("an empty payload has nothing to fragment")
    count = -(-len(payload) // block_size)
    if count > MAX_BLOCKS:
        raise ValueError(
            f"{len(payload)} bytes need {count} blocks of {block_size}; "
            f"APS fragmentation numbers at most {MAX_BLOCKS}"
        )
    return [
        Fragment(
            group_id(count, i), APS_OPTION_FRAGMENT, payload[i * block_size : (i + 1) * block_size]
        )
        for i in range(count)
    ]


# -- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send these blocks now (may be empty: wait for more confirmations)."""

    indices: tuple[int, ...]


@dataclass(frozen=True)
class Done:
    """Every block was confirmed delivered."""


@dataclass(frozen=True)
class Failed:
    reason: str


Step = Send | Done | Failed


class FragmentSender:
    """Which blocks to send when, given `messageSentHandler` outcomes (EmberZNet's window rule)."""

    def __init__(self, block_count: int, window: int) -> None:
        if not 1 <= block_count <= MAX_BLOCKS:
            raise ValueError(f"block count must be 1..{MAX_BLOCKS}, not {block_count}")
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"fragment window must be 1..{MAX_WINDOW}, not {window}")
        self.block_count = block_count
        self.window = window
        self.base = 0  # first block of the current window
        self.outstanding: set[int] = set()
        self.confirmed: set[int] = set()
        self.result: Done | Failed | None = None

    def start(self) -> Send:
        if self.base or self.outstanding or self.confirmed:
            raise RuntimeError("the sender has already started")
        return self._open_window()

    def _open_window(self) -> Send:
        indices = tuple(range(self.base, min(self.base + self.window, self.block_count)))
        self.outstanding.update(indices)
        return Send(indices)

    def on_sent(self, index: int, delivered: bool, why: str = "") -> Step:
        """A `messageSentHandler` for block `index`: delivered, or not (and `why`)."""
        if self.result is not None:
            return self.result
        if index in self.confirmed:
            return Send(())  # a repeated confirmation: nothing changes
        if index not in self.outstanding:
            raise ValueError(
                f"block {index} was never sent (outstanding: {sorted(self.outstanding)})"
            )
        if not delivered:
            self.outstanding.clear()
            detail = f": {why}" if why else ""
            self.result = Failed(
                f"APS fragment {index + 1} of {self.block_count} not delivered{detail}"
            )
            return self.result
        self.outstanding.discard(index)
        self.confirmed.add(index)
        if self.outstanding:
            return Send(())
        self.base += self.window
        if self.base >= self.block_count:
            self.result = Done()
            return self.result
        return self._open_window()


# -- receiving ------------------------------------------------------------------------------------

Outcome = Literal["partial", "complete", "duplicate", "refused"]


@dataclass(frozen=True)
class Received:
    outcome: Outcome
    index: int
    payload: bytes | None = None  # the whole message, on "complete"
    reason: str = ""  # why, on "refused"


@dataclass
class _Partial:
    count: int | None  # known once block 0 is in
    blocks: dict[int, bytes] = field(default_factory=dict)
    base: int = 0  # the current window's first block (window mode)
    last: float = 0.0


class Reassembler:
    """Reassembles fragmented messages block by block, checking their numbering (see above)."""

    def __init__(self, timeout_s: float, window: int | None = None) -> None:
        if timeout_s <= 0:
            raise ValueError(f"reassembly timeout must be positive, not {timeout_s}")
        if window is not None and not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"fragment window must be 1..{MAX_WINDOW}, not {window}")
        self.timeout_s = timeout_s
        self.window = window
        self._partial: dict[Hashable, _Partial] = {}
        self._completed: dict[Hashable, float] = {}

    def pending(self) -> int:
        """How many messages are partly received."""
        return len(self._partial)

    def receive(self, key: Hashable, group_id_: int, data: bytes, now: float) -> Received:
        high, index = block_numbering(group_id_)
        if key in self._completed:
            return Received("duplicate", index)
        entry = self._partial.get(key)
        count = entry.count if entry is not None else None
        if index == 0:
            if high == 0:
                return Received("refused", index, reason="block 0 carries no block count")
            if count is not None and count != high:
                return Received(
                    "refused", index, reason=f"block 0 says {high} blocks, an earlier one {count}"
                )
            count = high
        elif high and count is not None and high != count:
            return Received(
                "refused", index, reason=f"block {index} says {high} blocks, block 0 said {count}"
            )
        if count is not None and index >= count:
            return Received("refused", index, reason=f"block {index} of a {count}-block message")
        if entry is not None and index in entry.blocks:
            return Received("duplicate", index)
        base = entry.base if entry is not None else 0
        if self.window is not None and not base <= index < base + self.window:
            last = base + self.window - 1
            return Received(
                "refused", index, reason=f"block {index} is outside the window {base}..{last}"
            )
        if entry is None:
            entry = self._partial[key] = _Partial(count=None)
        if entry.count is None and count is not None:
            beyond = sorted(i for i in entry.blocks if i >= count)
            if beyond:
                del self._partial[key]
                return Received(
                    "refused",
                    index,
                    reason=f"blocks {beyond} were held for a {count}-block message",
                )
            entry.count = count
        entry.blocks[index] = data
        entry.last = now
        if entry.count is not None and len(entry.blocks) == entry.count:
            del self._partial[key]
            self._completed[key] = now
            return Received(
                "complete", index, b"".join(entry.blocks[i] for i in range(entry.count))
            )
        if self.window is not None:
            end = entry.base + self.window
            if entry.count is not None:
                end = min(end, entry.count)
            if all(i in entry.blocks for i in range(entry.base, end)):
                entry.base += self.window
        return Received("partial", index)

    def expire(self, now: float) -> list[tuple[Hashable, str]]:
        """Drop the messages with no new block for `timeout_s`; say what each was missing."""
        expired: list[tuple[Hashable, str]] = []
        for key, entry in list(self._partial.items()):
            if now - entry.last < self.timeout_s:
                continue
            del self._partial[key]
            if entry.count is None:
                missing = "block 0 (the block count) and more"
            else:
                gone = [i for i in range(entry.count) if i not in entry.blocks]
                missing = f"blocks {gone} of {entry.count}"
            expired.append(
                (key, f"fragmented message timed out after {self.timeout_s:g} s: {missing} missing")
            )
        for key, when in list(self._completed.items()):
            if now - when >= self.timeout_s:
                del self._completed[key]
        return expired
