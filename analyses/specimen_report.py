"""Is a trained model worth recording from? How much its ODE blocks move and how far its SRF scales learned.

For a checkpoint (default: the bundled dcn-ode):
- Dynamics: the relative change of each ODE block's state over [0, T], ||h(T) - h(0)|| / ||h(0)|| (L2 over
  channels and positions, per image), recorded by VirtualCortex.record at t = 0 and t = T on the images drawn.
  A block whose median is near 0 is frozen: it passes its input through.
- Scales: every SRF layer's sigma (px of its input map) trained against initialisation, where the model is
  rebuilt from its config with the seed that initialised it (build_model); for per-pair (sigma_ji) layers, the
  two-sample KS test of trained vs initial sigma_ji and the Pearson r of their logarithms.
Writes specimen_dynamics.csv, specimen_sigma.csv and specimen_report.png.

    python analyses/specimen_report.py [--checkpoint runs/dcn-ode-c10/best.pt] [--num-images 64]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.analysis.plots.style import log_ticks, new_figure
from neurodcn.cortex.virtual_cortex import VirtualCortex
from neurodcn.nn.zoo import build_model
from neurodcn.paper.inputs import DEFAULT_STIMULI

NAME = "specimen_report"


def block_change(vc: VirtualCortex, images) -> pd.DataFrame:
    """Per image and ODE block: ||h(T) - h(0)|| / ||h(0)|| (dimensionless)."""
    T = max(b.solver.T for _, b in vc.model.ode_blocks())
    tree = vc.record(images, times=[0.0, T])
    rows = []
    for name in sorted(k for k in tree.children if k.startswith("block")):
        h = tree[name]["h"]
        start, end = h.isel(time=0).values, h.isel(time=-1).values
        change = np.linalg.norm((end - start).reshape(len(start), -1), axis=1) / np.linalg.norm(
            start.reshape(len(start), -1), axis=1)
        rows += [{"block": name, "image": i, "relative_change": float(c)} for i, c in enumerate(change)]
    return pd.DataFrame(rows)


def sigma_drift(vc: VirtualCortex) -> pd.DataFrame:
    """Per SRF layer: sigma trained and at initialisation (px of its input map), their ratio, and for per-pair
    layers the KS test and log-correlation of trained vs initial sigma_ji."""
    config = vc.model.config
    if "seed" not in config:
        raise ValueError(f"the model's config names no seed, so its initialisation cannot be rebuilt: {config}")
    start = build_model(**config)
    trained, initial = dict(vc.model.named_modules()), dict(start.named_modules())
    rf = vc.receptive_fields()
    rows = []
    for layer, name in enumerate(rf["layer_name"].values):
        a, b = trained[name], initial[name]
        now, then = a.sigma_at().detach().numpy().ravel(), b.sigma_at().detach().numpy().ravel()
        row = {"layer": name, "depth": int(rf["depth"].values[layer]), "map_stride_px": float(
            rf["map_stride_px"].values[layer]), "sigma_trained_px": float(np.median(now)),
            "sigma_initial_px": float(np.median(then)), "pairs": len(now)}
        row["ratio"] = row["sigma_trained_px"] / row["sigma_initial_px"]
        if len(now) > 1:
            ks = stats.ks_2samp(now, then)
            row.update(ks_statistic=float(ks.statistic), ks_p_value=float(ks.pvalue),
                       log_correlation=float(np.corrcoef(np.log(now), np.log(then))[0, 1]))
        rows.append(row)
    return pd.DataFrame(rows)


def _figure(dynamics: pd.DataFrame, sigma: pd.DataFrame, title: str):
    fig, (ax1, ax2) = new_figure(ncols=2, width=4.2, height=3.4)
    blocks = sorted(dynamics["block"].unique())
    ax1.boxplot([dynamics.loc[dynamics.block == b, "relative_change"] for b in blocks], tick_labels=blocks)
    ax1.axhline(0.1, color="0.6", ls="--", lw=1, label="10 %")
    ax1.set_ylabel("||h(T) - h(0)|| / ||h(0)||")
    ax1.set_title("change of state over [0, T]", fontsize=9)
    ax1.legend(frameon=False, fontsize=7)
    ax2.plot(sigma["depth"], sigma["sigma_initial_px"], "o--", color="0.6", label="initialisation")
    ax2.plot(sigma["depth"], sigma["sigma_trained_px"], "o-", label="trained")
    ax2.set_yscale("log")
    log_ticks(ax2, np.concatenate([sigma["sigma_initial_px"], sigma["sigma_trained_px"]]))
    ax2.set_xlabel("SRF layer (depth)")
    ax2.set_ylabel("sigma (px of the layer's input map)")
    ax2.set_title("learned scale vs initial", fontsize=9)
    ax2.legend(frameon=False, fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def run(checkpoint=None, out="results", quick=False, progress=True, images_from=DEFAULT_STIMULI, num_images=None,
        seed=0) -> common.Result:
    """Dynamics and scales of ``checkpoint``; writes the two tables and the figure to ``out``."""
    outputs = common.Outputs(out, NAME)
    vc = common.load_cortex(checkpoint, progress=progress)
    stimuli = common.load_stimuli(images_from, num_images=num_images or (8 if quick else 64), seed=seed)
    dynamics, sigma = block_change(vc, stimuli.images), sigma_drift(vc)
    label = common.checkpoint_label(checkpoint)
    outputs.table(dynamics, "specimen_dynamics.csv", "relative change of each ODE block's state over [0, T]")
    outputs.table(sigma, "specimen_sigma.csv", "SRF sigma trained vs initialisation per layer")
    outputs.figure(_figure(dynamics, sigma, label), "specimen_report.png", "block dynamics and learned sigma")
    med = dynamics.groupby("block")["relative_change"].median()
    summary = [f"{label}: median ||h(T) - h(0)|| / ||h(0)|| " + ", ".join(f"{b} {v:.3f}" for b, v in med.items()),
               "sigma trained / initial: " + ", ".join(f"{r.layer} {r.ratio:.2f}" for r in sigma.itertuples())]
    return outputs.finish({"checkpoint": label, "num_images": len(stimuli.images), "seed": seed}, summary)


def main(argv=None) -> int:
    return common.main(run, common.parser(NAME, __doc__.splitlines()[0]), argv)


if __name__ == "__main__":
    sys.exit(main())
