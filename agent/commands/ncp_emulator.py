"""`han-agent ncp-emulator`: an emulated EZSP NCP on a pty, for bellows and `radio check`.

Lab and test tool (hal/ncp_emulator): it prints the path to give as `[radio] path` (or to
`han-agent radio check --path`), serves until Ctrl-C, then prints every EZSP command it was sent,
with counts. It carries no simulated devices; the lab with devices is
`bash scripts/lab.sh --radio emulated`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

NAME = "ncp-emulator"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(NAME, help="serve an emulated EZSP NCP on a pty (lab and tests)")
    cmd.add_argument(
        "--link",
        type=Path,
        default=Path(".lab/ncp-emulator"),
        help="publish the pty at this path, a symlink (default .lab/ncp-emulator)",
    )
    cmd.add_argument(
        "--eui64", default="00:db:12:34:56:78:90:a2", help="the NCP's EUI-64 (aa:bb:...)"
    )


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args.link, args.eui64))


async def _serve(link: Path, eui64: str) -> int:
    from hal.ncp_emulator.emulator import NcpEmulator

    ncp = NcpEmulator(link, eui64=eui64)
    path = ncp.plug()
    print(f"EZSP v13 NCP emulator on {path} ({ncp.link.slave_path if ncp.link else '-'})")
    print("Ctrl-C stops it", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        ncp.close()  # also removes the link
    print("EZSP commands seen:")
    for name, count in ncp.command_counts().items():
        print(f"  {name} {count}")
    return 0
