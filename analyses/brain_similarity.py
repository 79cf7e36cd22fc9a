"""Model-brain similarity over model time: 92-image RSA (EVC, IT, monkey IT, human IT) and V4 predictivity.

RSA (vc.rsa): the RDM (correlation distance, full feature maps) of every ODE block at every model time of the
92 images (Kriegeskorte et al. 2008; bundled, 64 px, resized to the model's input) against the Algonauts
2019 EVC and IT RDMs (15 subjects), the monkey IT RDM (674 neurons, one RDM) and the human IT RDMs (4
subjects x 2 sessions); Spearman's rho-a (rsatoolbox), rsatoolbox noise ceilings over subjects, bootstrap
CIs over images. Predictivity (vc.predictivity): 5-fold ridge (RidgeCV) from each block's features
(average-pooled to 4 x 4 positions) at each model time to every V4 neuron of the four sessions of Cowley
et al. 2023: repeat averages for 190923, 201025 and 210225 (no ceiling possible); single trials for 210325, which
give each neuron a split-half noise ceiling and the noise-corrected r / sqrt(ceiling) (table
predictivity_v4_210325_ceiled_<model>.csv, every model at its best block and time). The Algonauts and V4 sets
are read from ``--recordings`` (default ../shared/data/recordings; never bundled); parts whose files are absent are
skipped with a message.

Baselines (on unless ``--no-baselines``): the pixels (VirtualCortex.pixels), an untrained copy of the model (its
checkpoint's config rebuilt by the zoo: the initialisation its seed gives) and a discrete network
(``--discrete``, default the bundled resnet-blocks) run through the same RSA and predictivity with the same
bootstrap seed, so every sample resamples the same images (RSA) or neurons (predictivity) for all of them. Each
model's best score over blocks and model times is compared with each baseline's (neurodcn.analysis.compare.paired:
difference, percentile CI of the paired bootstrap with the best chosen again in every sample, p-value).

Writes rsa_92images_<model>.nc, predictivity_v4_<session>_<model>.nc, tables rsa_92images_<model>.csv and
predictivity_v4_<model>.csv (best block and model time per region), baselines_<model>.csv (model minus baseline
per measure and region) and figures.

    python analyses/brain_similarity.py [--checkpoint CKPT] [--out results/brain_similarity] [--quick]
        [--no-baselines] [--discrete CKPT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.analysis.compare.ceiling import noise_corrected_predictivity
from neurodcn.analysis.compare.paired import best_score, paired_predictivity, paired_rsa, paired_table
from neurodcn.analysis.plots import (
    plot_block_region_matrix,
    plot_predictivity_distributions,
    plot_similarity_over_time,
)
from neurodcn.analysis.plots.similarity import plot_paired_differences
from neurodcn.analysis.plots.style import new_figure
from neurodcn.cortex.baselines import untrained_copy
from neurodcn.cortex.virtual_cortex import VirtualCortex
from neurodcn.data.recordings import (
    SHARED_RECORDINGS,
    V4_SESSIONS,
    V4_TRIAL_SESSIONS,
    load_92_images,
    load_algonauts2019_rdms,
    load_cowley2023_v4,
    load_kriegeskorte2008_rdms,
)
from neurodcn.validate import check_bool

__all__ = ["run", "main", "settings", "best_table", "baseline_cortices", "baseline_table", "ceiled_table"]

NAME = "brain_similarity"
OUT = "results/brain_similarity"
DISCRETE = "resnet-blocks"
"""The discrete baseline: a bundled checkpoint (or a checkpoint path given with --discrete)."""


def settings(quick: bool) -> dict:
    """RSA and predictivity settings (``quick``: 3 model times, 20 bootstrap samples, 200 V4 images)."""
    return {
        "times": np.linspace(0.0, 2.0, 3 if quick else 9).tolist(),
        "method": "rho-a",
        "rdm_method": "correlation",
        "rsa_pool": None,
        "n_boot": 20 if quick else 500,
        "seed": 0,
        "v4_pool": 4,
        "v4_pca": None,
        "n_splits": 5,
        "v4_images": 200 if quick else None,
    }


def best_table(ds: xr.Dataset, var: str) -> pd.DataFrame:
    """Per region and block: the best score over model time, its CI, model time and ms, and the ceiling."""
    rows = []
    for region in ds["region"].values:
        for block in ds["block"].values:
            s = ds.sel(region=region, block=block)
            t = int(s[var].fillna(-np.inf).argmax("time"))
            row = {
                "region": str(region), "block": str(block), "best": float(s[var][t]),
                "ci_low": float(s[f"{var}_ci_low"][t]), "ci_high": float(s[f"{var}_ci_high"][t]),
                "time": float(ds["time"][t]), "time_ms": float(ds["time_ms"][t]),
            }
            if "ceiling_lower" in ds:
                row.update(ceiling_lower=float(s["ceiling_lower"]), ceiling_upper=float(s["ceiling_upper"]))
            rows.append(row)
    return pd.DataFrame(rows)


def baseline_cortices(vc: VirtualCortex, checkpoint=None, discrete=DISCRETE, progress: bool = True) -> dict:
    """The baselines of ``vc`` (the cortex on ``checkpoint``) by name: "pixels", "untrained <model>" (the
    checkpoint's config rebuilt by the zoo, initialised by its seed) with vc's visual field, time map and image
    size, and the discrete network ``discrete`` (a bundled name or a path; left out when it is the checkpoint)."""
    like = dict(visual_degrees=vc.visual_degrees, ms_per_unit_time=vc.ms_per_unit_time, onset_ms=vc.onset_ms,
                image_size=vc.image_size, progress=progress)
    out = {"pixels": VirtualCortex.pixels(vc.in_channels, **like),
           f"untrained {vc.name}": VirtualCortex(untrained_copy(vc.model_config), **like)}
    if common.checkpoint_label(discrete) != common.checkpoint_label(checkpoint):
        d = common.load_cortex(discrete, progress=progress)
        out[d.name if d.name != vc.name else f"{d.name} ({common.checkpoint_label(discrete)})"] = d
    return out


def baseline_table(paired: dict) -> pd.DataFrame:
    """The rows of paired_table of each paired dataset in ``paired`` (measure -> dataset), with a measure column
    first."""
    table = pd.concat([paired_table(ds).assign(measure=m) for m, ds in paired.items()], ignore_index=True)
    return table[["measure", *table.columns.drop("measure")]]


def ceiled_table(runs: dict[str, xr.Dataset]) -> pd.DataFrame:
    """Noise-corrected V4 predictivity of every model of ``runs`` (model name -> predictivity of one session run
    on single trials, so that it holds per-neuron ``ceiling``): at each model's best block and model time (by
    median r), the median over neurons of r, of the ceiling and of r / sqrt(ceiling)
    (noise_corrected_predictivity; neurons with a ceiling below its minimum are left out and counted)."""
    rows = []
    for name, ds in runs.items():
        best = best_score(ds["median_r"].squeeze("region", drop=True))
        r = ds["r"].sel(block=best["block"].item(), time=best["time"].item())
        nc = noise_corrected_predictivity(r, ds["ceiling"])
        kept = nc["nan_reason"] == ""
        rows.append({"model": name, "block": str(best["block"].item()), "time": float(best["time"]),
                     "median_r": float(r.median()), "median_ceiling": float(nc["ceiling"].median()),
                     "median_r_corrected": float(nc["r_corrected"].where(kept).median()),
                     "neurons": int(r.sizes["neuroid"]), "neurons_corrected": int(kept.sum())})
    return pd.DataFrame(rows)


def _times(vc: VirtualCortex, s: dict):
    """The model times of the settings for a cortex on continuous blocks; None (time 0) for discrete layers."""
    return s["times"] if vc.readout.continuous else None


def _summary(table: pd.DataFrame, what: str) -> list[str]:
    out = []
    for region, rows in table.groupby("region", sort=False):
        b = rows.loc[rows["best"].idxmax()]
        ceiling = (f", ceiling [{b['ceiling_lower']:.3f}, {b['ceiling_upper']:.3f}]"
                   if "ceiling_lower" in b and np.isfinite(b["ceiling_lower"]) else ", no ceiling")
        out.append(f"  {what} {region}: best {b['block']} at t = {b['time']:g} ({b['time_ms']:g} ms): "
                   f"{b['best']:.3f} [{b['ci_low']:.3f}, {b['ci_high']:.3f}]{ceiling}")
    return out


def run(checkpoint=None, out=OUT, quick: bool = False, progress: bool = True, recordings=None,
        baselines: bool = True, discrete=DISCRETE) -> common.Result:
    """RSA on the 92 images and V4 predictivity of one checkpoint's model, saved, tabled and plotted; with
    ``baselines`` also of its baselines (:func:`baseline_cortices`), compared with them in pairs."""
    baselines = check_bool("baselines", baselines)
    root = Path(SHARED_RECORDINGS if recordings is None else recordings)
    s = settings(quick)
    vc = common.load_cortex(checkpoint, progress=progress)
    cortices = {**(baseline_cortices(vc, checkpoint, discrete, progress) if baselines else {}), vc.name: vc}
    others = list(cortices)[:-1]
    outputs = common.Outputs(out, NAME)
    tag = vc.name
    summary = [f"{NAME}: {vc.name}, model times {s['times']}, time_ms = {vc.onset_ms:g} + "
               f"{vc.ms_per_unit_time:g} t"]

    images, _ = load_92_images()
    k = load_kriegeskorte2008_rdms()
    brain = {}
    try:
        brain.update(load_algonauts2019_rdms(root / "algonauts2019_92images"))
    except FileNotFoundError as err:
        summary.append(f"  skipped the Algonauts EVC/IT RDMs: {err}")
    brain.update({"monkey IT": k["monkey IT"], "human IT": k["human IT"]})
    rsas = {name: c.rsa(images, brain, times=_times(c, s), method=s["method"], rdm_method=s["rdm_method"],
                        pool=s["rsa_pool"], n_boot=s["n_boot"], seed=s["seed"], keep_samples=baselines)
            for name, c in cortices.items()}
    rsa = rsas[vc.name].drop_vars("similarity_samples", errors="ignore")
    outputs.dataset(rsa, f"rsa_92images_{tag}.nc", f"RSA of {tag} over model time, 92 images")
    table = best_table(rsa, "similarity")
    outputs.table(table, f"rsa_92images_{tag}.csv", "best block and model time per region (RSA)")
    outputs.figure(plot_similarity_over_time(rsa), f"rsa_92images_{tag}.png", "RDM similarity vs time (ms)")
    outputs.figure(plot_block_region_matrix(rsa), f"rsa_92images_matrix_{tag}.png", "block x region (best)")
    summary += _summary(table, "RSA")

    parts, paired_v4 = [], []
    for session in V4_SESSIONS:
        trials = session in V4_TRIAL_SESSIONS  # single trials: the run gets a per-neuron noise ceiling
        try:
            x, resp = load_cowley2023_v4(session, root / "cowley2023_v4", trials=trials)
        except FileNotFoundError as err:
            summary.append(f"  skipped V4 session {session}: {err}")
            continue
        if s["v4_images"]:
            x, resp = x[: s["v4_images"]], resp.where(resp["stimulus_id"] <= s["v4_images"], drop=True)
        ids = np.arange(1, len(x) + 1)  # image i of x is stimulus_id i + 1
        runs = {name: c.predictivity(x, {f"V4 {session}": resp}, times=_times(c, s),
                                     stimulus_id=ids, pool=s["v4_pool"], pca=s["v4_pca"],
                                     n_splits=s["n_splits"], n_boot=s["n_boot"], seed=s["seed"],
                                     keep_samples=baselines)
                for name, c in cortices.items()}
        if baselines:
            paired_v4.append(paired_predictivity(runs, others))
        if trials:
            ceiled = ceiled_table(runs)
            outputs.table(ceiled, f"predictivity_v4_{session}_ceiled_{tag}.csv", f"V4 session {session}: median "
                          "r, split-half noise ceiling and noise-corrected r / sqrt(ceiling) at each model's best "
                          "block and time")
            summary += [f"  V4 {session} noise-corrected: {r.model} median r {r.median_r:.3f}, ceiling "
                        f"{r.median_ceiling:.3f}, r / sqrt(ceiling) {r.median_r_corrected:.3f} ({r.block}, t = "
                        f"{r.time:g}; {r.neurons_corrected} of {r.neurons} neurons)" for r in ceiled.itertuples()]
        ds = runs[vc.name].drop_vars("median_r_samples", errors="ignore")
        outputs.dataset(ds, f"predictivity_v4_{session}_{tag}.nc", f"V4 predictivity of {tag}, session {session}")
        parts.append(ds)
    if parts:
        keep = ["median_r", "median_r_ci_low", "median_r_ci_high"]
        both = xr.concat([p[keep] for p in parts], dim="region", combine_attrs="override")
        table = best_table(both, "median_r")
        outputs.table(table, f"predictivity_v4_{tag}.csv", "best block and model time per V4 session")
        outputs.figure(plot_similarity_over_time(both), f"predictivity_v4_{tag}.png", "median r vs time (ms)")
        fig, axes = new_figure(ncols=len(parts), width=4.5, height=3.4)
        for ax, p in zip(axes, parts, strict=True):
            plot_predictivity_distributions(p, ax=ax)
        outputs.figure(fig, f"predictivity_v4_distributions_{tag}.png", "per-neuron r per block, best time")
        summary += _summary(table, "predictivity")
        summary.append("  V4: " + parts[0].attrs["ceiling_note"])
    if baselines:
        paired = {"RSA": paired_rsa(rsas, others)}
        if paired_v4:
            paired["V4 predictivity"] = xr.concat(paired_v4, dim="region", combine_attrs="drop_conflicts")
        table = baseline_table(paired)
        outputs.table(table, f"baselines_{tag}.csv", "best score of each model minus each baseline's, per measure "
                      "and region, with paired bootstrap CIs and p-values")
        n = table["model"].nunique()
        fig, axes = new_figure(nrows=len(paired), ncols=n, width=max(ds.sizes["region"] for ds in paired.values())
                               + 2.5, height=3.2)
        for i, ds in enumerate(paired.values()):
            plot_paired_differences(ds, ax=axes[i * n: (i + 1) * n])
        outputs.figure(fig, f"baselines_{tag}.png", "model minus baseline per region (paired bootstrap CIs)")
        summary += [f"  {r.measure} {r.region}: {r.model} minus {r.baseline} {r.difference:+.3f} "
                    f"[{r.difference_ci_low:+.3f}, {r.difference_ci_high:+.3f}], p = {r.p_value:.2g}"
                    for r in table[table["model"] == vc.name].itertuples()]
    run_settings = {"checkpoint": common.checkpoint_label(checkpoint), "model": vc.name,
                    "recordings": str(root), "quick": quick, "baselines": others,
                    "discrete": common.checkpoint_label(discrete) if baselines else None, **s}
    return outputs.finish(run_settings, summary)


def main(argv=None) -> int:
    p = common.parser(NAME, __doc__.splitlines()[0], images=False, out=OUT)
    p.add_argument("--recordings", default=None,
                   help="folder with algonauts2019_92images/ and cowley2023_v4/ (default ../shared/data/recordings)")
    p.add_argument("--no-baselines", dest="baselines", action="store_false",
                   help="compare the model alone (default: also pixels, its untrained copy and --discrete, in pairs)")
    p.add_argument("--discrete", default=DISCRETE, metavar="CKPT",
                   help=f"the discrete baseline: a bundled checkpoint name or a path (default: bundled {DISCRETE})")
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
