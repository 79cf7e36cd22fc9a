"""RSA over model time: every block's RDM at every model time against brain RDMs, with ceilings and CIs.

Model RDMs and their comparison with the brain come from rsatoolbox (neurodcn.analysis.compare.rdm). CIs
bootstrap the stimuli (patterns) as rsatoolbox.inference does: a sample draws n stimuli with replacement and
subsamples model and brain RDMs alike with RDMs.subsample_pattern (pairs of a stimulus with its own copy
become nan and are left out of the comparison); samples with fewer than 3 distinct stimuli are redrawn.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neurodcn.analysis.compare.brain import BrainRDMs
from neurodcn.analysis.compare.rdm import (
    COMPARE_METHODS,
    calc_rdms,
    compare_rdms,
    noise_ceiling,
    rdms_object,
)
from neurodcn.analysis.compare.timemap import fit_time_mapping
from neurodcn.progress import tqdm
from neurodcn.validate import check_bool, check_choice, check_int, check_real

__all__ = ["rsa_over_time", "shared_bins", "time_fit_variables", "check_bootstrap"]


def shared_bins(regions: dict) -> np.ndarray | None:
    """The time bins [n_bins, 2] ms (region -> bins or None) all regions share (None if none is
    time-resolved); ValueError otherwise."""
    bins = list(regions.values())
    if all(b is None for b in bins):
        return None
    if any(b is None for b in bins) or any(b.shape != bins[0].shape or not np.allclose(b, bins[0]) for b in bins):
        raise ValueError(
            "all regions must share the same time bins (time_bin_start/end), or none be time-resolved; got "
            + ", ".join(f"{k}: {None if v is None else v.tolist()}" for k, v in regions.items())
        )
    return bins[0]


def check_bootstrap(n_boot, ci) -> None:
    """ValueError unless n_boot is a non-negative int and ci lies in (0, 1)."""
    check_int("n_boot", n_boot, minimum=0)
    check_real("ci", ci, 0, 1, lo_open=True, hi_open=True)


def _bootstrap_indices(rng: np.random.Generator, n: int) -> np.ndarray:
    while True:
        idx = rng.integers(0, n, n)
        if np.unique(idx).size >= 3:
            return idx


def time_fit_variables(sim: np.ndarray, boot: np.ndarray, times, bins, ci: float, what: str) -> dict:
    """Time-mapping fits (timemap.fit_time_mapping) per (block, region) of sim [B, T, R, n_bins] with
    bootstrap samples boot [n_boot, B, T, R, n_bins], as data variables on (block, region)."""
    B, _, R, _ = sim.shape
    names = ("onset_ms_fit", "ms_per_unit_time_fit")
    vals = {n: np.full((B, R), np.nan) for n in names}
    cis = {n: np.full((B, R, 2), np.nan) for n in names}
    for i in range(B):
        for r in range(R):
            samples = boot[:, i, :, r, :] if boot.shape[0] else None
            fit = fit_time_mapping(sim[i, :, r, :], times, bins, samples, ci)
            for n, key in zip(names, ("onset_ms", "ms_per_unit_time"), strict=True):
                vals[n][i, r] = fit[key]
                if samples is not None:
                    cis[n][i, r] = fit[f"{key}_ci"]
    units = {"onset_ms_fit": ("model time 0 after stimulus onset", "ms"),
             "ms_per_unit_time_fit": ("milliseconds per unit of model time", "ms")}
    out = {}
    for n in names:
        long, unit = units[n]
        attrs = {"long_name": f"{long}, fitted from the peaks of {what} over time bins", "units": unit}
        out[n] = (("block", "region"), vals[n], attrs)
        out[f"{n}_ci_low"] = (("block", "region"), cis[n][..., 0], {**attrs, "long_name": f"{long}, CI low"})
        out[f"{n}_ci_high"] = (("block", "region"), cis[n][..., 1], {**attrs, "long_name": f"{long}, CI high"})
    return out


def rsa_over_time(
    features: dict,
    times,
    brain: dict[str, BrainRDMs],
    method: str = "rho-a",
    rdm_method: str = "correlation",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    progress: bool = True,
    keep_samples: bool = False,
) -> xr.Dataset:
    """Similarity of each block's RDM at each model time with each brain region (and time bin).

    features: block name -> [n_times, n_stimuli, n_features]; times: model times [n_times]; brain: region ->
    BrainRDMs over the same stimuli (neurodcn.analysis.compare.brain.brain_rdms). method: RDM comparison
    (rdm.COMPARE_METHODS), rdm_method: model dissimilarity (rdm.RDM_METHODS). n_boot bootstrap samples over
    stimuli (seeded by ``seed``) give ci-level percentile intervals; 0 skips them. A sample's stimuli depend only
    on (seed, n_stimuli), so runs of different models with the same seed on the same stimuli draw the same ones;
    keep_samples adds them as ``similarity_samples`` [sample, block, time, region [, time_bin]] (for paired
    comparisons of models: neurodcn.analysis.compare.paired).
    Returns a dataset on block x time x region [x time_bin] (time: model time coord only; the caller adds
    time_ms): similarity with CIs, noise ceilings (nan where a region has one subject: attrs ceiling_note),
    and with time bins the fitted time mapping per block and region.
    """
    check_choice("method", method, COMPARE_METHODS)
    check_bootstrap(n_boot, ci)
    progress = check_bool("progress", progress)
    keep_samples = check_bool("keep_samples", keep_samples)
    if not isinstance(features, dict) or not features:
        raise ValueError("features must be a non-empty dict block name -> array [n_times, n_stimuli, n_features]")
    times = np.asarray(times, dtype=np.float64)
    blocks = list(features)
    shapes = {k: np.shape(v) for k, v in features.items()}
    n = shapes[blocks[0]][1] if len(shapes[blocks[0]]) == 3 else -1
    if any(len(s) != 3 or s[0] != times.size or s[1] != n for s in shapes.values()):
        raise ValueError(f"features must all be [{times.size} times, n_stimuli, n_features], got {shapes}")
    if not isinstance(brain, dict) or not brain or not all(isinstance(v, BrainRDMs) for v in brain.values()):
        raise TypeError("brain must be a non-empty dict region -> BrainRDMs (see brain.brain_rdms)")
    pairs = n * (n - 1) // 2
    bad = {k: v.rdms.shape for k, v in brain.items() if v.rdms.shape[-1] != pairs}
    if bad:
        raise ValueError(f"brain RDMs must cover the {n} stimuli ({pairs} pairs); got {bad}")
    bins = shared_bins({k: v.bins for k, v in brain.items()})
    regions = list(brain)
    n_bins = 1 if bins is None else len(bins)
    B, T, R = len(blocks), times.size, len(regions)

    model = calc_rdms([features[k][t] for k in blocks for t in range(T)], rdm_method)
    data = {(r, j): rdms_object(brain[reg].rdms[j], brain[reg].subject) for r, reg in enumerate(regions)
            for j in range(n_bins)}
    sim = np.empty((B, T, R, n_bins))
    ceiling = np.full((2, R, n_bins), np.nan)
    for (r, j), d in data.items():
        sim[:, :, r, j] = compare_rdms(model, d, method).reshape(B, T)
        ceiling[:, r, j] = noise_ceiling(d, method)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, B, T, R, n_bins))
    for b in tqdm(range(n_boot), desc="rsa bootstrap", disable=not progress, leave=False):
        idx = _bootstrap_indices(rng, n)
        m = model.subsample_pattern("index", idx)
        for (r, j), d in data.items():
            boot[b, :, :, r, j] = compare_rdms(m, d.subsample_pattern("index", idx), method).reshape(B, T)
    q = [50 * (1 - ci), 50 * (1 + ci)]
    lo, hi = np.percentile(boot, q, axis=0) if n_boot else np.full((2, *sim.shape), np.nan)

    tb = () if bins is None else ("time_bin",)
    squeeze = (lambda a: a[..., 0]) if bins is None else (lambda a: a)
    what = f"model-brain RDM similarity ({method} of {rdm_method}-distance RDMs)"
    v = {"long_name": what, "units": "1"}
    data_vars = {
        "similarity": (("block", "time", "region", *tb), squeeze(sim), v),
        "similarity_ci_low": (("block", "time", "region", *tb), squeeze(lo),
                              {**v, "long_name": f"{what}, {ci:.0%} bootstrap CI low (stimuli resampled)"}),
        "similarity_ci_high": (("block", "time", "region", *tb), squeeze(hi),
                               {**v, "long_name": f"{what}, {ci:.0%} bootstrap CI high (stimuli resampled)"}),
        "ceiling_lower": (("region", *tb), squeeze(ceiling[0]),
                          {"long_name": "noise ceiling, lower bound (leave one subject out)", "units": "1"}),
        "ceiling_upper": (("region", *tb), squeeze(ceiling[1]),
                          {"long_name": "noise ceiling, upper bound (all subjects)", "units": "1"}),
        "n_subjects": (("region",), [len(set(brain[r].subject.tolist())) for r in regions],
                       {"long_name": "subjects (or sessions) with RDMs of the region", "units": "1"}),
    }
    coords = {
        "block": ("block", blocks),
        "time": ("time", times, {"long_name": "model time", "units": "1"}),
        "region": ("region", regions),
    }
    if bins is not None:
        coords["time_bin_start"] = ("time_bin", bins[:, 0], {"long_name": "time bin start", "units": "ms"})
        coords["time_bin_end"] = ("time_bin", bins[:, 1], {"long_name": "time bin end", "units": "ms"})
        if T >= 3:
            data_vars.update(time_fit_variables(sim, boot, times, bins, ci, "RDM similarity"))
    if keep_samples:
        data_vars["similarity_samples"] = (
            ("sample", "block", "time", "region", *tb), squeeze(boot),
            {**v, "long_name": f"{what}, bootstrap samples (stimuli resampled; the same for every model run with "
                               "this seed on the same stimuli)"})
    single = [r for r in regions if len(set(brain[r].subject.tolist())) < 2]
    attrs = {
        "method": method,
        "rdm_method": rdm_method,
        "n_boot": n_boot,
        "ci_level": ci,
        "seed": seed,
        "n_stimuli": n,
        "ceiling_note": (
            "noise ceilings from rsatoolbox.inference.boot_noise_ceiling over subjects; none possible for "
            + (", ".join(single) + " (one RDM)" if single else "no region")
        ),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
