"""Files in the state directory, written atomically.

A write goes to a temporary file in the same directory, is flushed and fsynced, then renamed over
the old file, and the directory is fsynced: a crash at any instant leaves the old file or the new
one, never a torn one. agent/consent_store.py owns the consent files.

A state file that exists but cannot be read as what it should be raises StateError, whose
message is one line naming the file, what is wrong and what to do; `han-agent` prints it and
exits 65. Such a file is never deleted or overwritten to get going again: that is the
operator's call.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class StateError(Exception):
    """A state file that exists but cannot be trusted; the hub does not start on it."""


def load_json_state(
    path: Path, parse: Callable[[Any], T], advice: str, problem: str = "unreadable"
) -> T | None:
    """`parse` of the JSON in a state file, or None when there is no file. A file that cannot
    be read as what `parse` expects (it raises ValueError, KeyError or TypeError) is a
    StateError naming it and the `problem`, with `advice`: what to do, and what moving it
    aside would cost."""
    if not path.exists():
        return None
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"state error: {path}: {problem} ({exc}); {advice}") from None


def atomic_write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o666, create: bool = False) -> None:
    """`data` as the whole of `path`, or the old file left as it was. A new file gets `mode`
    (less the umask). `create`: never replace a file already there (FileExistsError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a crash of an earlier process with this pid: it keeps its mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if create:
            os.link(tmp, path)  # FileExistsError if there is one: it is not replaced
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
