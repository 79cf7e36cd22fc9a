"""Paired comparison of models on the same stimuli (RSA) or the same neurons (predictivity), e.g. against baselines.

A model's score in a region is its best over blocks and model times: the maximum of ``similarity`` (RSA) or of
``median_r`` (predictivity: the median over the region's neurons of the held-out r). Its difference from a
baseline's score gets a percentile CI from the bootstrap samples the models share: rsa_over_time and
predictivity_over_time with ``keep_samples=True``, run with the same seed on the same stimuli and recordings,
resample the same stimuli (RSA) or neurons (predictivity) in every sample, and the best block and time is chosen
again within each sample, so the CI includes the selection. The two-sided bootstrap p-value is
min(1, 2 (1 + min(#(d <= 0), #(d >= 0))) / (1 + n)) over the n samples d of the difference (the add-one
estimate: never 0 with finitely many samples).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.validate import check_choice, check_real, check_str, check_type, show

__all__ = ["TABLE_COLUMNS", "best_score", "paired_rsa", "paired_predictivity", "paired_table"]

TABLE_COLUMNS = ("score", "baseline_score", "difference", "difference_ci_low", "difference_ci_high", "p_value",
                 "best_block", "best_time", "best_time_ms")
"""The variables of a paired dataset that :func:`paired_table` lists (best_time_ms where there is one)."""


def best_score(da: xr.DataArray) -> xr.DataArray:
    """The maximum of ``da`` over its block and time dims (NaN ignored; NaN where all are), with coords ``block``
    and ``time`` (and ``time_ms`` where ``da`` has it) of the maximum; the other dims stay."""
    flat = da.stack(choice=("block", "time"))
    return flat.isel(choice=flat.fillna(-np.inf).argmax("choice")).drop_vars("choice")


def _check_results(results, var: str, keys: tuple, coords: tuple, producer: str) -> dict:
    """``results`` (model name -> dataset) if it holds two or more datasets with ``var`` and its samples that were
    bootstrapped alike (equal attrs ``keys`` and coords ``coords``); ValueError or TypeError naming what is not."""
    samples = f"{var}_samples"
    check_type("results", results, dict, f"a dict model name -> dataset of {producer} with keep_samples=True")
    if len(results) < 2:
        raise ValueError(f"results must hold at least two models to compare, got {list(results)}")
    for name, ds in results.items():
        check_str("results key", name)
        check_type(f"results[{name!r}]", ds, xr.Dataset, f"an xarray.Dataset of {producer}")
        if var not in ds or samples not in ds:
            raise ValueError(f"results[{name!r}] must hold {var!r} and {samples!r} ({producer} with keep_samples="
                             f"True), got variables {sorted(ds.data_vars)}")
        if ds.sizes["sample"] == 0:
            raise ValueError(f"results[{name!r}] has no bootstrap samples (n_boot = 0): run with n_boot >= 1")
    first, ref = next(iter(results.items()))
    for name, ds in results.items():
        for k in keys:
            if not np.array_equal(np.asarray(ds.attrs.get(k)), np.asarray(ref.attrs.get(k))):
                raise ValueError(f"results must be bootstrapped alike to be paired: attr {k!r} is "
                                 f"{show(ref.attrs.get(k))} for {first!r} but {show(ds.attrs.get(k))} for {name!r}")
        for c in coords:
            a, b = (d[c].values.tolist() if c in d.coords else None for d in (ref, ds))
            if a != b:
                raise ValueError(f"results must be paired: coord {c!r} is {show(a)} for {first!r} but {show(b)} "
                                 f"for {name!r}")
    return results


def _labelled(da: xr.DataArray, long_name: str, units: str | None = "1") -> xr.DataArray:
    """``da`` on dims ordered model, baseline, region, ... with just these attrs (no units: None)."""
    first = [d for d in ("model", "baseline", "region") if d in da.dims]
    attrs = {"long_name": long_name} | ({} if units is None else {"units": units})
    return da.drop_attrs().transpose(*first, ...).assign_attrs(attrs)


def _paired(results: dict, baselines, ci: float, var: str, what: str, resampled: str) -> xr.Dataset:
    """The paired comparison of every model in ``results`` with every baseline (see the module docstring)."""
    baselines = [baselines] if isinstance(baselines, str) else list(baselines)
    if not baselines or len(set(baselines)) != len(baselines):
        raise ValueError(f"baselines must be one or more distinct names of results ({list(results)}), "
                         f"got {show(baselines)}")
    for b in baselines:
        check_choice("baselines", b, list(results))
    ci = check_real("ci", ci, 0, 1, lo_open=True, hi_open=True)
    models = list(results)
    best = [best_score(ds[var]) for ds in results.values()]

    def per_model(arrays) -> xr.DataArray:
        return xr.concat(arrays, dim="model").assign_coords(model=models)

    score = per_model([b.reset_coords(drop=True) for b in best])
    boot = per_model([best_score(ds[f"{var}_samples"]).reset_coords(drop=True) for ds in results.values()])
    as_baseline = {"model": "baseline"}
    base = score.sel(model=baselines).rename(as_baseline)
    d = boot - boot.sel(model=baselines).rename(as_baseline)
    lo, hi = d.quantile([(1 - ci) / 2, (1 + ci) / 2], dim="sample").drop_vars("quantile")
    n = d.notnull().sum("sample")
    tail = np.minimum((d <= 0).sum("sample"), (d >= 0).sum("sample"))
    p = np.minimum(1.0, 2 * (tail + 1) / (n + 1)).where(n > 0)

    diff = f"model minus baseline, best {what}"
    ci_of = f"{ci:.0%} CI (paired bootstrap, {resampled} resampled)"
    data_vars = {
        "score": _labelled(score, f"best {what} over blocks and model times"),
        "baseline_score": _labelled(base, f"baseline's best {what} over blocks and model times"),
        "difference": _labelled(score - base, diff),
        "difference_ci_low": _labelled(lo, f"{diff}: {ci_of} low"),
        "difference_ci_high": _labelled(hi, f"{diff}: {ci_of} high"),
        "p_value": _labelled(p, "two-sided paired bootstrap p-value of the difference"),
    }
    where = {"best_block": ("block", "block of the best score", None),
             "best_time": ("time", "model time of the best score", "1"),
             "best_time_ms": ("time_ms", "time after stimulus onset of the best score", "ms")}
    ref = next(iter(results.values()))
    coords = {k: _labelled(per_model([xr.DataArray(b[c].values, dims=b[c].dims) for b in best]), long, units)
              for k, (c, long, units) in where.items() if all(c in b.coords for b in best)}
    coords.update({c: ref[c] for c in ("time_bin_start", "time_bin_end") if c in ref.coords})
    out = xr.Dataset(data_vars, coords=coords)
    out["model"].attrs.update(long_name="model compared")
    out["baseline"].attrs.update(long_name="baseline it is compared with (itself: difference 0)")
    out.attrs.update(
        score=f"best {what} over blocks and model times, the best chosen again in every bootstrap sample",
        resampled=resampled,
        n_boot=int(d.sizes["sample"]),
        ci_level=ci,
        seed=ref.attrs.get("seed", -1),
        n_stimuli=ref.attrs.get("n_stimuli", -1),
        p_value_note="min(1, 2 (1 + min(#(d <= 0), #(d >= 0))) / (1 + n)) over the n bootstrap samples d of the "
                     "difference",
    )
    return out


def paired_rsa(results: dict, baselines, ci: float = 0.95) -> xr.Dataset:
    """Paired comparison of models' RSA scores on the same stimuli, each model against each baseline.

    results: model name -> dataset of rsa_over_time or vc.rsa run with keep_samples=True, the same seed, n_boot,
    method and rdm_method on the same stimuli and brain RDMs (the stimuli resampled are then the same);
    baselines: one or more of its names. A score is the best ``similarity`` over blocks and model times.
    Returns a dataset on model x baseline x region [x time_bin]: ``score`` and ``best_block``, ``best_time``
    (``best_time_ms``) per model, ``baseline_score``, ``difference`` (model minus baseline) with its ci-level
    percentile CI ``difference_ci_low``/``_high`` and ``p_value`` (unitless: RDM similarity).
    """
    results = _check_results(results, "similarity", ("seed", "n_boot", "n_stimuli", "method", "rdm_method"),
                             ("region", "time_bin_start", "time_bin_end"), "rsa_over_time (or vc.rsa)")
    method = next(iter(results.values())).attrs.get("method", "?")
    out = _paired(results, baselines, ci, "similarity", f"RDM similarity ({method})", "stimuli")
    return out.assign_attrs(method=method, rdm_method=next(iter(results.values())).attrs.get("rdm_method", "?"))


def paired_predictivity(results: dict, baselines, ci: float = 0.95) -> xr.Dataset:
    """Paired comparison of models' predictivity of the same neurons, each model against each baseline.

    results: model name -> dataset of predictivity_over_time or vc.predictivity run with keep_samples=True, the
    same seed, n_boot and n_splits on the same stimuli and recordings (the neurons resampled are then the same);
    baselines: one or more of its names. A score is the best ``median_r`` (median over a region's neurons of the
    held-out Pearson r) over blocks and model times. Returns a dataset on model x baseline x region [x time_bin]
    as :func:`paired_rsa`'s (unitless: r).
    """
    results = _check_results(results, "median_r", ("seed", "n_boot", "n_stimuli", "n_splits"),
                             ("region", "neuroid_id", "neuroid_region", "time_bin_start", "time_bin_end"),
                             "predictivity_over_time (or vc.predictivity)")
    return _paired(results, baselines, ci, "median_r", "median held-out r over neurons", "neurons")


def paired_table(ds: xr.Dataset) -> pd.DataFrame:
    """The comparisons of a paired dataset (:func:`paired_rsa`, :func:`paired_predictivity`) as rows: each model
    against each baseline but itself, a baseline only against the baselines listed before it (the others are the
    same comparisons with the sign flipped); columns region [, time_bin], model, baseline and TABLE_COLUMNS."""
    check_type("ds", ds, xr.Dataset, "a dataset of paired_rsa or paired_predictivity")
    missing = [v for v in TABLE_COLUMNS[:-1] if v not in ds]
    if missing or "baseline" not in ds.dims:
        raise ValueError(f"ds must be a dataset of paired_rsa or paired_predictivity, missing {missing or 'baseline'}")
    bases = ds["baseline"].values.tolist()
    keep = [v for v in TABLE_COLUMNS if v in ds]
    front = ["region", *(["time_bin"] if "time_bin" in ds.dims else []), "model", "baseline"]
    table = ds[keep].drop_vars(["time_bin_start", "time_bin_end"], errors="ignore").to_dataframe(
        dim_order=front).reset_index()
    rows = [m != b and (m not in bases or bases.index(m) > bases.index(b))
            for m, b in zip(table["model"], table["baseline"], strict=True)]
    return table[rows][front + keep].reset_index(drop=True)
