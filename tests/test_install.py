"""`make install` into a staging root (DESTDIR), `make uninstall`, the CI unit check, and every
command of the installed hub run from outside the checkout.

systemctl cannot run here, so the install is staged; the pip step installs the agent's own wheel
offline (--no-deps --no-index), so no network is touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, Broker

from agent.config import load_config


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent's wheel, built from a copy of the checkout without its build leftovers.

    A han_agent.egg-info left by an earlier build lists the files that build shipped, and
    setuptools ships them again even when pyproject.toml no longer says so: building from the
    checkout itself could hide missing package data. The copy also keeps build/ and the
    egg-info out of the checkout.
    """
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "han-agent"
    leftovers = ("*.egg-info", "build", ".venv", ".git", ".*_cache", ".hypothesis", "state", ".lab")
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*leftovers))
    python = ROOT / ".venv" / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    [whl] = out.glob("han_agent-*.whl")
    return whl


def _install(action: str, root: Path, wheel: Path) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        DESTDIR=str(root),
        HAN_AGENT_PIP_ARGS="--no-deps --no-index",
        HAN_AGENT_PACKAGE=str(wheel),
    )
    return subprocess.run(
        ["bash", "scripts/install.sh", action],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_install_then_uninstall_into_a_staging_root(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "root"
    done = _install("install", root, wheel)
    assert done.returncode == 0, done.stderr
    entry = root / "opt/han-agent/.venv/bin/han-agent"
    assert os.access(entry, os.X_OK)
    unit = (root / "etc/systemd/system/han-agent.service").read_text()
    assert unit == (ROOT / "systemd/han-agent.service").read_text(), "default paths: unchanged"
    assert "ExecStart=/opt/han-agent/.venv/bin/han-agent run --config /etc/han-agent/" in unit
    rule = root / "etc/udev/rules.d/70-han-dongle.rules"
    assert 'SYMLINK+="han-dongle"' in rule.read_text()
    assert (root / "opt/han-agent/docs/operations.md").is_file()
    # The config template is a valid config as installed, pointing at the udev name.
    config = load_config(root / "etc/han-agent/config.toml")
    assert config.radio.type == "ezsp" and config.radio.path == "/dev/han-dongle"
    assert str(config.state_dir) == "/var/lib/han-agent"
    assert config.profile_path == root / "etc/han-agent/restricted-profile.toml"
    # The entry point runs. The staged venv was installed offline without dependencies, so
    # they come from this test's own environment; the agent's code comes from the staged venv.
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    helped = subprocess.run(
        [entry, "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=deps),
    )
    assert "--log-format" in helped.stdout

    # An upgrade keeps the site's config.
    (root / "etc/han-agent/config.toml").write_text("# edited by the site\n")
    again = _install("install", root, wheel)
    assert again.returncode == 0, again.stderr
    assert (root / "etc/han-agent/config.toml").read_text() == "# edited by the site\n"

    gone = _install("uninstall", root, wheel)
    assert gone.returncode == 0, gone.stderr
    assert not (root / "opt/han-agent").exists()
    assert not (root / "etc/systemd/system/han-agent.service").exists()
    assert not rule.exists()
    assert (root / "etc/han-agent/config.toml").exists(), "config is kept"


def test_bad_action_and_relative_prefix_are_refused(tmp_path: Path, wheel: Path) -> None:
    bad = _install("upgrade-everything", tmp_path, wheel)
    assert bad.returncode == 2 and "usage: scripts/install.sh" in bad.stderr
    env = dict(os.environ, DESTDIR=str(tmp_path), PREFIX="opt/han")
    rel = subprocess.run(
        ["bash", "scripts/install.sh"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert rel.returncode == 2 and "opt/han must be an absolute path" in rel.stderr


def test_udev_rules_are_well_formed() -> None:
    pair = r'[A-Z]+(\{[a-zA-Z]+\})?(==|\+=|=)"[^"]*"'
    line_re = re.compile(rf"^{pair}(, {pair})*$")
    rules = [
        line
        for line in (ROOT / "systemd/70-han-dongle.rules").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(rules) == 4
    for line in rules:
        assert line_re.match(line), line
        assert 'SUBSYSTEM=="tty"' in line and line.endswith('SYMLINK+="han-dongle"')


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    root = tmp_path_factory.mktemp("staged")
    done = _install("install", root, wheel)
    assert done.returncode == 0, done.stderr
    return root


def _check_unit(unit: Path, stage: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/check-unit.sh"],
        cwd=ROOT,
        env=dict(os.environ, UNIT=str(unit), STAGE=str(stage)),
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_shipped_unit_passes_the_ci_check(staged: Path) -> None:
    done = _check_unit(ROOT / "systemd/han-agent.service", staged)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "systemd-analyze verify" in done.stdout and ": clean" in done.stdout
    score = re.search(r"Overall exposure level for han-agent.service: (\d+\.\d)", done.stdout)
    assert score is not None and float(score.group(1)) <= 2.0


def test_the_unit_with_the_mqtt_credentials_drop_in_passes_the_ci_check(
    tmp_path: Path, staged: Path
) -> None:
    """The drop-in's keys are real unit settings (a typo would only warn) and keep exposure."""
    drop_in = (ROOT / "systemd/mqtt-credentials.conf").read_text()
    assert drop_in.count("LoadCredential=") == 3
    unit = tmp_path / "han-agent.service"
    unit.write_text((ROOT / "systemd/han-agent.service").read_text() + "\n" + drop_in)
    done = _check_unit(unit, staged)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and ": clean" in done.stdout
    score = re.search(r"Overall exposure level for han-agent.service: (\d+\.\d)", done.stdout)
    assert score is not None and float(score.group(1)) <= 2.0


def test_the_ci_check_fails_on_a_warning_and_on_exposure(tmp_path: Path, staged: Path) -> None:
    shipped = (ROOT / "systemd/han-agent.service").read_text()
    typo = tmp_path / "typo" / "han-agent.service"
    typo.parent.mkdir()
    typo.write_text(shipped.replace("Type=notify", "Typ=notify"))
    done = _check_unit(typo, staged)
    assert done.returncode == 1
    assert "status 0" in done.stderr and "Unknown key 'Typ'" in done.stderr

    weak = tmp_path / "weak" / "han-agent.service"
    weak.parent.mkdir()
    weakened = shipped
    for strong in ("DynamicUser=yes", "ProtectSystem=strict", "MemoryDenyWriteExecute=yes"):
        weakened = weakened.replace(strong, "")
    weak.write_text(re.sub(r"(?m)^SystemCallFilter=.*$", "", weakened))
    done = _check_unit(weak, staged)
    assert done.returncode != 0, done.stdout
    assert "clean" in done.stdout, "it verifies, but is too exposed"


def test_install_creates_the_trust_dir_the_template_names(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "root"
    done = _install("install", root, wheel)
    assert done.returncode == 0, done.stderr
    trust = root / "etc/han-agent/trust"
    assert trust.is_dir() and stat.S_IMODE(trust.stat().st_mode) == 0o755
    assert list(trust.iterdir()) == []
    config = load_config(root / "etc/han-agent/config.toml")
    assert config.trust_dir == trust, "the installed template's [trust] dir is that directory"
    last = done.stdout.strip().splitlines()[-3:]
    assert "put the supplier's public key (PEM, EC P-256) in /etc/han-agent/trust/" in last[0]
    assert "no consent command or firmware image is accepted" in last[-1]


# A command frame from the supplier to the ESME (README, "Decoding frames").
FRAME = "DF090100000000000003EA0890B3D51F300100000800DB1234567890A00002000A06300403020308"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """The hub as `make install` leaves it (a non-editable install of the wheel), outside the
    checkout; its entry point's directory.

    install.sh installs the wheel offline with --no-deps; the dependencies then come from this
    checkout's .venv through a .pth file in the installed venv's site-packages. A .pth line only
    appends its directory to sys.path (after the venv's own site-packages, and the .pth files in
    it are not run, so the .venv's editable finder for the checkout stays out): the installed
    copy of the agent is the one imported, its dependencies are the exact versions the tests
    run on, and nothing is downloaded. (A plain venv with `pip install --no-index --find-links`
    would need a wheel of every dependency on disk, which a fresh machine does not have.)
    """
    root = tmp_path_factory.mktemp("installed")
    done = _install("install", root, wheel)
    assert done.returncode == 0, done.stderr
    venv = root / "opt/han-agent/.venv"
    [site] = venv.glob("lib/python3*/site-packages")
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "han-agent-test-deps.pth").write_text(deps + "\n")
    return venv / "bin"


def test_the_installed_hub_runs_every_command_outside_the_checkout(
    tmp_path: Path, installed: Path, broker: Broker
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def han_agent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [installed / "han-agent", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"han-agent {' '.join(args)}: {done.stderr}"
        return done

    where = subprocess.run(
        [installed / "python", "-c", "import agent, zigpy; print(agent.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(installed.parent)), "the installed copy, not the checkout"

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert han_agent("--version").stdout == f"han-agent {version}\n"

    decoded = json.loads(han_agent("decode", FRAME).stdout)
    assert decoded["message_code"] == "0x000A"
    assert decoded["decision"]["action"] in ("forward", "block")

    capture = tmp_path / "capture.hex"
    capture.write_text(f"down {FRAME}\n")
    table = han_agent("replay", str(capture)).stdout
    assert table.startswith("mode restricted, profile gb-restricted-default v2\n"), table

    # The shipped lab config (and its TEST trust, which conformance switches modes with).
    report = han_agent(
        "conformance", "--mqtt-url", broker.url, "--out", "report", timeout=120
    ).stdout
    assert "FAIL" not in report and (tmp_path / "report/conformance.json").is_file()

    simulated = han_agent(
        "simulate", "normal-day", "--mqtt-url", broker.url, "--time-scale", "40", "--quiet"
    ).stdout
    assert json.loads(simulated.strip().splitlines()[-1])["scenario"] == "normal-day"

    keys = han_agent("keys", "generate", "--out", "keys").stdout
    assert keys.startswith("key id ") and (tmp_path / "keys/supplier.key.pem").is_file()
    assert not (tmp_path / "state").exists(), "conformance and simulate used temporary state"
