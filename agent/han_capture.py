"""The HAN capture: every packet the radio sends and receives, as pcapng with a comment each.

`han-agent run --capture FILE` (or `[capture] file`). The radio hands each packet to `HanCapture`
(hal/se_profile.py's `packet_tap`, on any radio type); the packet becomes an IEEE 802.15.4 frame
(agent/zigbee_frame.py) in a pcapng Enhanced Packet Block (agent/pcapng.py) whose comment says
what the hub did with it (agent/capture_notes.py).

A GBCS message coming up is decided by the hub a loop turn after the radio hands it over, so its
packet waits in memory for `Hub` to report the decision (`decided`, `malformed`); packets are
written in the order the radio saw them, so one waiting holds back those after it, for at most
`decision_wait` seconds. A command going down is decided before it is sent: the decision waits
for its packet.

The file is written by one thread of its own: the event loop only queues bytes. Whatever goes
wrong with the file (a full disk, a removed USB stick) is one ERROR line, and the capture stops
while the hub goes on; health's `capture` section says so. Packets queued beyond
`MAX_QUEUED_BYTES` (a disk far slower than the HAN) are dropped and counted, not buffered without
bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zigpy.types as t

from agent import capture_notes, pcapng, zigbee_frame
from agent.consent import Mode
from agent.policy import Decision, Direction
from agent.router import eui64_bytes
from gbcs.frame import Frame, FrameError
from gbcs.tunnel import parse_tunnel_data

LOGGER = logging.getLogger(__name__)

MAX_QUEUED_BYTES = 8 * 1024 * 1024
MAX_DOWN_NOTES = 1024
DECISION_WAIT = 5.0  # seconds a packet waits for the hub's decision before it is written


@dataclass
class _Record:
    timestamp_ns: int
    frame: bytes
    direction: pcapng.PacketDirection
    note: str | None  # None: waiting for the hub's decision
    deadline: float
    device: bytes | None = None
    message: bytes = b""  # the GBCS message the hub is to decide
    in_flight: bool = False  # sent, the radio's answer not in yet

    @property
    def ready(self) -> bool:
        return self.note is not None and not self.in_flight


class _Writer(threading.Thread):
    """Appends queued blocks to the file, flushing whenever the queue runs dry."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(name="han-capture-writer", daemon=True)
        self.file = file
        self.path = path
        self.queue: queue.SimpleQueue[tuple[bytes, int] | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.queued_bytes = 0
        self.packets = 0  # packets written
        self.error: str | None = None

    def put(self, data: bytes, packets: int) -> bool:
        """Queue `data` (holding `packets` packets); False when it cannot be taken."""
        with self.lock:
            if self.error is not None or self.queued_bytes + len(data) > MAX_QUEUED_BYTES:
                return False
            self.queued_bytes += len(data)
        self.queue.put((data, packets))
        return True

    def run(self) -> None:
        while (item := self.queue.get()) is not None:
            data, packets = item
            with self.lock:
                self.queued_bytes -= len(data)
            if self.error is not None:
                continue  # stopped: what is still queued is let go
            try:
                self.file.write(data)
                if self.queue.empty():
                    self.file.flush()
            except OSError as exc:
                self._fail(exc)
            else:
                self.packets += packets
        if self.error is None:
            try:
                self.file.close()
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        with self.lock:
            self.error = exc.strerror or repr(exc)
        LOGGER.error(
            "HAN capture stopped: %s: %s; the hub goes on without it", self.path, self.error
        )
        with contextlib.suppress(OSError):
            self.file.close()


class HanCapture:
    """One capture file, or none (`path` None: every call does nothing)."""

    def __init__(
        self,
        path: Path | None,
        application: str = "han-agent",
        *,
        decision_wait: float = DECISION_WAIT,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = path
        self.application = application
        self.decision_wait = decision_wait
        self.clock = clock
        self._writer: _Writer | None = None
        self._records: deque[_Record] = deque()
        # (device, GBCS message, note) of commands the hub let down, until their packet is sent.
        self._down_notes: deque[tuple[bytes, bytes, str]] = deque(maxlen=MAX_DOWN_NOTES)
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.dropped = 0
        self.failed = 0  # packets the capture could not describe (a bug): logged once, skipped
        self._sequence = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the file (appending: each start adds a pcapng section) and start the writer.
        Raises OSError when the file cannot be opened; the caller names the key that set it."""
        if self.path is None:
            return
        file = open(self.path, "ab")  # noqa: SIM115 (the writer thread owns and closes it)
        self._writer = _Writer(file, self.path)
        self._writer.start()
        header = pcapng.section_header(self.application) + pcapng.interface_description(
            pcapng.LINKTYPE_IEEE802_15_4_NOFCS, "han"
        )
        self._writer.put(header, 0)

    async def close(self) -> None:
        """Write what waits (with what is known of it) and stop the writer."""
        if self._writer is None or self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for record in self._records:
            if record.note is None:
                record.note = capture_notes.CLOSED_BEFORE_DECISION
            record.in_flight = False
        self._flush()
        self._closed = True
        self._writer.queue.put(None)
        await asyncio.to_thread(self._writer.join, 10.0)

    def stats(self) -> dict[str, object]:
        """Health's `capture` section."""
        writer = self._writer
        if writer is None:
            state = "off"
        elif writer.error is not None:
            state = "stopped"
        else:
            state = "closed" if self._closed else "writing"
        return {
            "state": state,
            "packets": 0 if writer is None else writer.packets,
            "dropped": self.dropped,
            "error": None if writer is None else writer.error,
        }

    @property
    def on(self) -> bool:
        return self._writer is not None and self._writer.error is None and not self._closed

    # -- the radio's packets (hal.se_profile.PacketTap) -------------------------------------------

    def received(self, app: Any, packet: t.ZigbeePacket) -> None:
        if self.on:
            self._describe(app, packet, outgoing=False)

    def sending(self, app: Any, packet: t.ZigbeePacket) -> Callable[[BaseException | None], None]:
        record = self._describe(app, packet, outgoing=True) if self.on else None

        def sent(error: BaseException | None) -> None:
            if record is None:
                return
            record.in_flight = False
            if error is not None and record.note is not None:
                why = "cancelled" if isinstance(error, asyncio.CancelledError) else repr(error)
                record.note += capture_notes.send_outcome(why)
            self._flush()

        return sent

    def _describe(self, app: Any, packet: t.ZigbeePacket, *, outgoing: bool) -> _Record | None:
        try:
            record = self._record(app, packet, outgoing)
        except Exception:  # a bug here must never break the radio path
            self.failed += 1
            if self.failed == 1:
                LOGGER.exception("HAN capture: a packet could not be described; skipped")
            return None
        self._records.append(record)
        if not record.ready:
            self._arm()
        self._flush()
        return record

    def _record(self, app: Any, packet: t.ZigbeePacket, outgoing: bool) -> _Record:
        self._sequence = (self._sequence + 1) & 0xFF
        own_nwk, own_eui64 = int(app.state.node_info.nwk), eui64_bytes(app.state.node_info.ieee)
        if outgoing:
            source, source_eui64 = own_nwk, own_eui64
            destination, destination_eui64, delivery = _address(app, packet.dst)
        else:
            source, source_eui64, _ = _address(app, packet.src)
            destination, destination_eui64, delivery = _address(app, packet.dst)
            if destination == own_nwk and delivery is zigbee_frame.Delivery.UNICAST:
                destination_eui64 = own_eui64
        zcl = packet.data.serialize()
        han = zigbee_frame.HanPacket(
            source=source,
            destination=destination,
            source_endpoint=int(packet.src_ep or 0),
            destination_endpoint=int(packet.dst_ep or 0),
            profile=int(packet.profile_id),
            cluster=int(packet.cluster_id),
            payload=zcl,
            delivery=delivery,
            source_eui64=source_eui64,
            destination_eui64=destination_eui64,
            pan_id=_pan_id(app),
            sequence=self._sequence,
            radius=int(packet.radius or 30),
        )
        device = destination_eui64 if outgoing else source_eui64
        record = _Record(
            self.clock(),
            zigbee_frame.build(han),
            pcapng.PacketDirection.OUTBOUND if outgoing else pcapng.PacketDirection.INBOUND,
            None,
            time.monotonic() + self.decision_wait,
            device=device,
            in_flight=outgoing,
        )
        data = zigbee_frame.transfer_data(han.cluster, zcl)
        if data is None:
            record.note = capture_notes.local_note(
                han.profile, han.cluster, han.destination_endpoint
            )
            return record
        try:
            tunnel = parse_tunnel_data(data.data)
        except FrameError:
            tunnel = None  # not GBCS: the hub's policy says so when it reads it
        if tunnel is not None and not tunnel.message:
            record.note = capture_notes.gsme_note(tunnel.kind, tunnel.queued)
            return record
        record.message = tunnel.message if tunnel is not None else data.data
        if outgoing:
            record.note = self._down_note(device, record.message)
        return record  # upstream: its note comes with the hub's decision

    def _down_note(self, device: bytes | None, message: bytes) -> str:
        for entry in self._down_notes:
            if entry[0] == device and entry[1] == message:
                self._down_notes.remove(entry)
                return entry[2]
        return capture_notes.SENT_WITHOUT_DECISION

    # -- the hub's decisions -----------------------------------------------------------------------

    def decided(
        self, direction: Direction, device: bytes, frame: Frame, decision: Decision, mode: Mode
    ) -> None:
        """The hub decided `frame` (upstream: from `device`; downstream: for it)."""
        if not self.on:
            return
        note = capture_notes.decision_note(direction.value, device, frame, decision, mode)
        if direction is Direction.DOWNSTREAM:
            if decision.forwarded:  # a blocked command never reaches the radio
                self._down_notes.append((device, frame.raw, note))
            return
        self._settle(device, frame.raw, note)

    def malformed(self, device: bytes, data: bytes, reason: str) -> None:
        if self.on:
            self._settle(device, data, capture_notes.malformed_note(device, reason))

    def _settle(self, device: bytes, message: bytes, note: str) -> None:
        for record in self._records:
            if record.note is None and record.device == device and record.message == message:
                record.note = note
                self._flush()
                return
        # Not from the radio (the hub's own alerts): no packet waits for it.

    # -- writing ---------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write the packets at the head that are complete or have waited long enough."""
        records, writer = self._records, self._writer
        if writer is None:
            return
        now = time.monotonic()
        while records:
            head = records[0]
            if not head.ready and now < head.deadline:
                break
            if head.note is None:
                head.note = capture_notes.undecided_note(self.decision_wait)
            records.popleft()
            block = pcapng.enhanced_packet(
                head.timestamp_ns, head.frame, comment=head.note, direction=head.direction
            )
            if not writer.put(block, 1) and writer.error is None:
                self.dropped += 1

    def _arm(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(min(1.0, self.decision_wait), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._flush()
        if self._records and self.on:
            self._arm()


def _address(app: Any, address: Any) -> tuple[int, bytes | None, zigbee_frame.Delivery]:
    """(NWK address or group, EUI-64 when known, delivery mode) of a packet's address."""
    if address.addr_mode == t.AddrMode.Broadcast:
        return int(address.address), None, zigbee_frame.Delivery.BROADCAST
    if address.addr_mode == t.AddrMode.Group:
        return int(address.address), None, zigbee_frame.Delivery.GROUP
    try:
        if address.addr_mode == t.AddrMode.IEEE:
            device = app.get_device(ieee=address.address)
        else:
            device = app.get_device(nwk=address.address)
    except KeyError:
        unknown = 0xFFFE if address.addr_mode == t.AddrMode.IEEE else int(address.address)
        return unknown, None, zigbee_frame.Delivery.UNICAST
    return int(device.nwk), eui64_bytes(device.ieee), zigbee_frame.Delivery.UNICAST


def _pan_id(app: Any) -> int:
    try:
        return int(app.state.network_info.pan_id)
    except (AttributeError, TypeError, ValueError):
        return 0xFFFF
