"""A newcomer's small surprises: progress bars that move and print no widget warning, models named as bundled,
NFE reports numbering blocks like datasets, and save_dataset refusing to overwrite like to_nwb."""

import importlib
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import neurodcn as nd
import neurodcn.progress
from neurodcn.cortex import sweep

REPO = Path(__file__).resolve().parents[1]


class Bar:
    """A stand-in for tqdm that records its total and updates."""

    made: list = []

    def __init__(self, *args, total=None, **kwargs):
        self.total, self.n = total, 0
        Bar.made.append(self)

    def update(self, k=1):
        self.n += k

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_pattern_completion_bar_advances_per_mask(monkeypatch):
    monkeypatch.setattr(sweep, "tqdm", Bar)  # the one runner owns the bar
    Bar.made = []
    vc = nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="rk4", step_size=1.0,
                                                                                  adjoint=False)),
                          image_size=16, batch_size=2, progress=True)
    x, y = torch.rand(3, 3, 16, 16), torch.tensor([0, 1, 2])
    vc.pattern_completion(x, y, mask_sizes=[0, 4, 8], times=[0.0, 2.0])
    (bar,) = Bar.made
    assert bar.total == 2 * 3 and bar.n == 6  # 2 batches x (intact + 2 masks) (was one step per batch: 0/1 for 117 s)


def test_progress_bars_are_text_without_ipywidgets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    text = importlib.reload(neurodcn.progress)
    try:
        import tqdm.std

        assert text.tqdm is tqdm.std.tqdm  # tqdm.auto would warn "IProgress not found" in a notebook
    finally:
        monkeypatch.undo()
        importlib.reload(neurodcn.progress)
    direct = re.compile(r"^\s*from tqdm\.(auto|notebook) import|^\s*import tqdm\.auto", re.M)
    users = [p for folder in ("neurodcn", "analyses") for p in (REPO / folder).rglob("*.py")
             if p.name != "progress.py" and direct.search(p.read_text())]
    assert users == [], "import tqdm from neurodcn.progress"


def test_a_bundled_model_is_named_as_bundled():
    vc = nd.VirtualCortex.pretrained("dcn-ode-euler", progress=False)  # the plain name loads its subset model
    assert vc.name == "dcn-ode-euler-subset" and str(vc).startswith("VirtualCortex(model: dcn-ode-euler-subset,")
    assert vc.stamp(xr.Dataset(), "record").attrs["model"] == "dcn-ode-euler-subset"
    assert nd.VirtualCortex.pretrained("dcn-ode", progress=False).name == "dcn-ode"


def test_nfe_report_numbers_blocks_from_one():
    m = nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="rk4", step_size=1.0, adjoint=False))
    m(torch.rand(1, 3, 16, 16))
    assert [r["block"] for r in m.nfe_report()] == [1, 2, 3]  # as block1..block3 of the datasets
    assert all(r["forward_nfe"] == 8 for r in m.nfe_report())  # rk4: 2 steps x 4 stages


def test_save_dataset_refuses_to_overwrite_like_to_nwb(tmp_path):
    ds = xr.Dataset({"rate": ("time", np.arange(3.0))})
    path = nd.save_dataset(ds, tmp_path / "h.nc")
    with pytest.raises(FileExistsError, match="overwrite"):
        nd.save_dataset(ds * 2, path)
    assert nd.load_dataset(path)["rate"].values.tolist() == [0.0, 1.0, 2.0]
    nd.save_dataset(ds * 2, path, overwrite=True)
    assert nd.load_dataset(path)["rate"].values.tolist() == [0.0, 2.0, 4.0]
