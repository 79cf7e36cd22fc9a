"""Noise ceilings of single-trial responses and noise-corrected predictivity (data side).

* :func:`split_half_reliability`: per neuron, the trials of each stimulus are split at random into two halves
  (``n_splits`` times, seeded); the Pearson r over stimuli between the two half means is Spearman-Brown
  corrected to the reliability of the mean of all trials, rho = 2 r / (1 + r) (Spearman 1910; Brown 1910). With
  per-trial signal variance s2 across stimuli, independent noise of variance n2 and n trials per stimulus,
  rho estimates s2 / (s2 + n2 / n), the squared correlation between the trial mean and the noise-free response.
* :func:`noise_corrected_predictivity`: r / sqrt(rho), the correction for attenuation (Spearman 1904) with the
  noise on the recorded side only, as in CC_norm = CC_abs / CC_max (Hsu, Borst & Theunissen 2004, Network
  15:91; Schoppe et al. 2016, Front Comput Neurosci 10:10): a model that predicts the noise-free response
  exactly scores 1 in expectation. (Brain-Score divides r by the Spearman-Brown corrected split-half
  correlation itself, r / rho, which is not used here.)

A ceiling needs repeated presentations. Of the recordings neurodcn reads, only Cowley et al. 2023 V4 session
210325 has single trials (``load_cowley2023_v4("210325", trials=True)``); sessions 190923, 201025 and 210225 hold
repeat averages only and have no ceiling (neurodcn.data.recordings.V4_TRIAL_SESSIONS).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.validate import check_int, check_real

__all__ = ["MIN_CEILING", "MIN_STIMULI", "N_SPLITS", "split_half_reliability", "noise_corrected_predictivity"]

N_SPLITS = 100
"""Default number of random splits of :func:`split_half_reliability`."""

MIN_STIMULI = 3
"""Fewest stimuli with two or more trials a split-half reliability is computed on."""

MIN_CEILING = 0.1
"""Default lowest ceiling (reliability, units "1") that :func:`noise_corrected_predictivity` divides by: below it,
1 / sqrt(ceiling) > 3.2 would amplify r and its estimation noise more than three-fold."""


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r per column of a, b [n, k]; nan where a column is constant."""
    ok = (np.ptp(a, axis=0) > 0) & (np.ptp(b, axis=0) > 0)
    a, b = a[:, ok] - a[:, ok].mean(axis=0), b[:, ok] - b[:, ok].mean(axis=0)
    r = np.full(ok.size, np.nan)
    r[ok] = np.clip((a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0)), -1.0, 1.0)
    return r


def split_half_reliability(trials: xr.DataArray, stimulus_id=None, n_splits: int = N_SPLITS, ci: float = 0.95,
                           seed: int = 0) -> xr.Dataset:
    """Per-neuron split-half reliability of single-trial responses over random splits, Spearman-Brown corrected.

    trials: presentation x neuroid [x time_bin] DataArray, one presentation per trial, coord stimulus_id (a
    stimulus's trials share it), as ``load_cowley2023_v4(session, trials=True)`` returns. stimulus_id: the
    stimuli used (None: every stimulus in trials); those with fewer than two trials are left out (attr
    ``n_stimuli_left_out``), and at least MIN_STIMULI must remain. Each split permutes every stimulus's n trials
    at random (the same permutation for all neurons, trials being simultaneous); the first n // 2 form half A,
    the rest half B (one more when n is odd). n_splits (>= 1) splits from numpy's default_rng(seed). With odd n
    the halves are unequal and 2 r / (1 + r) slightly underestimates the reliability of the n-trial mean (planted
    population, 7 trials each: 0.40 for a true 0.44, 0.62 for 0.64, exact at 0.88); V4 session 210325 has odd
    counts for 306 of its 640 images.

    Returns a Dataset (units "1") with ``split_half_r`` and ``reliability`` = 2 r / (1 + r) on (neuroid, split
    [, time_bin]), and per neuron ``ceiling`` (the mean reliability over splits) with ``ceiling_low`` /
    ``ceiling_high``, the (1 -+ ci) / 2 percentiles over splits: the spread due to the choice of split, not a
    confidence interval over stimuli. A neuron constant across stimuli in both halves of a split has NaN there
    (and a NaN ceiling if it is in every split). The neuroid and time_bin coords of trials are kept, and its
    ``session`` and ``region`` attrs.
    """
    n_splits = check_int("n_splits", n_splits, minimum=1)
    ci = check_real("ci", ci, 0, 1, lo_open=True, hi_open=True)
    seed = check_int("seed", seed, minimum=0)
    if not isinstance(trials, xr.DataArray) or not {"presentation", "neuroid"} <= set(trials.dims):
        raise TypeError(f"trials must be an xarray.DataArray with dims presentation and neuroid, got "
                        f"{type(trials).__name__} {getattr(trials, 'dims', '')}")
    if set(trials.dims) - {"presentation", "neuroid", "time_bin"} or "stimulus_id" not in trials.coords:
        raise ValueError(f"trials must have dims presentation, neuroid [, time_bin] and coord stimulus_id, got "
                         f"dims {trials.dims} and coords {list(trials.coords)}")
    tb = ("time_bin",) if "time_bin" in trials.dims else ()
    da = trials.transpose("presentation", "neuroid", *tb)
    values = da.values.reshape(da.shape[0], -1)  # [presentation, neuroid x time_bin]
    if not np.all(np.isfinite(values)):
        raise ValueError("trials hold non-finite values; drop missing trials instead of marking them NaN")
    ids = da["stimulus_id"].values
    stimuli = np.unique(ids) if stimulus_id is None else np.asarray(stimulus_id)
    row = pd.Index(stimuli).get_indexer(ids)  # stimulus of each trial, -1 for trials of other stimuli
    row, values = row[row >= 0], values[row >= 0]
    counts = np.bincount(row, minlength=stimuli.size)
    used = counts >= 2
    if used.sum() < MIN_STIMULI:
        raise ValueError(f"a split-half reliability needs at least {MIN_STIMULI} stimuli with two or more trials, "
                         f"got {int(used.sum())} of {stimuli.size}")
    repeat = pd.Series(row).groupby(row).cumcount().to_numpy()
    x = np.zeros((stimuli.size, counts.max(), values.shape[1]))  # [stimulus, trial, column], zero-padded
    x[row, repeat] = values
    x, n = x[used], counts[used]
    half = n // 2
    rng = np.random.default_rng(seed)
    r = np.empty((n_splits, values.shape[1]))
    for s in range(n_splits):
        keys = np.where(np.arange(x.shape[1]) < n[:, None], rng.random(x.shape[:2]), np.inf)
        rank = keys.argsort(axis=1).argsort(axis=1)  # a random order of each stimulus's trials, padding last
        a = (rank < half[:, None]).astype(np.float64)
        b = (rank < n[:, None]) - a
        r[s] = _pearson(np.einsum("ir,irc->ic", a, x) / half[:, None],
                        np.einsum("ir,irc->ic", b, x) / (n - half)[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 2 * r / (1 + r)
    shape = (n_splits, da.sizes["neuroid"], *(da.sizes[d] for d in tb))
    r, rho = np.moveaxis(r.reshape(shape), 0, 1), np.moveaxis(rho.reshape(shape), 0, 1)  # [neuroid, split, ...]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neurons stay NaN
        mean = np.nanmean(rho, axis=1)
        low, high = np.nanpercentile(rho, [50 * (1 - ci), 50 * (1 + ci)], axis=1)
    dims, per = ("neuroid", "split", *tb), ("neuroid", *tb)
    spread = f"{ci:.0%} of the splits' reliabilities (percentile over splits, not a CI over stimuli)"
    sb = "split-half reliability, Spearman-Brown corrected (2 r / (1 + r))"
    data_vars = {
        "split_half_r": (dims, r, {"long_name": "Pearson r between the two half means over stimuli", "units": "1"}),
        "reliability": (dims, rho, {"long_name": sb, "units": "1"}),
        "ceiling": (per, mean, {"long_name": f"noise ceiling: mean {sb} over splits", "units": "1"}),
        "ceiling_low": (per, low, {"long_name": f"noise ceiling, low end of {spread}", "units": "1"}),
        "ceiling_high": (per, high, {"long_name": f"noise ceiling, high end of {spread}", "units": "1"}),
    }
    coords = {k: v for k, v in da.coords.items() if v.dims and set(v.dims) <= {"neuroid", "time_bin"}}
    attrs = {k: da.attrs[k] for k in ("session", "region") if k in da.attrs}
    return xr.Dataset(data_vars, coords={**coords, "split": np.arange(n_splits)}, attrs={
        **attrs,
        "n_splits": n_splits,
        "seed": seed,
        "ci_level": ci,
        "n_stimuli": int(used.sum()),
        "n_stimuli_left_out": int((~used).sum()),
        "trials_per_stimulus_min": int(n.min()),
        "trials_per_stimulus_median": float(np.median(n)),
        "trials_per_stimulus_max": int(n.max()),
        "split": "each stimulus's trials permuted at random; first n // 2 vs the rest",
    })


def noise_corrected_predictivity(r, ceiling, min_ceiling: float = MIN_CEILING) -> xr.Dataset:
    """Predictivity divided by the square root of the noise ceiling, r / sqrt(ceiling) (see the module docstring).

    r: held-out Pearson r per neuron, a DataArray with dim neuroid (e.g. ``predictivity_over_time(...)["r"]``,
    block x time x neuroid [x time_bin]) or a 1-D array [n_neuroid]. ceiling: the reliability of the trial mean
    the r was computed against, a Dataset of :func:`split_half_reliability` (its ``ceiling``), a DataArray with
    dim neuroid (e.g. ``predictivity_over_time(...)["ceiling"]``) or a 1-D array; its neurons are r's, in order
    (checked on neuroid_id where both have it). min_ceiling: ceilings below it (default MIN_CEILING = 0.1) or
    NaN give NaN, with the reason in ``nan_reason`` ("" where corrected).

    Returns a Dataset (units "1"): ``r_corrected`` on r's dims (not clipped: estimation noise can take it above
    1), ``r`` and ``ceiling`` as given, ``nan_reason`` on the ceiling's dims; attrs ``convention`` and
    ``min_ceiling``.
    """
    min_ceiling = check_real("min_ceiling", min_ceiling, 0, 1, lo_open=True)
    ceil = ceiling["ceiling"] if isinstance(ceiling, xr.Dataset) else ceiling
    r, ceil = (v if isinstance(v, xr.DataArray) else xr.DataArray(np.asarray(v, dtype=np.float64), dims=("neuroid",))
               for v in (r, ceil))
    if "neuroid" not in r.dims or "neuroid" not in ceil.dims or r.sizes["neuroid"] != ceil.sizes["neuroid"]:
        raise ValueError(f"r and ceiling must share the dim neuroid with the same length, got {dict(r.sizes)} and "
                         f"{dict(ceil.sizes)}")
    if "neuroid_id" in r.coords and "neuroid_id" in ceil.coords and not np.array_equal(
            r["neuroid_id"].values, ceil["neuroid_id"].values):
        raise ValueError("r and ceiling hold different neurons (their neuroid_id differ)")
    ceil = ceil.drop_vars([k for k in ceil.coords if k not in ceil.dims]).astype(np.float64)
    reason = xr.where(ceil.isnull(), "no ceiling (constant responses or too few trials)",
                      xr.where(ceil < min_ceiling, f"ceiling below {min_ceiling:g}", ""))
    corrected = r / np.sqrt(ceil.where(ceil >= min_ceiling))
    attrs = {"units": "1"}
    return xr.Dataset({
        "r_corrected": corrected.transpose(*r.dims, ...).assign_attrs(
            attrs, long_name="noise-corrected predictivity, r / sqrt(ceiling)"),
        "r": r.assign_attrs(attrs, long_name=r.attrs.get("long_name", "predictivity (Pearson r)")),
        "ceiling": ceil.assign_attrs(attrs, long_name="noise ceiling (reliability of the trial mean)"),
        "nan_reason": reason,
    }, attrs={
        "convention": "r / sqrt(ceiling): correction for attenuation, noise on the recorded side only (Spearman "
                      "1904; CC_norm of Hsu et al. 2004, Schoppe et al. 2016); not Brain-Score's r / ceiling",
        "min_ceiling": min_ceiling,
        "n_neuroid_without_ceiling": int((reason != "").any([d for d in reason.dims if d != "neuroid"]).sum()),
    })
