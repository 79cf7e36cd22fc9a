"""Model-brain similarity over model time: 92-image RSA (EVC, IT, monkey IT, human IT) and V4 predictivity.

RSA (vc.rsa): the RDM (correlation distance, full feature maps) of every ODE block at every model time of the
92 images (Kriegeskorte et al. 2008; bundled, 64 px, resized to the model's input) against the Algonauts
2019 EVC and IT RDMs (15 subjects), the monkey IT RDM (674 neurons, one RDM) and the human IT RDMs (4
subjects x 2 sessions); Spearman's rho-a (rsatoolbox), rsatoolbox noise ceilings over subjects, bootstrap
CIs over images. Predictivity (vc.predictivity): 5-fold ridge (RidgeCV) from each block's features
(average-pooled to 4 x 4 positions) at each model time to every V4 neuron of the four sessions of Cowley
et al. 2023 (repeat-averaged responses: no ceiling possible). The Algonauts and V4 sets are read from
``--recordings`` (default ../shared/data/recordings; never bundled); parts whose files are absent are
skipped with a message.

Writes rsa_92images_<model>.nc, predictivity_v4_<session>_<model>.nc, tables rsa_92images_<model>.csv and
predictivity_v4_<model>.csv (best block and model time per region) and figures.

    python analyses/brain_similarity.py [--checkpoint CKPT] [--out results/brain_similarity] [--quick]
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

from neurodcn.analysis.plots import (
    plot_block_region_matrix,
    plot_predictivity_distributions,
    plot_similarity_over_time,
)
from neurodcn.analysis.plots.style import new_figure
from neurodcn.data.recordings import (
    SHARED_RECORDINGS,
    V4_SESSIONS,
    load_92_images,
    load_algonauts2019_rdms,
    load_cowley2023_v4,
    load_kriegeskorte2008_rdms,
)

__all__ = ["run", "main", "settings", "best_table"]

NAME = "brain_similarity"
OUT = "results/brain_similarity"


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


def _summary(table: pd.DataFrame, what: str) -> list[str]:
    out = []
    for region, rows in table.groupby("region", sort=False):
        b = rows.loc[rows["best"].idxmax()]
        ceiling = (f", ceiling [{b['ceiling_lower']:.3f}, {b['ceiling_upper']:.3f}]"
                   if "ceiling_lower" in b and np.isfinite(b["ceiling_lower"]) else ", no ceiling")
        out.append(f"  {what} {region}: best {b['block']} at t = {b['time']:g} ({b['time_ms']:g} ms): "
                   f"{b['best']:.3f} [{b['ci_low']:.3f}, {b['ci_high']:.3f}]{ceiling}")
    return out


def run(checkpoint=None, out=OUT, quick: bool = False, progress: bool = True, recordings=None) -> common.Result:
    """RSA on the 92 images and V4 predictivity of one checkpoint's model, saved, tabled and plotted."""
    root = Path(SHARED_RECORDINGS if recordings is None else recordings)
    s = settings(quick)
    vc = common.load_cortex(checkpoint, progress=progress)
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
    rsa = vc.rsa(images, brain, times=s["times"], method=s["method"], rdm_method=s["rdm_method"],
                 pool=s["rsa_pool"], n_boot=s["n_boot"], seed=s["seed"])
    outputs.dataset(rsa, f"rsa_92images_{tag}.nc", f"RSA of {tag} over model time, 92 images")
    table = best_table(rsa, "similarity")
    outputs.table(table, f"rsa_92images_{tag}.csv", "best block and model time per region (RSA)")
    outputs.figure(plot_similarity_over_time(rsa), f"rsa_92images_{tag}.png", "RDM similarity vs time (ms)")
    outputs.figure(plot_block_region_matrix(rsa), f"rsa_92images_matrix_{tag}.png", "block x region (best)")
    summary += _summary(table, "RSA")

    parts = []
    for session in V4_SESSIONS:
        try:
            x, resp = load_cowley2023_v4(session, root / "cowley2023_v4")
        except FileNotFoundError as err:
            summary.append(f"  skipped V4 session {session}: {err}")
            continue
        if s["v4_images"]:
            x, resp = x[: s["v4_images"]], resp.isel(presentation=slice(0, s["v4_images"]))
        ds = vc.predictivity(x, {f"V4 {session}": resp}, times=s["times"], stimulus_id=resp["stimulus_id"].values,
                             pool=s["v4_pool"], pca=s["v4_pca"], n_splits=s["n_splits"], n_boot=s["n_boot"],
                             seed=s["seed"])
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
    run_settings = {"checkpoint": common.checkpoint_label(checkpoint), "model": vc.name,
                    "recordings": str(root), "quick": quick, **s}
    return outputs.finish(run_settings, summary)


def main(argv=None) -> int:
    p = common.parser(NAME, __doc__.splitlines()[0], images=False, out=OUT)
    p.add_argument("--recordings", default=None,
                   help="folder with algonauts2019_92images/ and cowley2023_v4/ (default ../shared/data/recordings)")
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
