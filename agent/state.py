"""Files in the state directory, written atomically.

A write goes to a temporary file in the same directory, is flushed and fsynced, then renamed over
the old file, and the directory is fsynced: a crash at any instant leaves the old file or the new
one, never a torn one. agent/consent_store.py owns the consent files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class StateError(Exception):
    """A state file that exists but cannot be trusted; the hub does not start on it."""


def atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
