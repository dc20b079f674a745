"""The lock files (requirements.lock, requirements-dev.lock) agree with pyproject.toml:
every declared dependency is pinned there, with hashes, at a version its range allows.
`make` installs from the lock only, so a dependency added to pyproject.toml without
`make lock` would be missing from every fresh install."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_dependencies import ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def _pins(name: str) -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in PIN.findall((ROOT / name).read_text())}


def _unmet(requirements: list[str], pins: dict[str, str]) -> list[str]:
    unmet = []
    for text in requirements:
        requirement = Requirement(text)
        version = pins.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{text} (locked: {version})")
    return unmet


def test_every_dependency_is_locked_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _unmet(project["dependencies"], _pins("requirements.lock")) == [], "run `make lock`"
    dev = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    assert _unmet(dev, _pins("requirements-dev.lock")) == [], "run `make lock`"


def test_the_dev_lock_pins_the_production_packages_at_the_same_versions():
    production, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in production} == production


def test_every_locked_package_carries_hashes():
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text()
        assert len(PIN.findall(text)) > 50
        for block in re.split(r"\n(?=[A-Za-z0-9])", text):
            if PIN.match(block):
                assert "--hash=sha256:" in block, block.splitlines()[0]
