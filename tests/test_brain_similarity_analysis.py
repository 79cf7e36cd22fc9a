"""analyses/brain_similarity.py on a tiny checkpoint: the saved RSA equals vc.rsa's own answer; the parts whose
recordings are absent are skipped and say so; the baselines run through the same RSA and are compared in pairs."""

import importlib

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neurodcn as nd
from neurodcn.data.recordings import load_92_images, load_kriegeskorte2008_rdms
from neurodcn.io.files import load_dataset

pytest.importorskip("rsatoolbox")
brain_similarity = importlib.import_module("analyses.brain_similarity")


@pytest.fixture
def tiny(tmp_path):
    """(a tiny dcn-ode checkpoint, an empty recordings folder)."""
    ckpt = nd.save_checkpoint(
        nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="euler", step_size=1.0, adjoint=False)),
        tmp_path / "tiny.pt",
    )
    empty = tmp_path / "no_recordings"
    empty.mkdir()
    return ckpt, empty


def test_quick_run_without_shared_recordings(tiny, tmp_path):
    ckpt, empty = tiny
    result = brain_similarity.run(checkpoint=ckpt, out=tmp_path / "out", quick=True, progress=False,
                                  recordings=empty, baselines=False)
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


def test_baselines_run_through_the_same_rsa(tiny, tmp_path):
    ckpt, empty = tiny
    result = brain_similarity.run(checkpoint=ckpt, out=tmp_path / "out", quick=True, progress=False,
                                  recordings=empty)
    table = pd.read_csv(result.files["baselines_dcn-ode.csv"])
    assert "baselines_dcn-ode.png" in result.files
    s = brain_similarity.settings(True)
    pixels = nd.VirtualCortex.pixels(progress=False).rsa(
        load_92_images()[0], {"human IT": load_kriegeskorte2008_rdms()["human IT"]}, n_boot=s["n_boot"],
        seed=s["seed"], pool=s["rsa_pool"])
    it = table[(table["region"] == "human IT") & (table["baseline"] == "pixels")].set_index("model")
    # the pixel baseline's score is the pixels' own RSA, computed apart; the model's is the best of its saved RSA
    pixel_score = float(pixels["similarity"].max())
    np.testing.assert_allclose(it["baseline_score"], pixel_score)
    saved = load_dataset(result.files["rsa_92images_dcn-ode.nc"])
    assert it.loc["dcn-ode", "score"] == pytest.approx(float(saved["similarity"].sel(region="human IT").max()))
    assert it.loc["dcn-ode", "difference"] == pytest.approx(it.loc["dcn-ode", "score"] - pixel_score)
    untrained = "untrained dcn-ode"
    # the tiny checkpoint was saved at initialisation: its untrained copy (its config and seed) is the same network
    same = table[(table["model"] == "dcn-ode") & (table["baseline"] == untrained)]
    assert (same[["difference", "difference_ci_low", "difference_ci_high"]] == 0).all(axis=None)
    pairs = set(zip(table["model"], table["baseline"], strict=True))
    assert {("dcn-ode", "pixels"), ("dcn-ode", untrained), (untrained, "pixels")} <= pairs
    assert sum(b == "pixels" for _, b in pairs) == len({m for m, _ in pairs})  # each model once against pixels
    assert set(table["measure"]) == {"RSA"} and (table["difference_ci_low"] <= table["difference_ci_high"]).all()
    assert table["p_value"].between(0, 1, inclusive="right").all()
    assert any("RSA human IT: dcn-ode minus pixels" in line for line in result.summary)


def test_ceiled_table_corrects_each_model_at_its_best_block_and_time():
    """r / sqrt(ceiling) per neuron at the block and time of the best median r, by hand; a neuron with a ceiling
    below the minimum (0.1) is left out of the corrected median and counted."""
    r = np.array([[[0.2, 0.4, 0.6], [0.3, 0.5, 0.1]], [[0.6, 0.6, 0.9], [0.0, 0.0, 0.0]]])  # block x time x neuroid
    ds = xr.Dataset({"r": (("block", "time", "neuroid"), r),
                     "median_r": (("block", "time", "region"), np.median(r, axis=-1)[..., None]),
                     "ceiling": ("neuroid", [0.64, 0.25, 0.05])},
                    coords={"block": ["block1", "block2"], "time": [0.0, 2.0], "region": ["V4 210325"]})
    row = brain_similarity.ceiled_table({"m": ds}).iloc[0]
    assert (row["block"], row["time"]) == ("block2", 0.0)  # median 0.6, the best
    assert row["median_r"] == pytest.approx(0.6) and row["median_ceiling"] == pytest.approx(0.25)
    assert row["median_r_corrected"] == pytest.approx(np.median([0.6 / 0.8, 0.6 / 0.5]))
    assert (row["neurons"], row["neurons_corrected"]) == (3, 2)
