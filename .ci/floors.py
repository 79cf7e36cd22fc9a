"""Print the floor pins of pyproject.toml, one `name==floor` a line, for the floors job (make test-floors).

Usage (Python 3.11+, for tomllib): python .ci/floors.py [EXTRA ...] prints the core dependencies plus
those extras; torch is left out (the Makefile installs $(TORCH), the local CPU build). Each requirement is
`name[extras]>=floor` (one floor, as tests/test_dependencies.py checks); a package listed in several groups
has one floor in all of them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def floors(extras) -> dict[str, str]:
    """Lower-cased package name -> its pin `name[extras]==floor`, for the core dependencies and ``extras``."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    groups = project["optional-dependencies"]
    unknown = sorted(set(extras) - set(groups))
    if unknown:
        raise SystemExit(f"extras must be among {sorted(groups)}, got {unknown}")
    pins: dict[str, str] = {}
    for requirement in [*project["dependencies"], *(r for e in extras for r in groups[e])]:
        match = _FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"{requirement!r} in pyproject.toml must be name>=floor")
        name, own_extras, floor = match.groups()
        pin = f"{name}{own_extras or ''}=={floor}"
        if pins.setdefault(name.lower(), pin) != pin:
            raise SystemExit(f"{name} has two floors in pyproject.toml: {pins[name.lower()]} and {pin}")
    pins.pop("torch", None)
    return pins


if __name__ == "__main__":
    print("\n".join(floors(sys.argv[1:]).values()))
