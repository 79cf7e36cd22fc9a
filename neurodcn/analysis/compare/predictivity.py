"""Neural predictivity over model time: cross-validated ridge regression from a block's features to neurons.

scikit-learn does the fitting: a Pipeline of StandardScaler, an optional PCA and RidgeCV (one
regularisation per neuron, chosen by efficient leave-one-out within the training folds), evaluated with
cross_val_predict over shuffled KFold splits of the stimuli. A neuron's score is the Pearson r between its
held-out predictions and its responses. Ceilings need repeated presentations (trials): the split-half
reliability of ceiling.split_half_reliability (mean over random splits, Spearman-Brown corrected); without repeats
none is possible. ceiling.noise_corrected_predictivity divides r by its square root.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from neurodcn.analysis.compare.brain import brain_responses, time_bins
from neurodcn.analysis.compare.ceiling import MIN_STIMULI, N_SPLITS, _pearson, split_half_reliability
from neurodcn.analysis.compare.rsa import check_bootstrap, shared_bins, time_fit_variables
from neurodcn.io.extras import require
from neurodcn.progress import tqdm
from neurodcn.validate import check_bool, check_int

__all__ = ["DEFAULT_ALPHAS", "ridge_predictivity", "predictivity_over_time"]

DEFAULT_ALPHAS = tuple(10.0 ** np.arange(-2, 7))
"""Ridge penalties RidgeCV chooses from (on standardised features)."""

_WHAT = "ridge predictivity"
"""The feature the optional scikit-learn serves, as named in a missing-package error."""


def ridge_predictivity(features, responses, n_splits: int = 5, alphas=DEFAULT_ALPHAS, pca=None, seed: int = 0):
    """Held-out Pearson r per neuron [n_neurons] of a cross-validated ridge from features [n, F] to
    responses [n, n_neurons]. pca: None or the number of principal components kept (fitted on the
    training folds only, at most n_train - 1 and F)."""
    PCA = require("sklearn.decomposition", _WHAT).PCA
    RidgeCV = require("sklearn.linear_model", _WHAT).RidgeCV
    selection = require("sklearn.model_selection", _WHAT)
    make_pipeline = require("sklearn.pipeline", _WHAT).make_pipeline
    StandardScaler = require("sklearn.preprocessing", _WHAT).StandardScaler
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"features [n, F] and responses [n, n_neurons] must share n, got {x.shape} and {y.shape}")
    n_splits = check_int("n_splits", n_splits, 2, x.shape[0])  # at most one fold per stimulus
    steps = [StandardScaler()]
    if pca is not None:
        pca = check_int("pca", pca, 1)
        n_train = x.shape[0] - -(-x.shape[0] // n_splits)
        steps.append(PCA(n_components=min(pca, n_train - 1, x.shape[1]), random_state=seed))
    steps.append(RidgeCV(alphas=np.asarray(alphas, dtype=np.float64), alpha_per_target=True))
    folds = selection.KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    pred = selection.cross_val_predict(make_pipeline(*steps), x, y, cv=folds)
    return _pearson(pred, y)


def predictivity_over_time(
    features: dict,
    times,
    recordings: dict,
    stimulus_id,
    n_splits: int = 5,
    alphas=DEFAULT_ALPHAS,
    pca=None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    progress: bool = True,
    keep_samples: bool = False,
) -> xr.Dataset:
    """Ridge predictivity of every neuron from each block at each model time (and time bin).

    features: block -> [n_times, n_stimuli, n_features]; recordings: region -> response DataArray
    (presentation x neuroid [x time_bin], coord stimulus_id; see brain.brain_responses); stimulus_id: the
    ids of the feature rows. Medians over a region's neurons get ci-level intervals from n_boot bootstrap
    samples of the neurons (seeded; a sample's neurons depend only on seed and the neurons of each region, so
    runs of different models with the same seed and recordings draw the same ones; keep_samples adds the medians
    of the samples as ``median_r_samples`` [sample, block, time, region [, time_bin]], for paired comparisons of
    models: neurodcn.analysis.compare.paired). Returns a dataset on block x time x neuroid [x time_bin] (r, ceiling)
    and block x time x region [x time_bin] (median_r and CIs), with the time-mapping fit when time-resolved.
    r is NaN where a neuron's responses or a block's features are constant across stimuli: attr ``nan_note``
    (and a warning) says where; a region whose neurons are all constant is an error.
    """
    check_bootstrap(n_boot, ci)
    progress = check_bool("progress", progress)
    keep_samples = check_bool("keep_samples", keep_samples)
    if not isinstance(recordings, dict) or not recordings:
        raise TypeError("recordings must be a non-empty dict region -> response DataArray")
    stimulus_id = np.asarray(stimulus_id)
    times = np.asarray(times, dtype=np.float64)
    blocks = list(features)
    bad = {k: np.shape(v) for k, v in features.items() if np.shape(v)[:2] != (times.size, stimulus_id.size)}
    if bad or not blocks:
        raise ValueError(f"features must be block -> [{times.size} times, {stimulus_id.size} stimuli, F], got {bad}")
    resp = {r: brain_responses(da, stimulus_id, r) for r, da in recordings.items()}
    flat_resp = {r: np.ptp(da.values, axis=0) == 0 for r, da in resp.items()}  # [neuroid (, time_bin)]
    dead = [r for r, c in flat_resp.items() if c.all()]
    if dead:
        raise ValueError(f"responses of region(s) {dead} are constant across the {stimulus_id.size} stimuli for "
                         "every neuron: predictivity (a correlation with them) is undefined")
    bins = shared_bins({r: time_bins(da) for r, da in resp.items()})
    regions = list(resp)
    y = np.concatenate([da.values.reshape(da.shape[0], da.shape[1], -1) for da in resp.values()], axis=1)
    region_of = np.concatenate([[r] * resp[r].shape[1] for r in regions])
    n_bins, n_neu = y.shape[2], y.shape[1]
    B, T, R = len(blocks), times.size, len(regions)
    r_all = np.empty((B, T, n_neu, n_bins))
    flat_feat = [f"block {k} at time {times[t]:g}" for k in blocks for t in range(T) if np.ptp(features[k][t]) == 0]
    with tqdm(total=B * T, desc="predictivity", disable=not progress, leave=False) as bar:
        for i, k in enumerate(blocks):
            for t in range(T):
                flat = ridge_predictivity(
                    features[k][t], y.reshape(y.shape[0], -1), n_splits, alphas, pca, seed
                )
                r_all[i, t] = flat.reshape(n_neu, n_bins)
                bar.update()
    ceilings = []
    for reg in regions:
        c = (split_half_reliability(recordings[reg], stimulus_id, seed=seed)["ceiling"].values
             if _has_repeats(recordings[reg], stimulus_id) else np.full(resp[reg].shape[1:], np.nan))
        ceilings.append(c.reshape(-1, n_bins))
    ceiling = np.concatenate(ceilings, axis=0)
    rng = np.random.default_rng(seed)
    med = np.empty((B, T, R, n_bins))
    boot = np.empty((n_boot, B, T, R, n_bins))
    for j, reg in enumerate(regions):
        cols = np.flatnonzero(region_of == reg)
        med[:, :, j] = np.nanmedian(r_all[:, :, cols], axis=2)
        for b in range(n_boot):
            boot[b, :, :, j] = np.nanmedian(r_all[:, :, rng.choice(cols, cols.size)], axis=2)
    q = [50 * (1 - ci), 50 * (1 + ci)]
    lo, hi = np.percentile(boot, q, axis=0) if n_boot else np.full((2, *med.shape), np.nan)

    tb = () if bins is None else ("time_bin",)
    sq = (lambda a: a[..., 0]) if bins is None else (lambda a: a)
    what = "held-out Pearson r of ridge predictions"
    data_vars = {
        "r": (("block", "time", "neuroid", *tb), sq(r_all), {"long_name": what, "units": "1"}),
        "median_r": (("block", "time", "region", *tb), sq(med), {"long_name": f"median {what}", "units": "1"}),
        "median_r_ci_low": (("block", "time", "region", *tb), sq(lo),
                            {"long_name": f"median {what}, {ci:.0%} CI low (neurons resampled)", "units": "1"}),
        "median_r_ci_high": (("block", "time", "region", *tb), sq(hi),
                             {"long_name": f"median {what}, {ci:.0%} CI high (neurons resampled)", "units": "1"}),
        "ceiling": (("neuroid", *tb), sq(ceiling),
                    {"long_name": "split-half reliability of trial means, Spearman-Brown corrected, mean over "
                                  f"{N_SPLITS} random splits", "units": "1"}),
    }
    coords = {
        "block": ("block", blocks),
        "time": ("time", times, {"long_name": "model time", "units": "1"}),
        "region": ("region", regions),
        "neuroid_region": ("neuroid", region_of),
        "neuroid_id": ("neuroid", np.concatenate(
            [da["neuroid_id"].values if "neuroid_id" in da.coords else np.arange(da.shape[1]) for da in resp.values()]
        )),
    }
    if keep_samples:
        data_vars["median_r_samples"] = (
            ("sample", "block", "time", "region", *tb), sq(boot),
            {"long_name": f"median {what}, bootstrap samples (neurons resampled; the same for every model run with "
                          "this seed on the same recordings)", "units": "1"})
    if bins is not None:
        coords["time_bin_start"] = ("time_bin", bins[:, 0], {"long_name": "time bin start", "units": "ms"})
        coords["time_bin_end"] = ("time_bin", bins[:, 1], {"long_name": "time bin end", "units": "ms"})
        if T >= 3:
            data_vars.update(time_fit_variables(med, boot, times, bins, ci, "median predictivity"))
    none = [reg for reg, c in zip(regions, ceilings, strict=True) if np.all(np.isnan(c))]
    notes = [str(recordings[reg].attrs.get("ceiling", "")) for reg in none]
    n_flat = sum(int(c.sum()) for c in flat_resp.values())
    reasons = ([f"{n_flat} neuron (time bin)s whose responses are constant across stimuli"] if n_flat else []) + (
        [f"features constant across stimuli ({', '.join(flat_feat[:5])})"] if flat_feat else [])
    if reasons:
        warnings.warn(f"predictivity r is NaN for {' and for '.join(reasons)}", stacklevel=2)
    attrs = {
        "nan_note": "r is NaN for " + "; ".join(reasons) if reasons else "",
        "n_splits": n_splits,
        "alphas": list(map(float, alphas)),
        "pca_components": -1 if pca is None else int(pca),
        "n_boot": n_boot,
        "ci_level": ci,
        "seed": seed,
        "n_stimuli": int(stimulus_id.size),
        "ceiling_note": (
            "no noise ceiling possible for " + ", ".join(
                f"{reg} ({note or 'no repeated presentations'})" for reg, note in zip(none, notes, strict=True)
            )
            if none else "ceilings: split-half reliability of repeated presentations (split_half_reliability)"
        ),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _has_repeats(da: xr.DataArray, stimulus_id) -> bool:
    """Whether enough of the stimuli have two or more trials for split_half_reliability."""
    ids, counts = np.unique(da["stimulus_id"].values, return_counts=True)
    return int(np.isin(ids[counts >= 2], stimulus_id).sum()) >= MIN_STIMULI
