"""The README's examples are what the program really does.

The config-error example is parsed out of README.md and run: a copy of the named config file with
the named key set to the value the example says it got, started with `han-agent run` from a
directory where the file has the same relative path. The printed line and the exit status must
be the ones the README shows, so the two cannot drift apart.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

README = ROOT / "README.md"
EXAMPLE = re.compile(
    r"exit status (?P<status>\d+).*?"
    r"`(?P<line>config error: (?P<file>[^:`]+): \[(?P<section>\w+)\] (?P<key>\w+): "
    r"[^`]*, got (?P<got>[^`]+))`",
    re.DOTALL,
)


def readme_example() -> re.Match[str]:
    match = EXAMPLE.search(README.read_text(encoding="utf-8"))
    assert match, "README.md no longer shows a config-error example this test can run"
    return match


def with_value(toml: str, section: str, key: str, value: str) -> str:
    """`toml` with `key` in `[section]` set to `value` (a TOML literal); the key must be there."""
    header = re.search(rf"^\[{re.escape(section)}\]\s*$", toml, re.MULTILINE)
    assert header, f"no [{section}] in the config"
    end = re.search(r"^\[", toml[header.end() :], re.MULTILINE)
    body_end = header.end() + end.start() if end else len(toml)
    body = toml[header.end() : body_end]
    new_body, n = re.subn(rf"^{re.escape(key)}\s*=.*$", f"{key} = {value}", body, flags=re.M)
    assert n == 1, f"[{section}] {key} not set exactly once in the config"
    return toml[: header.end()] + new_body + toml[body_end:]


def test_readme_config_error_example_is_what_the_program_prints(tmp_path: Path) -> None:
    example = readme_example()
    source = ROOT / example["file"]
    assert source.is_file(), example["file"]
    broken = tmp_path / example["file"]
    broken.parent.mkdir(parents=True)
    text = source.read_text(encoding="utf-8")
    broken.write_text(
        with_value(text, example["section"], example["key"], example["got"]), encoding="utf-8"
    )
    # The rest of what the config points at (trust store, profile) sits beside it, as in a checkout.
    for sibling in source.parent.iterdir():
        if sibling.is_dir():
            shutil.copytree(sibling, broken.parent / sibling.name)
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--config", example["file"], "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == int(example["status"]), result.stderr
    assert result.stderr.strip() == example["line"]
    assert result.stdout == ""


def test_the_example_parser_reads_the_example() -> None:
    example = readme_example()
    assert example["status"] == "78"
    assert example["line"].startswith("config error: config/")
    edited = with_value("[a]\nx = 1\n[radio]\nchannel = 15\nb = 2\n", "radio", "channel", "30")
    assert edited == "[a]\nx = 1\n[radio]\nchannel = 30\nb = 2\n"
