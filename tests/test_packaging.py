"""Packaging: one version, the package data the commands default to, and a CLI that imports
only the command it runs.

The wheel built and installed outside the checkout is tests/test_install.py's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT

from agent import cli, shipped

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


HEAVY = ("zigpy", "bellows", "aiomqtt")
FRAME = "DF090100000000000003EA0890B3D51F300100000800DB1234567890A00002000A06300403020308"


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["decode", FRAME], ["decode", "--help"], ["keys", "--help"]],
)
def test_light_commands_do_not_import_the_radio_or_mqtt_stacks(argv: list[str]) -> None:
    """`han-agent --help` and `decode` took 0.7 s importing zigpy's OTA providers and aiohttp
    for commands they never run (BENCHMARKS.md, "CLI start-up"). In a fresh interpreter, as the
    entry point runs them, none of zigpy, bellows or aiomqtt may be imported."""
    probe = (
        "import sys, json\n"
        "from agent.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps(heavy), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    imported = json.loads(done.stderr.strip().splitlines()[-1])
    assert imported == [], f"han-agent {' '.join(argv[:1])} imported {imported[:5]}"
    assert done.stdout, "the command ran"


def test_each_help_line_is_the_one_its_module_registers() -> None:
    """cli.COMMANDS carries the help lines so `--help` imports no command module: each must be
    the one its module registers, so the listing is the same whichever command is loaded."""
    listing = cli.build_parser().format_help()
    for name in cli.COMMANDS:
        assert cli.build_parser(name).format_help() == listing, name
        assert name == cli.command_module(name).NAME


def test_the_command_is_the_first_word_that_is_not_an_option() -> None:
    assert cli.chosen_command(["--help"]) is None
    assert cli.chosen_command(["decode", "--mode", "full", "AA"]) == "decode"
    assert cli.chosen_command(["-h", "replay", "x"]) == "replay"
