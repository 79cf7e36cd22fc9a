"""A missing optional package gives an error naming the pip command of its extra (simulated by hiding the
package and its loaded submodules from the import system, as Python does for a module set to None in sys.modules)."""

import sys

import numpy as np
import pytest
import xarray as xr

import neurodcn as nd
from neurodcn.analysis.compare import calc_rdms, ridge_predictivity
from neurodcn.io.extras import require


@pytest.mark.parametrize(
    "module, call",
    [
        ("pynwb", lambda tmp: nd.to_nwb(xr.Dataset(), tmp / "h.nwb")),
        ("zarr", lambda tmp: nd.save_dataset(xr.Dataset(), tmp / "h.zarr")),
        ("zarr", lambda tmp: (tmp / "s.zarr").mkdir() or nd.load_dataset(tmp / "s.zarr")),
        ("rsatoolbox", lambda tmp: calc_rdms([np.ones((4, 3))])),
        ("sklearn", lambda tmp: ridge_predictivity(np.ones((10, 3)), np.ones((10, 2)))),
    ],
)
def test_missing_extra_names_the_pip_command(module, call, tmp_path, monkeypatch):
    extra = {"pynwb": "nwb", "zarr": "zarr", "rsatoolbox": "compare", "sklearn": "compare"}[module]
    for name in {module, *(m for m in sys.modules if m.startswith(f"{module}."))}:  # loaded submodules too
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ModuleNotFoundError, match=rf'pip install "neurodcn\[{extra}\]"') as err:
        call(tmp_path)
    assert err.value.name == module


def test_require_returns_the_module_and_refuses_unknown_names():
    assert require("zarr", "test").__name__ == "zarr"
    assert require("sklearn.pipeline", "test").__name__ == "sklearn.pipeline"
    with pytest.raises(ValueError, match="module must be one of"):
        require("numpy", "test")
