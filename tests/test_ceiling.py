"""Split-half noise ceilings and noise-corrected predictivity against independent facts: the analytic reliability
of a planted population, scipy's Pearson r, a hand-worked two-trial case; the V4 session with single trials."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neurodcn.analysis.compare import noise_corrected_predictivity, predictivity_over_time, split_half_reliability
from neurodcn.data.recordings import SHARED_RECORDINGS, load_cowley2023_v4

NOISE_SD = np.array([1.0, 2.0, 3.0])  # per neuron; the signal has variance 1


def _trials(counts, seed=0):
    """Planted trials: signal [n, 3] ~ N(0, 1) plus N(0, NOISE_SD^2) noise; counts[i] trials of stimulus i."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts)
    signal = rng.normal(size=(counts.size, NOISE_SD.size))
    stim = np.repeat(np.arange(counts.size), counts)
    values = signal[stim] + NOISE_SD * rng.normal(size=(stim.size, NOISE_SD.size))
    da = xr.DataArray(values, dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", stim), "neuroid_id": ("neuroid", [7, 8, 9])})
    return da, signal


def test_reliability_of_a_planted_population_matches_the_analytic_value():
    """signal var / (signal var + noise var / n_trials) after Spearman-Brown; the half means themselves correlate
    at signal var / (signal var + noise var / (n_trials / 2)), which is what an uncorrected ceiling would give."""
    da, _ = _trials(np.full(3000, 8))
    ds = split_half_reliability(da)
    np.testing.assert_allclose(ds["ceiling"], 1 / (1 + NOISE_SD**2 / 8), atol=0.03)
    np.testing.assert_allclose(ds["split_half_r"].mean("split"), 1 / (1 + NOISE_SD**2 / 4), atol=0.03)
    assert ds["reliability"].dims == ("neuroid", "split") and ds.sizes["split"] == 100
    assert ds["neuroid_id"].values.tolist() == [7, 8, 9] and ds["ceiling"].attrs["units"] == "1"
    assert np.all(ds["ceiling_low"] <= ds["ceiling"]) and np.all(ds["ceiling"] <= ds["ceiling_high"])
    assert np.all(ds["ceiling_high"] - ds["ceiling_low"] > 0)  # splits differ
    assert ds.attrs["trials_per_stimulus_median"] == 8 and ds.attrs["n_stimuli_left_out"] == 0


def test_unequal_trial_counts_give_the_reliability_of_each_stimulus_mean():
    """6 to 10 trials per stimulus (as in V4 session 210325): the reliability of the trial means is
    1 / (1 + noise var x mean(1 / n_i)); zero-padding counted as trials would pull it far off."""
    counts = np.random.default_rng(1).integers(6, 11, 3000)
    da, _ = _trials(counts, seed=2)
    ds = split_half_reliability(da, n_splits=50)
    np.testing.assert_allclose(ds["ceiling"], 1 / (1 + NOISE_SD**2 * np.mean(1 / counts)), atol=0.04)


def test_two_trials_by_hand_and_by_scipy():
    """Two trials per stimulus, equal except for one stimulus: every split gives the same two half vectors (or the
    two swapped), so every split has the same r. Trials (1, 2, 3, 4) and (1, 2, 3, 0): deviations
    (-1.5, -0.5, 0.5, 1.5) and (-0.5, 0.5, 1.5, -1.5), r = -1 / sqrt(5 x 5) = -0.2, Spearman-Brown
    2 r / (1 + r) = -0.4 / 0.8 = -0.5."""
    da = xr.DataArray(np.array([[1.0, 2, 3, 4, 1, 2, 3, 0]]).T, dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", [0, 1, 2, 3] * 2)})
    ds = split_half_reliability(da, n_splits=7)
    np.testing.assert_allclose(ds["split_half_r"], -0.2, rtol=1e-12)
    np.testing.assert_allclose(ds["reliability"], -0.5, rtol=1e-12)
    assert float(ds["ceiling_low"][0]) == pytest.approx(-0.5) == float(ds["ceiling_high"][0])
    # random values for three neurons, the second trial differing only at stimulus 0: each split's r is scipy's
    # Pearson r of the two trials; stimulus_id picks and orders the stimuli used
    rng = np.random.default_rng(3)
    first = rng.normal(size=(40, 3))
    second = first.copy()
    second[0] += [6.0, -6.0, 15.0]
    da = xr.DataArray(np.concatenate([second, first]), dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", np.tile(np.arange(40), 2))})
    ds = split_half_reliability(da, stimulus_id=np.arange(30)[::-1], n_splits=5)
    want = [stats.pearsonr(first[:30, j], second[:30, j]).statistic for j in range(3)]
    assert np.all(np.abs(want) < 0.9)
    np.testing.assert_allclose(ds["split_half_r"], np.repeat(np.array(want)[:, None], 5, axis=1), rtol=1e-10)
    assert ds.attrs["n_stimuli"] == 30


def test_splits_are_seeded_and_layouts_and_bad_inputs():
    da, _ = _trials(np.full(50, 5))
    a, b = split_half_reliability(da, n_splits=10, seed=4), split_half_reliability(da, n_splits=10, seed=4)
    xr.testing.assert_identical(a, b)
    assert not np.allclose(a["reliability"], split_half_reliability(da, n_splits=10, seed=5)["reliability"])
    # time bins are kept as a trailing dim, each bin its own reliability
    binned = xr.concat([da, 2 * da], dim="time_bin").transpose("presentation", "neuroid", "time_bin")
    ds = split_half_reliability(binned, n_splits=10, seed=4)
    assert ds["reliability"].dims == ("neuroid", "split", "time_bin")
    np.testing.assert_allclose(ds["reliability"].isel(time_bin=1), a["reliability"])  # r is scale-free
    # a stimulus with one trial is left out; fewer than three stimuli with two trials is an error
    one = da.drop_isel(presentation=[16, 17, 18, 19])  # stimulus 3 keeps its first trial (rows 15 to 19)
    assert split_half_reliability(one, n_splits=2).attrs["n_stimuli_left_out"] == 1
    with pytest.raises(ValueError, match="at least 3 stimuli"):
        split_half_reliability(da.isel(presentation=[*range(10), 10, 15, 20]))  # stimuli 0, 1 repeated
    with pytest.raises(ValueError, match="non-finite"):
        split_half_reliability(da.where(da > -3))
    with pytest.raises(TypeError, match="DataArray"):
        split_half_reliability(da.values)
    with pytest.raises(ValueError, match="n_splits"):
        split_half_reliability(da, n_splits=0)


def test_noise_corrected_predictivity_by_hand():
    ds = noise_corrected_predictivity([0.5, 0.3, 0.2, 0.4], [0.25, 0.81, 0.05, np.nan])
    np.testing.assert_allclose(ds["r_corrected"], [1.0, 0.3 / 0.9, np.nan, np.nan], rtol=1e-12)
    assert ds["nan_reason"].values.tolist() == ["", "", "ceiling below 0.1",
                                                "no ceiling (constant responses or too few trials)"]
    assert ds.attrs["n_neuroid_without_ceiling"] == 2 and ds["r_corrected"].attrs["units"] == "1"
    assert np.isnan(noise_corrected_predictivity([0.5], [0.25], min_ceiling=0.3)["r_corrected"][0])


def test_noise_corrected_predictivity_of_the_true_signal_is_one():
    """The noise-free response predicts the trial mean at r = sqrt(reliability) (scipy's Pearson r); divided by
    sqrt(ceiling) it scores 1. Brain-Score's r / ceiling would give 1 / sqrt(reliability) instead."""
    da, signal = _trials(np.full(3000, 8), seed=5)
    mean = da.groupby("stimulus_id").mean("presentation")
    r = np.array([stats.pearsonr(signal[:, j], mean.values[:, j]).statistic for j in range(3)])
    ceiling = split_half_reliability(da)
    assert np.all(r < 0.96)
    np.testing.assert_allclose(noise_corrected_predictivity(r, ceiling)["r_corrected"], 1.0, atol=0.03)
    # on the layout of predictivity_over_time: block x time x neuroid, matched on neuroid_id
    rr = xr.DataArray(np.broadcast_to(r, (2, 4, 3)), dims=("block", "time", "neuroid"),
                      coords={"neuroid_id": ("neuroid", [7, 8, 9])})
    out = noise_corrected_predictivity(rr, ceiling)
    assert out["r_corrected"].dims == ("block", "time", "neuroid") and out["nan_reason"].dims == ("neuroid",)
    np.testing.assert_allclose(out["r_corrected"], 1.0, atol=0.03)
    with pytest.raises(ValueError, match="neuroid_id"):
        noise_corrected_predictivity(rr.assign_coords(neuroid_id=("neuroid", [1, 2, 3])), ceiling)
    with pytest.raises(ValueError, match="same length"):
        noise_corrected_predictivity(r[:2], ceiling)


def test_predictivity_over_time_takes_its_ceiling_from_the_split_half_reliability():
    pytest.importorskip("sklearn")
    da, signal = _trials(np.full(60, 4), seed=6)
    feats = {"block1": np.stack([signal, signal + 1.0 * np.random.default_rng(7).normal(size=signal.shape)])}
    ds = predictivity_over_time(feats, np.array([0.0, 1.0]), {"V": da}, np.arange(60), n_boot=10, progress=False)
    np.testing.assert_allclose(ds["ceiling"], split_half_reliability(da, np.arange(60))["ceiling"], rtol=1e-12)
    assert "split_half_reliability" in ds.attrs["ceiling_note"]


V4_DIR = SHARED_RECORDINGS / "cowley2023_v4"


def test_v4_session_210325_ceilings():
    """The one V4 session with single trials (read from ../shared; GPL-3.0, never bundled)."""
    if not V4_DIR.is_dir():
        pytest.skip(f"{V4_DIR} is absent: the V4 recordings are read from ../shared/data/recordings")
    _, trials = load_cowley2023_v4("210325", trials=True)
    ds = split_half_reliability(trials)
    assert ds.sizes == {"neuroid": 50, "split": 100} and ds.attrs["session"] == "210325"
    assert (ds.attrs["trials_per_stimulus_min"], ds.attrs["trials_per_stimulus_max"]) == (6, 10)
    assert ds.attrs["n_stimuli"] == 640 and np.all(np.isfinite(ds["ceiling"]))
    # measured (analyses/RESULTS.md): median 0.762, range 0.53 to 0.93
    assert float(ds["ceiling"].median()) == pytest.approx(0.762, abs=0.005)
    assert 0.5 < float(ds["ceiling"].min()) and float(ds["ceiling"].max()) < 0.95
