"""Firmware transfer on the virtual radio: time and block count for one image.

Starts a real mosquitto on a free loopback port and a hub with the lab's simulated ESME over the
virtual radio, builds a GBCS OTA image signed with the lab's TEST Supplier key around a random
manufacturer image of --size bytes, sends it on bridge/request/firmware and measures from the
request to the hub's answer on bridge/response/firmware. Prints the figures; asserts nothing
about speed (not a timed test).

    .venv/bin/python bench/firmware_bench.py --size 204800
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiomqtt  # noqa: E402
from conftest import start_mosquitto, stop_process, write_config  # noqa: E402
from test_e2e import running_hub  # noqa: E402

from agent.config import load_config  # noqa: E402
from gbcs import signature  # noqa: E402
from gbcs.firmware_image import build_image  # noqa: E402

KEY = ROOT / "config/lab/TEST-ONLY-lab-supplier.key.pem"


async def bench(size: int, workdir: Path) -> dict[str, object]:
    broker = start_mosquitto(workdir / "broker")
    try:
        extra = f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n'
        config = load_config(write_config(workdir / "hub", broker, mode="restricted", extra=extra))
        key = signature.load_private_key(KEY.read_bytes())
        image = build_image(
            os.urandom(size), lambda d: signature.sign(key, d), file_version=0x00020001
        )
        base = f"test/{config.hub_id}"
        async with running_hub(config) as (hub, lab):
            lab.esme.ota.supplier_key = key.public_key()
            eui = lab.esme.eui64.hex().upper()
            async with aiomqtt.Client(broker.host, broker.port) as wan:
                await wan.subscribe(f"{base}/bridge/response/firmware", qos=1)
                request = {
                    "transaction": "bench",
                    "image": base64.b64encode(image).decode(),
                    "targets": [eui],
                }
                started = time.monotonic()
                await wan.publish(f"{base}/bridge/request/firmware", json.dumps(request), qos=1)
                async with asyncio.timeout(600):
                    async for message in wan.messages:
                        answer = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                        break
                elapsed = time.monotonic() - started
            target = answer["data"]["targets"][eui]
            return {
                "file_bytes": len(image),
                "status": answer["status"],
                "blocks_served": target["blocks"],
                "blocks_fetched_by_meter": lab.esme.ota.blocks,
                "transfer_s": target["seconds"],
                "request_to_answer_s": round(elapsed, 3),
                "meter_result": lab.esme.ota.last_result,
                "hub_sees": hub.firmware.status["targets"][eui]["state"],  # type: ignore[index]
            }
    finally:
        stop_process(broker.pid, broker.process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200 * 1024, help="manufacturer image bytes")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="han-agent-fwbench-"))
    try:
        figures = asyncio.run(bench(args.size, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"python {platform.python_version()} on {platform.machine()}, virtual radio")
    for name, value in figures.items():
        print(f"{name}: {value}")
    blocks = int(figures["blocks_served"])  # type: ignore[call-overload]
    seconds = float(figures["transfer_s"])  # type: ignore[arg-type]
    print(
        f"throughput: {int(figures['file_bytes']) / seconds / 1024:.1f} KiB/s, "  # type: ignore[call-overload]
        f"{blocks / seconds:.0f} blocks/s"
    )
    return 0 if figures["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
