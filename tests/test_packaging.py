"""Packaging: one version, the package data the commands default to, a CLI that imports only
the command it runs, and constraints files that pin exactly what is installed.

The wheel built and installed outside the checkout is tests/test_install.py's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
    assert shipped.CONFORMANCE_CASES == shipped.DATA / "conformance/cases.toml"
    assert shipped.CONFORMANCE_CASES.is_file()


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


def _installed_tree(requirements: list[str], extra: str) -> dict[str, str]:
    """name -> installed version of these requirements and everything they require."""
    tree: dict[str, str] = {}
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in tree:
            continue
        dist = metadata.distribution(name)
        tree[name] = dist.version
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
    return tree


def _pins(path: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            assert pinned, f"{path}: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = pinned
    return pins


def test_constraints_pin_exactly_the_installed_dependency_tree() -> None:
    """constraints.txt is every runtime dependency, transitively, at the version in .venv (which
    setup.sh installed with it); constraints-test.txt the rest of the test extra's tree. A new
    dependency, or a version moved in one place only, fails here."""
    requires = metadata.requires("han-agent") or []
    runtime = _installed_tree([r for r in requires if "extra ==" not in r], "")
    assert {"zigpy", "bellows", "aiomqtt", "aiohttp", "cryptography"} <= set(runtime)
    assert _pins("constraints.txt") == runtime
    everything = _installed_tree(requires, "test")
    tools = {name: v for name, v in everything.items() if name not in runtime}
    assert "pytest" in tools and not set(_pins("constraints-test.txt")) & set(runtime)
    assert _pins("constraints-test.txt") == tools


def test_setup_and_install_use_the_constraints() -> None:
    setup = (ROOT / "scripts/setup.sh").read_text(encoding="utf-8")
    assert "-c constraints.txt -c constraints-test.txt" in setup
    assert "cat pyproject.toml constraints.txt constraints-test.txt | sha256sum" in setup
    assert '-c "$SRC/constraints.txt"' in (ROOT / "scripts/install.sh").read_text()
