"""The benchmark's subscriber, a process of its own: it times each message's arrival.

Usage: e2e_sub.py HOST PORT TOPIC EXPECTED OUT.json [IDLE_TIMEOUT]

Subscribes to TOPIC at QoS 1, prints "ready" once the broker has granted the subscription, and
records `time.monotonic()` for every message (CLOCK_MONOTONIC is system-wide on Linux, so the
benchmark can subtract its own injection times). It stops after EXPECTED messages, or after
IDLE_TIMEOUT seconds with none, and writes {"arrivals": [[t, key], ...]} to OUT.json, where key
is the frame's dedup id.

It is the instrument, so it must cost the machine as little as it can: on two CPUs whatever it
spends is taken from the hub it measures. paho-mqtt spent about 110 µs of CPU a message here,
more than half of what the bare bridge it is compared with spends (BENCHMARKS.md), so this is
MQTT 3.1.1 read straight off the socket: a whole recv() of PUBLISH packets is parsed in one pass,
every message in it gets that recv's time, and their PUBACKs go back in one send. Payloads are
turned into keys only after the last message.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.envelope import dedup_id
from gbcs.frame import parse_frame

CONNECT, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 0x10, 0x30, 0x40, 0x82, 0x90, 0xE0


def key_of(payload: bytes) -> str:
    if payload[:1] == b"{":  # the hub's envelope
        return str(json.loads(payload)["id"])
    return dedup_id(parse_frame(payload))  # the baseline publishes the bare frame


def packet(first_byte: int, body: bytes) -> bytes:
    """An MQTT control packet: the first byte, the remaining length (a varint), the body."""
    out = bytearray([first_byte])
    n = len(body)
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out) + body


def utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def read_packets(buf: bytes | bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """The whole packets at the start of `buf` as (first byte, body), and the bytes they take;
    a packet cut off by the end of `buf` is left for the next read."""
    out: list[tuple[int, bytes]] = []
    at, end = 0, len(buf)
    while at < end:
        length, shift, pos = 0, 0, at + 1
        while pos < end:
            digit = buf[pos]
            pos += 1
            length |= (digit & 0x7F) << shift
            shift += 7
            if not digit & 0x80:
                break
        else:
            break  # the remaining length itself is cut off
        if pos + length > end:
            break
        out.append((buf[at], bytes(buf[pos : pos + length])))
        at = pos + length
    return out, at


def publish_of(first_byte: int, body: bytes) -> tuple[bytes | None, bytes]:
    """(the PUBACK it needs, or None at QoS 0; the payload) of a PUBLISH packet."""
    at = 2 + struct.unpack_from("!H", body)[0]
    if first_byte & 0x06:  # QoS 1 (QoS 2 is never asked for)
        return bytes([PUBACK, 2]) + body[at : at + 2], body[at + 2 :]
    return None, body[at:]


def receive(sock: socket.socket, want: int, idle_timeout: float) -> list[tuple[float, bytes]]:
    got: list[tuple[float, bytes]] = []
    buf = bytearray()
    subscribed = False
    clock = time.monotonic
    while len(got) < want:
        try:
            chunk = sock.recv(1 << 18)
        except TimeoutError:
            if not subscribed:
                raise RuntimeError("not subscribed") from None
            break  # idle: the rest is not coming
        if not chunk:
            break
        now = clock()
        buf += chunk
        packets, used = read_packets(buf)
        del buf[:used]
        acks = bytearray()
        for first_byte, body in packets:
            kind = first_byte & 0xF0
            if kind == PUBLISH:
                ack, payload = publish_of(first_byte, body)
                if ack is not None:
                    acks += ack
                got.append((now, payload))
            elif kind == SUBACK and not subscribed:
                if body[2:3] not in (b"\x00", b"\x01"):
                    raise RuntimeError(f"subscription refused: {body.hex()}")
                subscribed = True
                sock.settimeout(idle_timeout)
                print("ready", flush=True)
        if acks:
            sock.sendall(acks)
    return got


def main() -> int:
    host, port, topic, expected, out = sys.argv[1:6]
    idle_timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_id = f"bench-sub-{time.time_ns()}"
        # Clean session, keepalive 0 (none: a run is short and never idle for long).
        sock.sendall(packet(CONNECT, utf8("MQTT") + b"\x04\x02\x00\x00" + utf8(client_id)))
        sock.sendall(packet(SUBSCRIBE, b"\x00\x01" + utf8(topic) + b"\x01"))
        try:
            got = receive(sock, int(expected), idle_timeout)
        except RuntimeError as exc:
            print(exc, flush=True)
            return 1
        sock.sendall(bytes([DISCONNECT, 0]))
    arrivals = [[t, key_of(p)] for t, p in got]
    Path(out).write_text(json.dumps({"arrivals": arrivals}))
    print(f"received {len(got)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
