"""The dependency floors of pyproject.toml are the versions the tests run on: each floor is the installed
release, to the precision the floor is written with (torch>=2.13 is tested on a 2.13.x)."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")

PROJECT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
REQUIREMENTS = sorted({r for group in [PROJECT["dependencies"], *PROJECT["optional-dependencies"].values()]
                       for r in group})


def _floor(requirement: Requirement) -> Version:
    floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    assert len(floors) == 1, f"{requirement}: one floor (>=) expected"
    return floors[0]


@pytest.mark.parametrize("text", REQUIREMENTS)
def test_floor_is_the_tested_release(text):
    requirement = Requirement(text)
    try:
        installed = Version(md.version(requirement.name))
    except md.PackageNotFoundError:
        pytest.skip(f"{requirement.name} is not installed here")
    floor = _floor(requirement)
    assert installed.release[: len(floor.release)] == floor.release, (
        f"{text}: tests run on {installed}; the floor must be that release")
