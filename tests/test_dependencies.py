"""The environment the suite runs in satisfies every requirement pyproject.toml declares: each requirement names
one floor (>=) and the installed release lies inside its range. Newer upstream releases never fail this test;
the floors themselves are proven by the floors job (see the Makefile's test-floors)."""

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
def test_installed_release_meets_the_requirement(text):
    requirement = Requirement(text)
    _floor(requirement)
    try:
        installed = Version(md.version(requirement.name))
    except md.PackageNotFoundError:
        pytest.skip(f"{requirement.name} is not installed here")
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{text}: installed {installed} is outside the declared range")
