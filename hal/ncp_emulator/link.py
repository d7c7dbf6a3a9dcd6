"""The NCP end of the serial line: a pty whose slave the host opens, and ASH on its master.

ASH is bellows' own `AshProtocol` (frame classes, byte stuffing, CRC-CCITT, data randomisation,
frame and ack numbers, ACK timeouts and retransmission): the protocol is symmetric apart from the
reset handshake, so the NCP side only answers RST with RSTACK and resets its sequence numbers as
the EZSP-UART spec (UG101) has the NCP do. Every DATA frame the host sends is ACKed by the same
code that ACKs the NCP's frames on the host, and the NCP's own DATA frames are retransmitted by
bellows' `_send_data_frame` when the host does not ACK them.

The pty is raw (no echo, no line discipline) from the moment it exists, so nothing the NCP writes
comes back to it before the host has opened the slave and set it up. The slave path is published
through a symlink whose name stays the same across a "pulled" and "plugged back" radio, as a
/dev/serial/by-id name does for a real dongle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bellows.types as t
from bellows.ash import AshProtocol, RStackFrame

LOGGER = logging.getLogger(__name__)

ASH_VERSION = 0x02  # the only ASH version there is (UG101 3.3: RSTACK carries it)


class NcpAshProtocol(AshProtocol):
    """bellows' ASH state machine, on the NCP side of the line."""

    def __init__(self, ezsp: Any, on_reset: Callable[[], None]) -> None:
        super().__init__(ezsp)
        self._on_reset = on_reset
        self.resets = 0

    def rst_frame_received(self, frame: Any) -> None:
        # UG101 3.2: on RST the NCP resets, both sides start again at frame number 0, and the
        # NCP says so with RSTACK and the reset reason.
        super().rst_frame_received(frame)
        self._tx_seq = 0
        self._rx_seq = 0
        self._cancel_pending_data_frames(ConnectionResetError("host reset the NCP"))
        self.resets += 1
        self._on_reset()
        self._write_frame(
            RStackFrame(version=ASH_VERSION, reset_code=t.NcpResetCode.RESET_SOFTWARE)
        )

    def rstack_frame_received(self, frame: Any) -> None:
        LOGGER.error("NCP emulator: the host sent RSTACK, which only an NCP sends")

    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()


class _PtyTransport(asyncio.Transport):
    """Writes to the pty master; reads arrive through `loop.add_reader`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, protocol: AshProtocol) -> None:
        super().__init__()
        self._loop = loop
        self._fd = fd
        self._protocol = protocol
        self._closing = False
        self._pending = bytearray()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: nothing holds the slave open any more
            LOGGER.debug("pty read failed: %r", exc)
            return
        if data:
            self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        if self._pending:
            self._pending.extend(data)
            return
        try:
            written = os.write(self._fd, data)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            LOGGER.debug("pty write failed: %r", exc)
            return
        if written < len(data):
            self._pending.extend(bytes(data)[written:])
            self._loop.add_writer(self._fd, self._drain)

    def _drain(self) -> None:
        try:
            written = os.write(self._fd, self._pending)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._pending)
        del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self._fd)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._loop.call_soon(self._protocol.connection_lost, None)


class PtyLink:
    """One plugged-in emulated dongle: a pty pair, ASH on the master, the slave behind `path`."""

    def __init__(self, protocol: NcpAshProtocol, link_path: Path | None) -> None:
        self.protocol = protocol
        self.link_path = link_path
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no canonical mode: a serial line, not a terminal
        self.slave_path = os.ttyname(self._slave)
        if link_path is not None:
            link_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = link_path.with_name(link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(link_path)  # atomic: the host never sees the name missing
        loop = asyncio.get_running_loop()
        self.transport = _PtyTransport(loop, self._master, protocol)
        protocol.connection_made(self.transport)

    @property
    def path(self) -> str:
        return str(self.link_path) if self.link_path is not None else self.slave_path

    def close(self) -> None:
        """The dongle is pulled: the master closes and the host's reads fail (EIO/hang-up), and
        the name goes away, so opening it fails as a missing /dev path does."""
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                if os.readlink(self.link_path) == self.slave_path:
                    self.link_path.unlink()
        self.transport.close()
        with contextlib.suppress(OSError):
            os.close(self._slave)
