"""The environment the suite runs in satisfies every requirement pyproject.toml declares: each requirement names
one floor (>=) and the installed release lies inside its range. Newer upstream releases never fail this test;
the floors themselves are proven by the floors job (see the Makefile's test-floors)."""

from __future__ import annotations

import importlib.metadata as md
import runpy
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


def test_floors_job_pins_every_floor():
    """.ci/floors.py (make test-floors) pins each requirement's floor, read here with packaging's parser."""
    floors = runpy.run_path(str(Path(__file__).parents[1] / ".ci" / "floors.py"))["floors"]
    extras = ["nwb", "zarr", "compare", "dev"]
    pins = floors(extras)
    wanted = [*PROJECT["dependencies"], *(r for e in extras for r in PROJECT["optional-dependencies"][e])]
    floors_by_name = {Requirement(r).name.lower(): _floor(Requirement(r)) for r in wanted}
    del floors_by_name["torch"]  # the Makefile installs $(TORCH)
    assert {k: Version(pin.partition("==")[2]) for k, pin in pins.items()} == floors_by_name
    assert all(Requirement(pin).name.lower() == k for k, pin in pins.items())
