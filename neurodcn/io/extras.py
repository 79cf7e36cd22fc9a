"""Optional dependencies: an import that names the pip command of the extra providing it."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "require"]

EXTRAS = {
    "pynwb": "nwb",
    "hdmf": "nwb",
    "pynapple": "nwb",
    "nwbinspector": "nwb",
    "zarr": "zarr",
    "dask": "zarr",
    "rsatoolbox": "compare",
    "sklearn": "compare",
}
"""Optional package -> the extra of neurodcn that installs it (pyproject.toml [project.optional-dependencies])."""


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` (an optional package or one of its submodules, e.g. "sklearn.pipeline") for feature
    ``what``; ModuleNotFoundError naming ``pip install "neurodcn[<extra>]"`` when it is not installed."""
    package = module.partition(".")[0]
    if package not in EXTRAS:
        raise ValueError(
            f"module must be one of the optional packages {sorted(EXTRAS)} or their submodules, got {module!r}"
        )
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ModuleNotFoundError(
            f"{what} needs the optional package {package!r}, which is not installed: "
            f'pip install "neurodcn[{EXTRAS[package]}]"',
            name=package,
        ) from err
