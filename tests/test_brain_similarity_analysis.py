"""analyses/brain_similarity.py on a tiny checkpoint: the saved RSA equals vc.rsa's own answer; the parts whose
recordings are absent are skipped and say so."""

import importlib

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neurodcn as nd
from neurodcn.data.recordings import load_92_images, load_kriegeskorte2008_rdms
from neurodcn.demo import load_analysis
from neurodcn.io.files import load_dataset

pytest.importorskip("rsatoolbox")
load_analysis("common")  # puts the checkout's analyses package on the import path
brain_similarity = importlib.import_module("analyses.brain_similarity")


def test_quick_run_without_shared_recordings(tmp_path):
    ckpt = nd.save_checkpoint(
        nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="euler", step_size=1.0, adjoint=False)),
        tmp_path / "tiny.pt",
    )
    empty = tmp_path / "no_recordings"
    empty.mkdir()
    result = brain_similarity.run(checkpoint=ckpt, out=tmp_path / "out", quick=True, progress=False,
                                  recordings=empty)
    assert any("skipped the Algonauts" in line for line in result.summary)
    assert sum("skipped V4 session" in line for line in result.summary) == 4
    name = next(n for n in result.files if n.startswith("rsa_92images_") and n.endswith(".nc"))
    saved = load_dataset(result.files[name])
    vc = nd.VirtualCortex.from_checkpoint(ckpt, progress=False)
    k = load_kriegeskorte2008_rdms()
    s = brain_similarity.settings(True)
    want = vc.rsa(load_92_images()[0], {"monkey IT": k["monkey IT"], "human IT": k["human IT"]}, times=s["times"],
                  pool=s["rsa_pool"], n_boot=s["n_boot"], seed=s["seed"])
    xr.testing.assert_allclose(saved["similarity"], want["similarity"])
    table = pd.read_csv(result.files[name.replace(".nc", ".csv")])
    best = want["similarity"].max("time").sel(region="human IT").values
    np.testing.assert_allclose(table[table["region"] == "human IT"]["best"], best)
