"""Time to send a fragmented GBCS command through the EZSP send path (host side only).

    .venv/bin/python bench/fragment_bench.py [--count 200]

A signed critical command of 150 bytes with its ZCL header (2 APS blocks), a CS06-like one (3)
and one filling
a meter's 1500-byte tunnel (19 blocks) go down as the hub sends them: zigpy's cluster command,
the hub's EzspRadioApp, bellows' real EZSP protocol handler serializing every sendUnicast, and
the in-process NCP stand-in of the tests (tests/ezsp_stand_in.py) answering and confirming each
block at once. So the figure is what the host costs per command, with no serial link (ASH at
115200 baud) and no air time (about 6 ms a full frame plus the APS ack, docs/gbcs-notes.md 9.4):
on a real NCP those dominate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ezsp_stand_in import StandInNcp  # noqa: E402
from test_ezsp_fragments import LATEST, make_app, signed_command, transfer  # noqa: E402

from hal.tunneling import MAX_INCOMING_TRANSFER_SIZE  # noqa: E402


async def time_sends(command: bytes, count: int, window: int, work: Path) -> list[float]:
    ncp = StandInNcp(version=LATEST, window=window)
    app = await make_app(work, ncp)
    await transfer(app, command)  # the window is asked once: not part of the figure
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await transfer(app, command)
        times.append(time.perf_counter() - start)
    if ncp.delivered[-1][5:] != command or ncp.refusals:
        raise SystemExit(f"the command did not arrive intact: {ncp.refusals}")
    blocks = len(ncp.unicasts) // (count + 1)
    print(
        f"{len(command) + 5:5d} bytes (ZCL), {blocks:2d} blocks, window {window}: "
        f"median {statistics.median(times) * 1000:.2f} ms, "
        f"p99 {sorted(times)[int(len(times) * 0.99) - 1] * 1000:.2f} ms over {count} sends"
    )
    return times


def command_of_at_most(length: int) -> bytes:
    """The longest signed command (GBCS bytes) no longer than `length`."""
    size = length - len(signed_command(0))
    while len(command := signed_command(size)) > length:
        size -= 1  # the BER lengths grow with the payload
    return command


def largest_command() -> bytes:
    return command_of_at_most(MAX_INCOMING_TRANSFER_SIZE)


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        command_150 = command_of_at_most(150 - 5)  # 5: ZCL header and tunnel id
        await time_sends(command_150, count, 1, work / "a")
        await time_sends(signed_command(), count, 1, work / "a2")
        await time_sends(largest_command(), max(count // 10, 5), 1, work / "b")
        await time_sends(largest_command(), max(count // 10, 5), 8, work / "c")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    asyncio.run(main(parser.parse_args().count))
