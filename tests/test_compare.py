"""Model-brain comparison (data side) against independent computations: scipy, rsatoolbox, planted truths."""

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau, pearsonr, spearmanr

from neurodcn.analysis.compare import (
    brain_rdms,
    calc_rdms,
    compare_rdms,
    fit_time_mapping,
    noise_ceiling,
    predictivity_over_time,
    ridge_predictivity,
    rsa_over_time,
)
from neurodcn.analysis.compare.predictivity import _pearson
from neurodcn.analysis.compare.rdm import rdms_object


def test_rdms_match_scipy_pdist():
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(12, 7)) for _ in range(3)]
    for method in ("correlation", "euclidean"):
        got = calc_rdms(feats, method).dissimilarities
        want = np.stack([pdist(f, method) for f in feats])
        # rsatoolbox's euclidean RDM is the squared distance divided by the number of features
        want = want**2 / 7 if method == "euclidean" else want
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_rdm_comparisons_match_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 45))
    b = a + rng.normal(size=45)
    ra, rb = rdms_object(a[None]), rdms_object(b[None])
    assert compare_rdms(ra, rb, "spearman")[0] == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert compare_rdms(ra, rb, "rho-a")[0] == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)  # no ties
    assert compare_rdms(ra, rb, "tau-a")[0] == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)
    # the similarity with several brain RDMs is the mean over them
    c = rng.normal(size=45)
    two = rdms_object(np.stack([b, c]))
    mean = np.mean([spearmanr(a, b).statistic, spearmanr(a, c).statistic])
    assert compare_rdms(ra, two, "spearman")[0] == pytest.approx(mean, abs=1e-12)


def test_noise_ceiling_matches_rsatoolbox_on_subjects_sharing_an_rdm():
    from rsatoolbox.inference import boot_noise_ceiling

    rng = np.random.default_rng(2)
    shared = rng.normal(size=(20, 10))
    subjects = [shared + 0.7 * rng.normal(size=shared.shape) for _ in range(6)]
    data = calc_rdms(subjects)
    d = rdms_object(data.dissimilarities, [f"s{i}" for i in range(6)])
    for method in ("spearman", "corr", "cosine_cov"):
        lo, hi = noise_ceiling(d, method)
        want = boot_noise_ceiling(data, method=method)
        assert (lo, hi) == pytest.approx(want, abs=1e-12)
        assert 0 < lo < hi <= 1
    # the true shared RDM scores between the bounds' neighbourhood: above the lower bound
    truth = calc_rdms([shared])
    assert compare_rdms(truth, d, "spearman")[0] > noise_ceiling(d, "spearman")[0]
    # one subject: no ceiling
    assert np.isnan(noise_ceiling(rdms_object(data.dissimilarities[:1]), "spearman")).all()


def test_noise_ceiling_groups_sessions_by_subject():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(4, 45))
    by_subject = rdms_object(data, ["a", "a", "b", "b"])
    by_rdm = rdms_object(data)
    assert noise_ceiling(by_subject, "spearman") != pytest.approx(noise_ceiling(by_rdm, "spearman"))


def test_brain_rdm_forms_agree():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 6))
    full = squareform(pdist(x, "correlation"))
    ids = np.arange(10)
    forms = {
        "square": full,
        "vector": squareform(full, checks=False),
        "stack": full[None],
        "responses": xr.DataArray(x, dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", ids)}),
    }
    out = brain_rdms(forms, ids)
    for k, v in out.items():
        np.testing.assert_allclose(v.rdms[0, 0], squareform(full, checks=False), atol=1e-12, err_msg=k)
    # responses in another order are put in the stimuli's order; repeats (trials) are averaged
    perm = rng.permutation(10)
    trials = np.concatenate([x[perm] + 1, x[perm] - 1])
    da = xr.DataArray(trials, dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", np.concatenate([perm, perm]))})
    np.testing.assert_allclose(brain_rdms(da, ids)["brain"].rdms[0, 0], squareform(full, checks=False), atol=1e-12)
    with pytest.raises(ValueError, match="RDMs of region 'bad'"):
        brain_rdms({"bad": np.zeros((3, 4))}, ids)
    with pytest.raises(ValueError, match="lacks the stimulus_ids"):
        brain_rdms(da.isel(presentation=slice(0, 5)), ids)


def test_columnwise_pearson_matches_scipy_and_is_nan_on_constant_columns():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    b[:, 1] += 3 * a[:, 1]
    a[:, 3] = 2.0
    want = [pearsonr(a[:, j], b[:, j]).statistic for j in range(3)]
    r = _pearson(a, b)
    np.testing.assert_allclose(r[:3], want, rtol=1e-12)
    assert np.isnan(r[3])


def test_ridge_recovers_a_planted_linear_map_and_not_shuffled_images():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 40))
    y = x @ rng.normal(size=(40, 8)) + 0.05 * rng.normal(size=(300, 8))
    r = ridge_predictivity(x, y, seed=0)
    assert r.shape == (8,) and np.all(r > 0.99)
    shuffled = ridge_predictivity(x[rng.permutation(300)], y, seed=0)
    assert np.all(np.abs(shuffled) < 0.25) and abs(np.median(shuffled)) < 0.12
    # PCA to the 40 informative dimensions keeps the fit
    assert np.all(ridge_predictivity(x, y, pca=40) > 0.99)
    with pytest.raises(ValueError, match="n_splits"):
        ridge_predictivity(x, y, n_splits=1)


def _planted(onset=40.0, scale=30.0, n=40, seed=0):
    """Features that rotate with model time; brain bins see them at t = (centre - onset) / scale."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n, 30))
    path = lambda t: np.cos(t) * a + np.sin(t) * b  # noqa: E731
    times = np.linspace(0, 3, 16)
    bins = np.array([[s, s + 10] for s in range(50, 130, 10)])
    resp = np.stack([path((c - onset) / scale) + 0.1 * rng.normal(size=(n, 30)) for c in bins.mean(1)], -1)
    da = xr.DataArray(resp, dims=("presentation", "neuroid", "time_bin"), coords={
        "stimulus_id": ("presentation", np.arange(n)),
        "time_bin_start": ("time_bin", bins[:, 0]), "time_bin_end": ("time_bin", bins[:, 1])})
    return {"block1": np.stack([path(t) for t in times])}, times, da


def test_time_mapping_recovers_planted_onset_and_scale():
    feats, times, da = _planted(onset=40.0, scale=30.0)
    n = da.sizes["presentation"]
    ds = rsa_over_time(feats, times, brain_rdms({"V": da}, np.arange(n)), n_boot=40, progress=False)
    assert ds["onset_ms_fit"].item() == pytest.approx(40.0, abs=2.0)
    assert ds["ms_per_unit_time_fit"].item() == pytest.approx(30.0, abs=1.5)
    assert ds["onset_ms_fit_ci_low"].item() <= ds["onset_ms_fit"].item() <= ds["onset_ms_fit_ci_high"].item()
    assert ds["similarity"].dims == ("block", "time", "region", "time_bin")
    p = predictivity_over_time(feats, times, {"V": da}, np.arange(n), n_boot=20, progress=False)
    assert p["onset_ms_fit"].item() == pytest.approx(40.0, abs=3.0)
    assert p["ms_per_unit_time_fit"].item() == pytest.approx(30.0, abs=2.0)
    assert "no noise ceiling possible for V" in p.attrs["ceiling_note"]


def test_fit_time_mapping_on_an_exact_ridge():
    times = np.linspace(0, 2, 21)
    centres = np.array([70.0, 80.0, 90.0, 100.0])
    peaks = (centres - 55.0) / 25.0  # onset 55 ms, 25 ms per unit
    sim = -((times[:, None] - peaks[None]) ** 2)  # a parabola in t peaking exactly at each bin's model time
    fit = fit_time_mapping(sim, times, centres)
    assert fit["onset_ms"] == pytest.approx(55.0, abs=1e-9)
    assert fit["ms_per_unit_time"] == pytest.approx(25.0, abs=1e-9)
    assert fit["n_bins_used"] == 4
    flat = fit_time_mapping(np.tile(times[:, None], (1, 4)), times, centres)  # peaks at the end: unidentified
    assert np.isnan(flat["onset_ms"]) and flat["n_bins_used"] == 0


def test_rsa_dataset_ceilings_and_cis():
    rng = np.random.default_rng(7)
    shared = rng.normal(size=(15, 8))
    feats = {"block1": np.stack([shared + s * rng.normal(size=shared.shape) for s in (0.1, 3.0)])}
    subjects = np.stack([squareform(pdist(shared + 0.5 * rng.normal(size=shared.shape), "correlation"))
                         for _ in range(5)])
    brain = brain_rdms({"A": subjects, "B": subjects[0]}, np.arange(15))
    ds = rsa_over_time(feats, [0.0, 1.0], brain, method="spearman", n_boot=50, progress=False)
    sim = ds["similarity"].sel(region="A").values[0]
    assert sim[0] > sim[1]  # the less noisy model time is closer to the shared RDM
    assert np.all(ds["similarity_ci_low"] <= ds["similarity"]) and np.all(ds["similarity"] <= ds["similarity_ci_high"])
    assert np.isfinite(ds["ceiling_lower"].sel(region="A")) and np.isnan(ds["ceiling_upper"].sel(region="B"))
    assert "B (one RDM)" in ds.attrs["ceiling_note"]
    again = rsa_over_time(feats, [0.0, 1.0], brain, method="spearman", n_boot=50, progress=False)
    xr.testing.assert_identical(ds, again)  # seeded
    with pytest.raises(ValueError, match="method must be one of"):
        rsa_over_time(feats, [0.0, 1.0], brain, method="pearson")
