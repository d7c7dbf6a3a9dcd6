"""Outbox figures: committed records per second with the batching, and the time from a broker
restart to a 5,000-record backlog being drained to a subscriber.

    .venv/bin/python bench/outbox_bench.py [--records 20000] [--backlog 5000]

1. Commit rate: records added to an Outbox on a real SQLite file (WAL, synchronous=FULL) as fast
   as the event loop can, timed until all are committed; one fsync per batch window.
2. Drain: a hub in full mode with its broker down, the simulated ESME raising `--backlog`
   alerts (all committed to the outbox), then mosquitto started on the hub's port; timed from
   the broker's start to the subscriber holding every alert.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import free_port, start_mosquitto, stop_process, write_config  # noqa: E402

from agent.config import load_config  # noqa: E402
from agent.hub import Hub  # noqa: E402
from agent.lab import Lab  # noqa: E402
from agent.outbox import Outbox  # noqa: E402

PAYLOAD = b'{"id":"x","frame":"' + b"A" * 600 + b'"}'  # about an up/ envelope's size


async def commit_rate(records: int, work: Path) -> None:
    box = Outbox(work / "bench.sqlite", max_bytes=2**40, max_age=10**6)
    await box.open()
    start = time.perf_counter()
    for i in range(records):
        box.add("gbcs-hub/HUB/up/alert", PAYLOAD, category="alert", dedup_id=str(i))
        if i % 200 == 0:
            await asyncio.sleep(0)  # the writer runs as it would between radio frames
    while box.committed < records:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - start
    print(
        f"commit rate: {records:,} records ({len(PAYLOAD)} B) committed in {elapsed:.2f} s = "
        f"{records / elapsed:,.0f} records/s in {box.commits:,} commits "
        f"({records / max(box.commits, 1):.0f} records per fsync'd commit)"
    )
    await box.close()


async def drain(backlog: int, work: Path) -> None:
    port = free_port()
    config = load_config(
        write_config(work / "hub", None, mode="full", mqtt_url=f"mqtt://127.0.0.1:{port}")
    )
    hub = Hub(config)
    lab = Lab(hub, config.lab)
    await hub.start()
    await lab.start(traffic=False, join_timeout=30)
    for i in range(backlog):
        lab.esme.raise_alert(0x8F3E, critical=False, message_code=0x1001)
        if i % 50 == 0:
            await asyncio.sleep(0.005)
    while hub.outbox.committed < backlog:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    print(f"backlog: {backlog:,} alerts committed while the broker is down")
    broker = start_mosquitto(work / "broker", port)
    start = time.perf_counter()
    try:
        async with asyncio.timeout(300):
            await hub.uplink.connected.wait()
            connected = time.perf_counter() - start
            while hub.outbox.count:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        print(
            f"drain: broker start to all {backlog:,} records acknowledged by the broker and "
            f"deleted in {elapsed:.2f} s (reconnect after {connected:.2f} s of backoff, then "
            f"{backlog / (elapsed - connected):,.0f} records/s)"
        )
    finally:
        await lab.stop()
        await hub.stop()
        stop_process(broker.pid, broker.process)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--backlog", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="outbox-bench-") as tmp:
        work = Path(tmp)
        await commit_rate(args.records, work)
        await drain(args.backlog, work)


if __name__ == "__main__":
    asyncio.run(main())
