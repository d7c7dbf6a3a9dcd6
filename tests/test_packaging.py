"""Packaging: one version, and the package data the commands default to.

The wheel built and installed outside the checkout is tests/test_install.py's.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

from conftest import ROOT

from agent import shipped

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]


def test_version_is_pyprojects_everywhere() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == f"han-agent {VERSION}\n"
    from agent import hub

    assert hub.VERSION == VERSION


def test_no_version_is_written_in_the_code() -> None:
    """pyproject.toml is the one place: a literal copy elsewhere would drift on the next bump."""
    copies = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("agent", "gbcs", "hal")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if f'"{VERSION}"' in line
    ]
    assert copies == []


def test_the_shipped_data_is_the_repositorys_config() -> None:
    """agent/data is config/ (a symlink), so there is one copy of each file."""
    assert shipped.DATA.resolve() == (ROOT / "config").resolve()
    assert shipped.PROFILE.read_bytes() == (ROOT / "config/restricted-profile.toml").read_bytes()
    assert shipped.scenario_names() == sorted(
        p.stem for p in (ROOT / "config/scenarios").glob("*.toml")
    )
    assert shipped.LAB_TEST_KEY.is_file() and shipped.LAB_CONFIG.is_file()
