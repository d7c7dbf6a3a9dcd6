"""The benchmark's subscriber, a process of its own: it times each message's arrival.

Usage: e2e_sub.py HOST PORT TOPIC EXPECTED OUT.json [IDLE_TIMEOUT]

Subscribes to TOPIC at QoS 1, prints "ready" once the broker has granted the subscription, and
records `time.monotonic()` for every message (CLOCK_MONOTONIC is system-wide on Linux, so the
benchmark can subtract its own injection times). Work per message is one append; the payloads
are turned into keys only after the last one, so the subscriber is never the slow part. It stops
after EXPECTED messages, or after IDLE_TIMEOUT seconds with none, and writes
{"arrivals": [[t, key], ...]} to OUT.json, where key is the frame's dedup id.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.envelope import dedup_id
from gbcs.frame import parse_frame


def key_of(payload: bytes) -> str:
    if payload[:1] == b"{":  # the hub's envelope
        return str(json.loads(payload)["id"])
    return dedup_id(parse_frame(payload))  # the baseline publishes the bare frame


def main() -> int:
    host, port, topic, expected, out = sys.argv[1:6]
    idle_timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
    want = int(expected)
    got: list[tuple[float, bytes]] = []
    done = threading.Event()
    subscribed = threading.Event()
    clock = time.monotonic

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append((clock(), msg.payload))
        if len(got) >= want:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{time.time_ns()}")
    client.max_inflight_messages_set(1000)
    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(host, int(port), keepalive=30)
    client.loop_start()
    if not subscribed.wait(10):
        print("not subscribed", flush=True)
        return 1
    print("ready", flush=True)
    seen = 0
    while not done.wait(idle_timeout):
        if len(got) == seen:
            break  # idle: the rest is not coming
        seen = len(got)
    client.loop_stop()
    client.disconnect()
    arrivals = [[t, key_of(p)] for t, p in got]
    Path(out).write_text(json.dumps({"arrivals": arrivals}))
    print(f"received {len(got)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
