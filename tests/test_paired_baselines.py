"""Paired comparison of models with baselines (neurodcn.analysis.compare.paired) against hand computations: a model
against itself differs by exactly 0, the CI and p-value are those of the same resamples redone with numpy, a model
that is the pixels ties with the pixel baseline, and bad arguments say what is wrong."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.spatial.distance import pdist
from torch import nn

import neurodcn as nd
from neurodcn.analysis.compare import brain_rdms, predictivity_over_time, rsa_over_time
from neurodcn.analysis.compare.paired import best_score, paired_predictivity, paired_rsa, paired_table
from neurodcn.analysis.plots.similarity import plot_paired_differences

pytest.importorskip("rsatoolbox")
pytest.importorskip("sklearn")

N_BOOT = 40


def _features(rng, shared, noise, blocks=2, times=2):
    """block -> [times, n, F]: ``shared`` plus noise of SD ``noise`` (one draw per block and time)."""
    return {f"block{b + 1}": np.stack([shared + noise * rng.normal(size=shared.shape) for _ in range(times)])
            for b in range(blocks)}


@pytest.fixture(scope="module")
def rsa_results():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(16, 6))
    brain = brain_rdms({"A": pdist(shared + 0.3 * rng.normal(size=shared.shape), "correlation"),
                        "B": pdist(rng.normal(size=shared.shape), "correlation")}, np.arange(16))
    good, pixels = _features(rng, shared, 0.5), _features(rng, shared, 3.0, blocks=1, times=1)

    def run(feats):
        times = np.linspace(0, 1, next(iter(feats.values())).shape[0])
        return rsa_over_time(feats, times, brain, method="spearman", n_boot=N_BOOT, seed=3, progress=False,
                             keep_samples=True)

    return {"pixels": run(pixels), "model": run(good), "copy": run(good)}


def test_a_model_against_its_own_copy_differs_by_exactly_zero(rsa_results):
    ds = paired_rsa(rsa_results, ["pixels", "copy"])
    same = ds.sel(model="model", baseline="copy")
    assert np.all(same["difference"] == 0)
    assert np.all(same["difference_ci_low"] == 0) and np.all(same["difference_ci_high"] == 0)
    assert np.all(same["p_value"] == 1)
    # the score is the best similarity over blocks and model times, wherever it lies
    want = rsa_results["model"]["similarity"].max(("block", "time"))
    np.testing.assert_array_equal(ds["score"].sel(model="model"), want)
    np.testing.assert_array_equal(ds["baseline_score"].sel(baseline="pixels"),
                                  rsa_results["pixels"]["similarity"].max(("block", "time")))
    best = rsa_results["model"]["similarity"].sel(region="A", block=str(ds["best_block"].sel(model="model",
                                                                                             region="A").values))
    assert float(best.sel(time=float(ds["best_time"].sel(model="model", region="A")))) == want.sel(region="A")
    assert ds["difference"].attrs["units"] == "1" and "spearman" in ds["difference"].attrs["long_name"]


def test_kept_samples_are_those_of_the_cis(rsa_results):
    ds = rsa_results["model"]
    assert ds["similarity_samples"].dims == ("sample", "block", "time", "region")
    lo, hi = np.percentile(ds["similarity_samples"].values, [2.5, 97.5], axis=0)
    np.testing.assert_allclose(ds["similarity_ci_low"], lo, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ds["similarity_ci_high"], hi, rtol=0, atol=1e-15)


def test_rsa_difference_ci_is_numpy_on_the_same_resamples(rsa_results):
    ds = paired_rsa(rsa_results, "pixels", ci=0.9)
    best = {m: rsa_results[m]["similarity_samples"].values.max(axis=(1, 2)) for m in ("model", "pixels")}  # [S, R]
    d = best["model"] - best["pixels"]
    got = ds.sel(model="model", baseline="pixels")
    np.testing.assert_allclose(got["difference_ci_low"], np.percentile(d, 5, axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(got["difference_ci_high"], np.percentile(d, 95, axis=0), rtol=0, atol=1e-15)
    tail = np.minimum((d <= 0).sum(0), (d >= 0).sum(0))
    np.testing.assert_allclose(got["p_value"], np.minimum(1, 2 * (tail + 1) / (N_BOOT + 1)))
    assert got["difference"].sel(region="A") > 0 and got["p_value"].sel(region="A") < 0.1  # shared structure


def test_predictivity_difference_ci_is_numpy_on_the_same_neurons():
    rng = np.random.default_rng(1)
    n, seed = 40, 5
    shared = rng.normal(size=(n, 5))
    resp = xr.DataArray(np.concatenate([shared @ rng.normal(size=(5, 8)), rng.normal(size=(n, 4))], axis=1)
                        + 0.5 * rng.normal(size=(n, 12)), dims=("presentation", "neuroid"),
                        coords={"stimulus_id": ("presentation", np.arange(n))})
    recordings = {"V1": resp.isel(neuroid=slice(0, 7)), "V4": resp.isel(neuroid=slice(7, 12))}
    feats = {"good": _features(rng, shared, 0.3), "pixels": _features(rng, rng.normal(size=(n, 5)), 1.0, 1, 1)}
    runs = {m: predictivity_over_time(f, np.linspace(0, 1, f["block1"].shape[0]), recordings, np.arange(n),
                                      n_splits=4, n_boot=N_BOOT, seed=seed, progress=False, keep_samples=True)
            for m, f in feats.items()}
    ds = paired_predictivity(runs, ["pixels"])
    # by hand: the neurons of each region resampled in the order predictivity_over_time draws them
    draw = np.random.default_rng(seed)
    region_of = runs["good"]["neuroid_region"].values
    for region in ("V1", "V4"):
        cols = np.flatnonzero(region_of == region)
        idx = [draw.choice(cols, cols.size) for _ in range(N_BOOT)]
        best = {m: np.array([np.nanmedian(runs[m]["r"].values[:, :, i], axis=2).max() for i in idx]) for m in runs}
        d = best["good"] - best["pixels"]
        got = ds.sel(model="good", baseline="pixels", region=region)
        assert float(got["difference_ci_low"]) == pytest.approx(np.percentile(d, 2.5), abs=1e-14)
        assert float(got["difference_ci_high"]) == pytest.approx(np.percentile(d, 97.5), abs=1e-14)
        score = {m: np.nanmedian(runs[m]["r"].values[:, :, cols], axis=2).max() for m in runs}
        assert float(got["difference"]) == pytest.approx(score["good"] - score["pixels"], abs=1e-14)
    assert ds.attrs["resampled"] == "neurons"


def test_a_model_that_is_the_pixels_ties_with_the_pixel_baseline():
    images = torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    kw = dict(image_size=8, progress=False)
    cortices = {"pixels": nd.VirtualCortex.pixels(**kw),
                "same": nd.VirtualCortex(nn.Sequential(nn.Identity()), layers=["0"], **kw)}
    brain = {"IT": pdist(np.random.default_rng(0).normal(size=(12, 5)), "correlation")}
    rsa = {m: vc.rsa(images, brain, pool=2, n_boot=10, keep_samples=True) for m, vc in cortices.items()}
    v4 = xr.DataArray(np.random.default_rng(1).normal(size=(12, 4)), dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", np.arange(12))})
    pred = {m: vc.predictivity(images, {"V4": v4}, pool=2, n_splits=3, n_boot=10, keep_samples=True)
            for m, vc in cortices.items()}
    for ds in (paired_rsa(rsa, "pixels"), paired_predictivity(pred, "pixels")):
        tie = ds.sel(model="same", baseline="pixels")
        assert np.all(tie["difference"] == 0) and np.all(tie["p_value"] == 1)
        assert np.all(tie["difference_ci_low"] == 0) and np.all(tie["difference_ci_high"] == 0)
        assert np.all(ds["best_time_ms"] == 50.0)  # one layer, model time 0 = onset


def test_table_and_figure_list_each_comparison_once(rsa_results):
    ds = paired_rsa(rsa_results, ["pixels", "copy"])
    table = paired_table(ds)
    assert set(zip(table["model"], table["baseline"], strict=True)) == {
        ("model", "pixels"), ("model", "copy"), ("copy", "pixels")}
    assert list(table.columns[:3]) == ["region", "model", "baseline"] and len(table) == 6
    row = table[(table["model"] == "copy") & (table["region"] == "B")].iloc[0]
    assert row["difference"] == float(ds["difference"].sel(model="copy", baseline="pixels", region="B"))
    fig = plot_paired_differences(ds)
    assert [a.get_title() for a in fig.axes] == ["model", "copy"]


def test_best_score_ignores_nan():
    da = xr.DataArray([[np.nan, 0.2], [0.5, np.nan]], dims=("block", "time"),
                      coords={"block": ["block1", "block2"], "time": [0.0, 1.0]})
    best = best_score(da)
    assert float(best) == 0.5 and best["block"] == "block2" and float(best["time"]) == 0.0
    assert np.isnan(float(best_score(da * np.nan)))


def test_bad_arguments_name_what_is_allowed(rsa_results):
    with pytest.raises(TypeError, match="results must be a dict"):
        paired_rsa([rsa_results["model"]], "pixels")
    with pytest.raises(ValueError, match="at least two models"):
        paired_rsa({"model": rsa_results["model"]}, "model")
    plain = rsa_results["model"].drop_vars("similarity_samples")
    with pytest.raises(ValueError, match=r"results\['plain'\] must hold .*keep_samples=True"):
        paired_rsa({"pixels": rsa_results["pixels"], "plain": plain}, "pixels")
    with pytest.raises(ValueError, match=r"baselines must be one of \['pixels', 'model', 'copy'\], got 'nope'"):
        paired_rsa(rsa_results, ["nope"])
    with pytest.raises(ValueError, match="baselines must be one or more distinct names"):
        paired_rsa(rsa_results, [])
    with pytest.raises(ValueError, match=r"ci must be a finite number in \(0, 1\), got 1.5"):
        paired_rsa(rsa_results, "pixels", ci=1.5)
    other = rsa_results["copy"].assign_attrs(seed=4)
    with pytest.raises(ValueError, match="attr 'seed' is 3 for 'pixels' but 4 for 'copy'"):
        paired_rsa({**rsa_results, "copy": other}, "pixels")
    renamed = rsa_results["copy"].assign_coords(region=["A", "C"])
    with pytest.raises(ValueError, match="coord 'region' is"):
        paired_rsa({**rsa_results, "copy": renamed}, "pixels")
    with pytest.raises(ValueError, match="no bootstrap samples"):
        paired_rsa({m: ds.isel(sample=slice(0, 0)) for m, ds in rsa_results.items()}, "pixels")
    with pytest.raises(ValueError, match="must hold 'median_r'"):
        paired_predictivity(rsa_results, "pixels")
    with pytest.raises(TypeError, match="keep_samples must be True or False"):
        rsa_over_time({"block1": np.zeros((1, 4, 2))}, [0.0], {}, keep_samples="yes")
