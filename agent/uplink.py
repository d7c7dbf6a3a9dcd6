"""The MQTT uplink: the hub's WAN, on aiomqtt.

What it promises:

* `bridge/state` is retained `{"state": "online"}` while connected; the CONNECT carries a
  matching retained last will `{"state": "offline"}`, so a hub that dies reads offline.
* Retained topics (bridge/info, consent) are republished after every (re)connect, so a broker
  that lost its retained store is repaired by the hub.
* Queued messages are published at their QoS in the order they were queued. A message leaves the
  queue only when the broker has acknowledged it (PUBACK for QoS 1); after a lost connection
  every unacknowledged message is sent again, so a consumer may see a duplicate (same `id`) but
  never a gap while the process lives. Durability across process death is the outbox's job.
* Reconnects use exponential backoff with jitter, capped.
* Incoming messages are handled in order within a topic, each topic on its own: a consent
  change does not wait behind a backlog of commands for a slow meter (each may wait seconds
  for its radio acknowledgement), and two commands on `down/gbcs` never overtake each other.
* What the WAN can make the hub hold is bounded (`InboundLimits`): each message is queued or
  shed as paho reads it; past the bounds the oldest waiting message is shed, consent requests
  last; a message over its topic's size is answered, never held; and request handlers pause
  while ANSWERS_HIGH_WATER answers wait for the broker, so overload is shed where it comes in.
  Answers take at most half the publish window while outbox records (meter alerts) wait.
* The retained topics the hub owns (OWNED_RETAINED) are said again when another client changes
  them, and another client taking the hub's session (its client id) is said once and slows
  the hub's reconnects, so two hubs on one id do not flap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiomqtt

from agent.config import MqttSettings
from agent.logs import RepeatLimiter
from agent.outbox import Outbox, Record
from agent.wan_input import Oversize

LOGGER = logging.getLogger(__name__)

ONLINE = json.dumps({"state": "online"}).encode()
OFFLINE = json.dumps({"state": "offline"}).encode()
MAX_INFLIGHT = 32
MAX_CONTROL_SHARE = MAX_INFLIGHT // 2
ANSWERS_HIGH_WATER = 256
"""Answers (and other messages outside the outbox) queued for the broker at which request
handlers pause until they fall to ANSWERS_LOW_WATER."""
ANSWERS_LOW_WATER = 64
OWNED_RETAINED = ("bridge/state", "bridge/info", "consent")
"""Retained topics only the hub may write; it says them again when another client changes them."""
REASSERT_S = 10.0
SHORT_SESSION_S = 5.0
TAKEOVER_SESSIONS = 3
"""Sessions in a row ended within SHORT_SESSION_S of connecting: what a takeover looks like under
MQTT 3.1.1, whose broker closes the older session without saying why."""
TAKEOVER_BACKOFF_S = 30
SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason code


def _taken_over(error: str | None) -> bool:
    """The broker's MQTT 5 reason for closing the session: another client took its id."""
    return error is not None and (
        f"[code:{SESSION_TAKEN_OVER}]" in error or "Session taken over" in error
    )


MessageHandler = Callable[[str, "bytes | Oversize"], Awaitable[None]]


@dataclass(frozen=True)
class InboundLimits:
    """Bounds on what the WAN can make the hub hold. Messages waiting to be handled, all topics
    together, are bounded by count and bytes; past either bound the oldest waiting message is
    shed, taken first from topics not in `shed_last` (a flood of commands must not push out a
    consent change). A message over its topic's byte limit is refused without being held."""

    max_bytes: dict[str, int] = field(default_factory=dict)  # topic suffix -> payload limit
    default_max_bytes: int = 16384
    queue_messages: int = 512
    queue_bytes: int = 8 * 1024 * 1024
    shed_last: frozenset[str] = frozenset({"bridge/request/consent"})
    shed_last_messages: int = 64
    """Messages waiting on each `shed_last` topic, oldest shed past it: shed last must not mean
    a backlog of seconds of junk ahead of the next real change."""

    def max_bytes_for(self, suffix: str) -> int:
        return self.max_bytes.get(suffix, self.default_max_bytes)


@dataclass
class InboundCounters:
    waiting: int = 0
    waiting_bytes: int = 0
    handled: int = 0
    failed: int = 0  # the handler raised: a bug, logged (rate-limited) with its traceback
    retained_ignored: int = 0
    shed: Counter[str] = field(default_factory=Counter)
    too_large: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "waiting": self.waiting,
            "waiting_bytes": self.waiting_bytes,
            "handled": self.handled,
            "failed": self.failed,
            "retained_ignored": self.retained_ignored,
            "shed": dict(self.shed),
            "shed_total": sum(self.shed.values()),
            "too_large": dict(self.too_large),
        }


@dataclass
class Lane:
    """One topic's messages waiting to be handled, in order, each with its arrival number."""

    topic: str
    suffix: str  # the topic below the hub's base, as limits and counters name it
    max_bytes: int
    shed_last: bool
    items: deque[tuple[int, bytes | Oversize]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def _size(item: bytes | Oversize) -> int:
    return len(item) if isinstance(item, bytes) else 0


class _Arrivals(asyncio.Queue[aiomqtt.Message]):
    """aiomqtt's incoming-message queue (its documented `queue_type`), subclassed per uplink so
    that `put_nowait`, which aiomqtt calls for each message paho reads, hands the message to
    the uplink at once; nothing is ever stored in the queue itself."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class Uplink:
    def __init__(
        self,
        settings: MqttSettings,
        topic_base: str,
        on_message: MessageHandler,
        subscriptions: tuple[str, ...] = (),
        client_id: str | None = None,
        outbox: Outbox | None = None,
        limits: InboundLimits | None = None,
    ) -> None:
        self.settings = settings
        self.base = topic_base
        self.on_message = on_message
        self.subscriptions = subscriptions
        self.client_id = client_id or settings.client_id or f"han-agent-{topic_base.split('/')[-1]}"
        self.retained: dict[str, bytes] = {}
        # Retained messages on topics outside the hub's base (Home Assistant discovery), by
        # absolute topic; b"" is a removal, said again after a reconnect like the rest.
        self.retained_absolute: dict[str, bytes] = {}
        self._queue: deque[Outgoing] = deque()
        # Set while the queue above is short: request handlers wait for it (backpressure), so a
        # flood is shed where it comes in, counted, instead of piling up answers here.
        self._answer_room = asyncio.Event()
        self._answer_room.set()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is queued or awaiting an ack
        self._idle.set()
        self.connected = asyncio.Event()
        self.published = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self._client: aiomqtt.Client | None = None
        # topic -> its messages not yet handled, and the task handling them in order. They
        # outlive a connection: a message the broker delivered is handled even if the link drops.
        self._lanes: dict[str, Lane] = {}
        self._lane_tasks: set[asyncio.Task[None]] = set()
        self._limits = limits or InboundLimits()
        self._sequence = 0
        self.inbound = InboundCounters()
        self._warn = RepeatLimiter()
        self._reassert = RepeatLimiter(REASSERT_S)
        self.reasserted: Counter[str] = Counter()
        self.takeovers = 0
        self._closing = False
        self.outbox = outbox
        if outbox is not None:
            outbox.on_ready = self._work_arrived

    def topic(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    # -- what the hub calls ---------------------------------------------------------------------

    def publish(self, suffix: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self._enqueue(Outgoing(self.topic(suffix), payload, qos, retain))

    def _enqueue(self, item: Outgoing) -> None:
        self._queue.append(item)
        if len(self._queue) >= ANSWERS_HIGH_WATER:
            self._answer_room.clear()
        self._idle.clear()
        self._wakeup.set()

    def _work_arrived(self) -> None:
        self._idle.clear()
        self._wakeup.set()

    def set_retained(self, suffix: str, payload: bytes) -> None:
        """A retained topic the hub owns: published now and again after every reconnect."""
        self.retained[suffix] = payload
        if self.connected.is_set():  # else _on_connect publishes it with the others
            self.publish(suffix, payload, qos=1, retain=True)

    def set_retained_absolute(self, topic: str, payload: bytes) -> None:
        """A retained message on a topic outside the hub's base (`topic` is the whole topic):
        published now and again after every reconnect. An empty payload removes the broker's
        copy. Not watched for changes by other clients (OWNED_RETAINED is not extended)."""
        self.retained_absolute[topic] = payload
        if self.connected.is_set():  # else _on_connect publishes it with the others
            self._enqueue(Outgoing(topic, payload, 1, True))

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- the connection loop ---------------------------------------------------------------------

    def _client_for(self) -> aiomqtt.Client:
        s = self.settings
        tls_context = None
        if s.tls:
            tls_context = ssl.create_default_context(cafile=str(s.ca) if s.ca else None)
            if s.cert is not None and s.key is not None:
                tls_context.load_cert_chain(str(s.cert), str(s.key))
        uplink = self

        class Arrivals(_Arrivals):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                uplink._arrived(item)

        client = aiomqtt.Client(
            s.host,
            s.port,
            identifier=self.client_id,
            username=s.username,
            password=s.password,
            keepalive=s.keepalive,
            protocol=(
                aiomqtt.ProtocolVersion.V5 if s.protocol == "5" else aiomqtt.ProtocolVersion.V311
            ),
            will=aiomqtt.Will(self.topic("bridge/state"), OFFLINE, qos=1, retain=True),
            tls_context=tls_context,
            timeout=10,
            queue_type=Arrivals,
        )
        # Up to MAX_INFLIGHT publishes await their PUBACK by design; aiomqtt's default (10)
        # would log a warning for every publish past the tenth, thousands a second in a burst.
        client.pending_calls_threshold = MAX_INFLIGHT + 1
        return client

    async def run(self) -> None:
        """Stay connected until cancelled."""
        try:
            await self._connect_forever()
        finally:
            for task in self._lane_tasks:
                task.cancel()
            await asyncio.gather(*self._lane_tasks, return_exceptions=True)

    async def _connect_forever(self) -> None:
        backoff = 0.5
        short_sessions = 0  # in a row: sessions ended within SHORT_SESSION_S of connecting
        while True:
            connacked = False  # the broker took the CONNECT
            connected_at: float | None = None  # ... and the session got through _on_connect
            try:
                async with self._client_for() as client:
                    connacked = True
                    self._client = client
                    await self._on_connect(client)
                    connected_at = time.monotonic()
                    await self._serve(client)
            except (aiomqtt.MqttError, OSError) as exc:
                # OSError too: paho can surface socket errors raw around a reconnect, and
                # nothing short of cancellation may end the hub's only WAN link.
                # aiomqtt puts the broker's reason (an MQTT 5 reason code) in the cause.
                cause = exc.__cause__
                self.last_error = f"{exc}: {cause}" if cause is not None else str(exc)
                if self._warn.allow(f"lost {type(exc).__name__}"):
                    LOGGER.warning(
                        "MQTT connection to %s:%s lost or refused: %s",
                        self.settings.host,
                        self.settings.port,
                        self.last_error,
                    )
            except Exception as exc:  # a bug here must not end the WAN link for good
                self.last_error = repr(exc)
                LOGGER.exception("MQTT session failed; reconnecting")
            finally:
                self._client = None
                self.connected.clear()
            self.reconnects += 1
            # A session taken over while it still said its retained topics is the shortest of
            # all (aiomqtt may only notice at its 10 s publish timeout); a CONNECT the broker
            # never took (it is down) says nothing either way.
            lasted = None if connected_at is None else time.monotonic() - connected_at
            if connacked:
                short = lasted is None or lasted < SHORT_SESSION_S
                short_sessions = short_sessions + 1 if short else 0
            if lasted is not None and lasted >= SHORT_SESSION_S:
                backoff = 0.5  # a session that held: the next loss starts the backoff anew
            if _taken_over(self.last_error) or short_sessions >= TAKEOVER_SESSIONS:
                self._taken_over()
                backoff = max(backoff, TAKEOVER_BACKOFF_S)
            delay = backoff * (0.5 + random.random())  # jitter: hubs must not reconnect in step
            backoff = min(backoff * 2, 60.0)
            await asyncio.sleep(delay)

    def _taken_over(self) -> None:
        """Another client connected with this hub's client id: the broker closes the older
        session, each reconnect closes the other's, and `bridge/state` flips between them."""
        self.takeovers += 1
        if self._warn.allow("takeover"):
            LOGGER.error(
                "another MQTT client connected to %s:%s with this hub's client id %r and took "
                "over its session (%s): a second hub with the same [mqtt] client_id or hub_id? "
                "Reconnecting no sooner than every %d s while it lasts",
                self.settings.host,
                self.settings.port,
                self.client_id,
                self.last_error,
                TAKEOVER_BACKOFF_S,
            )

    def mqtt_stats(self) -> dict[str, object]:
        return {
            "connected": self.connected.is_set(),
            "client_id": self.client_id,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "takeovers": self.takeovers,
            "reasserted": dict(self.reasserted),
        }

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topic("bridge/state"), ONLINE, qos=1, retain=True)
        # A copy: the hub may set a retained topic (health, consent) while these publishes
        # await their acks, and a dict changed mid-iteration would end the uplink task.
        sent = dict(self.retained)
        for suffix, payload in sent.items():
            await client.publish(self.topic(suffix), payload, qos=1, retain=True)
        sent_absolute = dict(self.retained_absolute)
        for topic, payload in sent_absolute.items():
            await client.publish(topic, payload, qos=1, retain=True)
        for suffix in self.subscriptions:
            await client.subscribe(self.topic(suffix), qos=1)
        # The retained topics the hub owns, to see them changed by anyone else (after ours are
        # published, so the broker's copy it sends now is ours unless someone else's came since).
        for suffix in OWNED_RETAINED:
            await client.subscribe(self.topic(suffix), qos=1)
        self.connected.set()
        # Set while the awaits above ran (health, a consent change): set_retained saw no
        # connection and left them to this method, after its copy was taken.
        for suffix, payload in list(self.retained.items()):
            if sent.get(suffix) != payload:
                self.publish(suffix, payload, qos=1, retain=True)
        for topic, payload in list(self.retained_absolute.items()):
            if sent_absolute.get(topic) != payload:
                self._enqueue(Outgoing(topic, payload, 1, True))
        LOGGER.info(
            "MQTT connected to %s:%s as %s", self.settings.host, self.settings.port, self.client_id
        )

    def _owned(self, suffix: str, payload: bytes) -> None:
        """A message on a retained topic the hub owns: if it is not what the hub says there, it
        came from someone else (a spoof, or a stale copy), and the hub says it again, retained,
        at most once every REASSERT_S per topic (two hubs on one id must not ping-pong)."""
        if self._closing:  # our own `offline`, said as the hub stops
            return
        ours = ONLINE if suffix == "bridge/state" else self.retained.get(suffix)
        if ours is None or payload == ours:
            return
        if not self._reassert.allow(suffix):
            return
        self.reasserted[suffix] += 1
        if self._warn.allow(f"reassert {suffix}"):
            LOGGER.warning(
                "%s was changed on the broker by another client: the hub published its own again",
                self.topic(suffix),
            )
        self.publish(suffix, ours, qos=1, retain=True)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Publish and receive until either fails; its error (an MqttError) ends the session."""
        tasks = [
            asyncio.ensure_future(self._drain(client)),
            asyncio.ensure_future(self._receive(client)),
        ]
        try:
            done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # re-raises the first failure
        raise aiomqtt.MqttError("MQTT session ended")

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Waits for the session to end: messages never reach this queue (`_Arrivals` takes
        each one as paho reads it); the iterator raises when the connection is lost."""
        async for _message in client.messages:
            pass

    def _arrived(self, message: aiomqtt.Message) -> None:
        """Every message, as paho reads it off the socket (called by `_Arrivals.put_nowait`).

        Taken here rather than from aiomqtt's message iterator, which hands over one message per
        turn of the event loop while paho reads up to one per publish in flight each turn: under a
        flood its queue grew without bound (hundreds of MB). Here each message is queued on its
        lane, or shed, at once, so the bounds below hold whatever the WAN sends."""
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes) else b""
        suffix = topic.removeprefix(self.base + "/")
        if suffix in OWNED_RETAINED:
            self._owned(suffix, payload)
            return
        if message.retain:
            # Only a message stored on the broker arrives flagged retained (a live one is
            # delivered with the flag cleared): a request or command left there would be
            # acted on again at every reconnect, long after it was meant.
            self.inbound.retained_ignored += 1
            if self._warn.allow(f"retained {topic}"):
                LOGGER.warning(
                    "ignored a retained message on %s: requests are never retained", topic
                )
            return
        lane = self._lanes.get(topic) or self._open_lane(topic)
        self._admit(lane, payload)

    def _open_lane(self, topic: str) -> Lane:
        suffix = topic.removeprefix(self.base + "/")
        limits = self._limits
        lane = self._lanes[topic] = Lane(
            topic, suffix, limits.max_bytes_for(suffix), suffix in limits.shed_last
        )
        task = asyncio.get_running_loop().create_task(self._handle_lane(lane))
        self._lane_tasks.add(task)
        return lane

    def _admit(self, lane: Lane, payload: bytes) -> None:
        """Queue a message on its lane within the inbound bounds, shedding the oldest waiting
        message of another kind first (consent requests last) when they are exceeded."""
        item: bytes | Oversize = payload
        if len(payload) > lane.max_bytes:
            # Answered as refused, but never held: a flood of large payloads costs no memory.
            item = Oversize(len(payload), lane.max_bytes)
            self.inbound.too_large[lane.suffix] += 1
        self._sequence += 1
        lane.items.append((self._sequence, item))
        self.inbound.waiting += 1
        self.inbound.waiting_bytes += _size(item)
        lane.wake.set()
        limits = self._limits
        if lane.shed_last and len(lane.items) > limits.shed_last_messages:
            self._shed_one(lane)
        while (
            self.inbound.waiting > limits.queue_messages
            or self.inbound.waiting_bytes > limits.queue_bytes
        ):
            self._shed_one()

    def _shed_one(self, victim: Lane | None = None) -> None:
        """Sheds the oldest waiting message of `victim`, or else of the lane whose head is the
        oldest, taken from lanes not in `shed_last` first."""
        for protected in (False, True):
            if victim is not None:
                break
            for lane in self._lanes.values():
                if not lane.items or lane.shed_last != protected:
                    continue
                if victim is None or lane.items[0][0] < victim.items[0][0]:
                    victim = lane
        if victim is None:  # unreachable while the counts are right; never loop for ever
            self.inbound.waiting = self.inbound.waiting_bytes = 0
            return
        _seq, item = victim.items.popleft()
        self.inbound.waiting -= 1
        self.inbound.waiting_bytes -= _size(item)
        suffix = victim.suffix
        self.inbound.shed[suffix] += 1
        if self._warn.allow(f"shed {suffix}"):
            LOGGER.warning(
                "inbound queue full (%d messages, %d bytes): shedding the oldest requests on %s "
                "(counted in health as inbound.shed)",
                self._limits.queue_messages,
                self._limits.queue_bytes,
                suffix,
            )

    async def _handle_lane(self, lane: Lane) -> None:
        while True:
            if not lane.items:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            if not self._answer_room.is_set():
                await self._answer_room.wait()
                continue  # the lane may have been shed meanwhile
            _seq, item = lane.items.popleft()
            self.inbound.waiting -= 1
            self.inbound.waiting_bytes -= _size(item)
            self.inbound.handled += 1
            try:
                await self.on_message(lane.topic, item)
            except Exception as exc:  # one bad request must not stop its topic
                self.inbound.failed += 1
                if self._warn.allow(f"failed {lane.topic} {type(exc).__name__}"):
                    LOGGER.exception("handling a message on %s failed", lane.topic)

    def inbound_stats(self) -> dict[str, object]:
        return {**self.inbound.as_dict(), "answers_waiting": self.queued}

    def _outbox_ready(self) -> bool:
        return self.outbox is not None and self.outbox.has_ready()

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Control messages first, then the outbox; up to MAX_INFLIGHT awaiting their PUBACK.

        Publishes are issued in order. A new message goes out as soon as there is room in the
        window: never behind an older publish whose PUBACK is slow (waiting on the oldest was
        the hub's worst latency, tens of ms, BENCHMARKS.md). Acknowledgements are retired as
        they come, in any order; each wakes this loop through the task's done callback.
        """
        inflight: dict[asyncio.Task[None], Outgoing | Record] = {}  # in the order issued
        controls = 0  # of them, control messages
        finished: list[asyncio.Task[None]] = []  # done since the last turn, in that order
        wake = self._wakeup

        def acknowledged(task: asyncio.Task[None]) -> None:
            finished.append(task)
            wake.set()

        def issue(item: Outgoing | Record, retain: bool) -> None:
            publish = client.publish(item.topic, item.payload, qos=item.qos, retain=retain)
            task = asyncio.ensure_future(publish)
            task.add_done_callback(acknowledged)
            inflight[task] = item

        try:
            while True:
                wake.clear()  # before looking: anything that happens from here wakes us
                done = finished.copy()
                finished.clear()
                for task in done:
                    task.result()  # a failed publish ends the session (its item goes back)
                    item = inflight.pop(task)
                    self.published += 1
                    if isinstance(item, Record):
                        if self.outbox is not None:
                            self.outbox.ack(item)
                    else:
                        controls -= 1
                # Control messages (answers, state) go first, but take at most half the window
                # while outbox records wait: answers to a flood of requests must not hold the
                # meters' alerts back.
                room = MAX_CONTROL_SHARE if self._outbox_ready() else MAX_INFLIGHT
                while self._queue and len(inflight) < MAX_INFLIGHT and controls < room:
                    item = self._queue.popleft()
                    if len(self._queue) < ANSWERS_LOW_WATER:
                        self._answer_room.set()
                    issue(item, item.retain)
                    controls += 1
                if self.outbox is not None and len(inflight) < MAX_INFLIGHT:
                    for record in self.outbox.take(MAX_INFLIGHT - len(inflight)):
                        issue(record, False)
                if not self._queue and not inflight and not self._outbox_ready():
                    self._idle.set()
                await wake.wait()
        except BaseException:
            # Not acknowledged: back where they came from, in their original order.
            records = []
            for task, item in reversed(inflight.items()):
                task.cancel()
                if isinstance(item, Record):
                    records.append(item)
                else:
                    self._queue.appendleft(item)
            if self.outbox is not None and records:
                self.outbox.release(records)
            raise

    async def close(self, flush_seconds: float = 5.0) -> None:
        """Flush what can be flushed, say offline, disconnect."""
        self._closing = True
        client = self._client
        if client is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_seconds):
                await self._idle.wait()
        if self._queue:
            LOGGER.warning(
                "stopping with %d messages not acknowledged by the broker", len(self._queue)
            )
        # A clean disconnect suppresses the last will, so say offline ourselves, whatever the flush.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(flush_seconds):
                await client.publish(self.topic("bridge/state"), OFFLINE, qos=1, retain=True)
