"""The data files the package ships: the restricted profile, the scenarios, the lab configuration.

They live in the repository's config/ (where README, scripts/lab.sh and the docs name them);
agent/data is a symlink to it, so the wheel carries them as agent/data/ (pyproject.toml's
package-data) and an installed hub finds them here without a source tree. Commands take these
as their path defaults; an explicit path still wins.

pip installs a wheel unpacked, so the package's resources are real files: callers get a Path,
which load_config and the profile loader (and relative paths inside a config) need.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _data_dir() -> Path:
    data = files("agent") / "data"
    if not isinstance(data, Path):  # a zip import: not how pip installs the agent
        raise RuntimeError(f"han-agent's data files are not on the file system: {data}")
    return data


DATA = _data_dir()
PROFILE = DATA / "restricted-profile.toml"
LAB_CONFIG = DATA / "lab-virtual.toml"
LAB_TEST_KEY = DATA / "lab" / "TEST-ONLY-lab-supplier.key.pem"
SCENARIOS = DATA / "scenarios"
CONFORMANCE_CASES = DATA / "conformance" / "cases.toml"


def scenario_names() -> list[str]:
    """The shipped scenarios, by name (the file name without .toml)."""
    return sorted(path.stem for path in SCENARIOS.glob("*.toml"))
