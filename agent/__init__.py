"""The hub: configuration, HAN router, policy, consent, uplink, and the wiring between them."""

from __future__ import annotations


def version() -> str:
    """The agent's version: the installed package's metadata, from pyproject.toml's `version`.

    The one place it is written is pyproject.toml; `han-agent --version` and the hub's
    `bridge/info` (agent/hub.py VERSION) read it here. importlib.metadata is imported on
    call, not with the package, to keep it off `han-agent --help` and `decode`.
    """
    from importlib.metadata import version as installed_version

    return installed_version("han-agent")
