"""One line an operator can act on, for every way opening or keeping a radio fails.

bellows and zigpy raise bare exceptions (`TimeoutError()` with no text after an EZSP reset nobody
answered, `FileNotFoundError` for a missing port, `NcpFailure` with an NCP reset code); the hub's
health, its log and `han-agent radio check` show this translation instead, with the original
exception named so nothing is hidden.
"""

from __future__ import annotations

import errno

import zigpy.exceptions
from bellows.ash import NcpFailure
from bellows.exception import EzspError


def explain(exc: BaseException, path: str) -> str:
    """What went wrong with the radio at `path`, and what to try."""
    cause = exc.__cause__ if isinstance(exc, zigpy.exceptions.TransientConnectionError) else None
    if cause is not None:
        exc = cause
    name = type(exc).__name__
    detail = str(exc).strip()
    original = f"{name}: {detail}" if detail else name
    if isinstance(exc, FileNotFoundError):
        return (
            f"no serial port at {path} (dongle unplugged? see `han-agent radio list`) [{original}]"
        )
    if isinstance(exc, PermissionError):
        return (
            f"no permission to open {path} (add the service user to the 'dialout' group) "
            f"[{original}]"
        )
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {path} (is ser2net listening there?) [{original}]"
    if isinstance(exc, NcpFailure):
        return f"the radio's NCP failed ({exc.code.name}) on {path} [{original}]"
    if isinstance(exc, TimeoutError):
        return (
            f"no EZSP answer from {path} in time (not an EZSP dongle, wrong baud rate or flow "
            f"control, or a stalled serial link) [{original}]"
        )
    if isinstance(exc, zigpy.exceptions.NetworkSettingsInconsistent):
        return (
            f"the network on the radio at {path} differs from the last backup in the state "
            f"directory (another network was formed on this dongle?); restore with "
            f"`han-agent radio restore` or move the state aside [{name}]"
        )
    if isinstance(exc, zigpy.exceptions.NetworkNotFormed):
        return f"the radio at {path} has no network [{original}]"
    if isinstance(exc, EzspError):
        return f"EZSP error from the radio at {path} [{original}]"
    if isinstance(exc, OSError) and exc.errno in (errno.EIO, errno.ENXIO, errno.ENODEV):
        return f"serial I/O error on {path} (dongle unplugged or reset?) [{original}]"
    if isinstance(exc, ConnectionError | OSError):
        return f"serial connection to {path} failed [{original}]"
    return f"radio at {path} failed [{original}]"
