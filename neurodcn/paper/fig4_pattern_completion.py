"""DCN paper Figs. 3c and 4: pattern completion, accuracy against mask size and D(t) inside the ODE blocks.

A centred n x n square of every image is set to 0 (neurodcn.cortex.completion); the cortex reports the
accuracy per mask size and, per ODE block, D(t) = sum|h_im(t) - h_masked(t)| / sum|h_im(t)| at model times
over [0, T]. Writes fig4_pattern_completion.nc, fig3c_accuracy_vs_mask.png and (models with ODE blocks)
fig4_completion_dynamics.png (D(t) mean +- SD over images for the reference's 14 x 14 mask, or the largest
mask below it in quick runs). With baselines, fig3c_paired_tests.csv holds, per mask size, every model's accuracy
with its Wilson interval and an exact McNemar test for every pair of models on the same images.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.accuracy import accuracy_table, mcnemar_table
from neurodcn.analysis.plots import plot_accuracy_vs_mask, plot_completion_dynamics
from neurodcn.analysis.plots.style import block_numbers
from neurodcn.cortex.completion import DEFAULT_NUM_TIMES
from neurodcn.cortex.sweep import ode_end_time
from neurodcn.paper.inputs import DEFAULT_STIMULI, input_settings, load_cortex, load_inputs, with_overrides
from neurodcn.paper.results import Outputs, Result
from neurodcn.validate import check_bool, check_int

__all__ = ["run", "settings", "REFERENCE_MASK", "BASELINES"]

NAME = "fig4_pattern_completion"
REFERENCE_MASK = 14
"""The DCN reference masks x[:, :, 9:23, 9:23]: a 14 x 14 square."""

BASELINES = ("odenet", "resnet-blocks")
"""The bundled models Fig. 3c sets beside the checkpoint's (the paper's ODE-Net and ResNet-blocks)."""


def settings(quick: bool = False) -> dict:
    """Default settings: num_images, mask_sizes (px), num_times (evenly spaced over [0, T])."""
    if check_bool("quick", quick):
        return {"num_images": 8, "mask_sizes": [0, 8, 14], "num_times": 5}
    return {"num_images": None, "mask_sizes": list(range(0, 22, 2)), "num_times": DEFAULT_NUM_TIMES}


def d_change(ds: xr.Dataset, mask_size) -> dict[int, float]:
    """Per ODE block k: the mean D over images at t = T less that at t = 0, for one mask size (the paper's
    Fig. 4 has D fall: the masked state converges towards the intact one)."""
    return {k: float(d[-1] - d[0]) for k in block_numbers(ds, "D_block")
            for d in [ds[f"D_block{k}"].sel(mask_size=mask_size).mean("stimulus").values]}


def paired_tests(compared: dict[str, xr.Dataset]) -> pd.DataFrame:
    """Per mask size: each model's accuracy (%, Wilson 95 % interval) and the exact McNemar test of every pair of
    models, on the images every model solved (``correct`` >= 0 in all). One row per mask size and pair."""
    correct = xr.concat([d["correct"] for d in compared.values()], pd.Index(list(compared), name="model"))
    solved = (correct >= 0).all(["model", "mask_size"])
    rows = []
    for size in correct["mask_size"].values:
        c = correct.sel(mask_size=size).isel(stimulus=solved.values).to_pandas().astype(bool)
        acc = accuracy_table(c)
        pairs = mcnemar_table(c)
        for col in ("a", "b"):
            for what in ("accuracy_pct", "ci_low_pct", "ci_high_pct"):
                pairs[f"{what}_{col}"] = acc.loc[pairs[f"model_{col}"], what].to_numpy()
        rows.append(pairs.assign(mask_size_px=int(size), images=int(solved.sum())))
    return pd.concat(rows, ignore_index=True)


def dynamics_figure(ds: xr.Dataset, mask_size, name: str) -> Figure:
    """Fig. 4 (plot_completion_dynamics) titled with whether D(t) falls, as in the paper, or rises."""
    fig = plot_completion_dynamics(ds, mask_size=mask_size)
    rising = [k for k, c in d_change(ds, mask_size).items() if c > 0]
    note = (f"D(t) rises in block{'s' if len(rising) > 1 else ''} {', '.join(map(str, rising))}, where the "
            "paper's D(t) falls" if rising else "D(t) falls in every block, as in the paper's")
    fig.suptitle(f"Fig. 4: D(t) inside the ODE blocks ({name})\n{note}", fontsize="small")
    return fig


def run(
    checkpoint=None,
    out="results",
    quick: bool = False,
    seed: int = 0,
    images_from=DEFAULT_STIMULI,
    num_images: int | None = None,
    mask_sizes=None,
    num_times: int | None = None,
    baselines=BASELINES,
    progress: bool = True,
    solver: str | None = None,
) -> Result:
    """Pattern completion of the checkpoint's model on ``num_images`` images (None: the settings' default)
    with the given mask sizes (px) and number of model times; None takes :func:`settings`. ``baselines``:
    checkpoints (bundled names or paths) whose accuracy against mask size joins Fig. 3c, on the same images, each
    under its own solver. ``solver``: an adaptive method to solve the checkpoint's model with (``load_cortex``)."""
    s = with_overrides(settings(quick), num_images=num_images, mask_sizes=mask_sizes, num_times=num_times)
    check_int("num_times", s["num_times"], 2)
    outputs = Outputs(out, NAME)  # starts the clock
    vc, stim = load_inputs(checkpoint, images_from, s["num_images"], seed, progress, solver)
    times = np.linspace(0.0, ode_end_time(vc.model), s["num_times"]) if vc.model.ode_blocks() else None
    ds = vc.pattern_completion(
        stim.images, stim.labels, s["mask_sizes"], times=times, stimulus_table=stim.table
    )
    ds.attrs["stimuli"] = stim.source
    outputs.dataset(
        ds,
        f"{NAME}.nc",
        f"pattern completion of {vc.name}: accuracy per centred mask size and, per "
        "ODE block, D(t) per mask size, image and model time",
    )
    compared = {vc.name: ds}
    for baseline in baselines or ():
        other = load_cortex(baseline, progress=progress)
        acc = other.pattern_completion(stim.images, stim.labels, s["mask_sizes"], stimulus_table=stim.table,
                                       times=[0.0, ode_end_time(other.model)] if other.model.ode_blocks() else None)
        compared[f"{other.name} ({baseline})" if other.name in compared else other.name] = acc
        ds[f"accuracy_{other.name}"] = acc["accuracy"].assign_attrs(long_name=f"fraction correct of {baseline}")
    if len(compared) > 1:
        tests = paired_tests(compared)
        outputs.table(tests, "fig3c_paired_tests.csv", "Fig. 3c: accuracy per mask size with Wilson 95 % intervals "
                      "and exact McNemar tests between every pair of models on the same images")
    fig = plot_accuracy_vs_mask(compared)
    fig.suptitle("Fig. 3c: accuracy with a centred zero mask")
    outputs.figure(
        fig, "fig3c_accuracy_vs_mask.png", "Fig. 3c: accuracy against the side of the centred mask"
    )
    summary = [
        f"{NAME}: {stim.images.shape[0]} images; accuracy {name} "
        + ", ".join(
            f"{float(a):.3f} (mask {int(n)})" for n, a in zip(d["mask_size"].values, d["accuracy"].values, strict=True)
        )
        for name, d in compared.items()
    ]
    if len(compared) > 1:  # the model against each baseline, every mask on one line (all pairs: the table)
        for other, rows in tests[tests["model_a"] == vc.name].groupby("model_b", sort=False):
            summary.append(f"  McNemar {vc.name} - {other} by mask (points, p): " + ", ".join(
                f"{r.mask_size_px} px {r.difference_pct:+.1f} ({r.p_value:.2g})" for r in rows.itertuples()))
    if vc.model.ode_blocks():
        sizes = ds["mask_size"].values
        below = sizes[(sizes > 0) & (sizes <= REFERENCE_MASK)]
        shown = int(below.max() if below.size else sizes.max())
        fig = dynamics_figure(ds, shown, vc.name)
        outputs.figure(
            fig,
            "fig4_completion_dynamics.png",
            f"Fig. 4: D(t) mean +- SD over images for the {shown} x {shown} px mask, one line per ODE block",
        )
        for name in sorted(v for v in ds.data_vars if str(v).startswith("D_block")):
            d = ds[name].sel(mask_size=shown).mean("stimulus").values
            trend = "rises" if d[-1] > d[0] else "falls"
            summary.append(f"  {name} (mask {shown}): mean D {d[0]:.3g} at t = 0 -> {d[-1]:.3g} at t = T "
                           f"({trend}; the paper's falls)")
    s.update(input_settings(checkpoint, vc, stim, seed), baselines=list(baselines or ()))
    return outputs.finish(s, summary)
