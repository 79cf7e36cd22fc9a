"""Is a trained model worth recording from? How much its ODE blocks move and how far its SRF scales learned.

For a checkpoint (default: the bundled dcn-ode):
- Dynamics: the relative change of each ODE block's state over [0, T], ||h(T) - h(0)|| / ||h(0)|| (L2 over
  channels and positions, per image), recorded by VirtualCortex.record at t = 0 and t = T on the images drawn.
  A block whose median is near 0 is frozen: it passes its input through.
- Scales: every SRF layer's sigma trained against initialisation (VirtualCortex.learned_scales: the model
  rebuilt from its config with the seed that initialised it), in px of its input map and in degrees, the learning
  factor trained / initial apart from the map stride, and for per-pair (sigma_ji) layers the Pearson r of log
  sigma_ji and the median |change of log2 sigma_ji|.
Writes specimen_dynamics.csv, specimen_sigma.csv and specimen_report.png.

    python analyses/specimen_report.py [--checkpoint runs/dcn-ode-c10/best.pt] [--num-images 64]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.analysis.plots import plot_learned_scales
from neurodcn.analysis.plots.style import new_figure
from neurodcn.cortex.virtual_cortex import VirtualCortex
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


def _figure(dynamics: pd.DataFrame, scales, title: str):
    fig, axes = new_figure(ncols=4, width=3.6, height=3.4)
    blocks = sorted(dynamics["block"].unique())
    axes[0].boxplot([dynamics.loc[dynamics.block == b, "relative_change"] for b in blocks], tick_labels=blocks)
    axes[0].axhline(0.1, color="0.6", ls="--", lw=1, label="10 %")
    axes[0].set_ylabel("||h(T) - h(0)|| / ||h(0)||")
    axes[0].set_title("change of state over [0, T]", fontsize="medium")
    axes[0].legend(frameon=False, fontsize=7)
    plot_learned_scales(scales, axes=axes[1:])
    fig.suptitle(title, fontsize=9)
    return fig


def run(checkpoint=None, out="results", quick=False, progress=True, images_from=DEFAULT_STIMULI, num_images=None,
        seed=0) -> common.Result:
    """Dynamics and scales of ``checkpoint``; writes the two tables and the figure to ``out``."""
    outputs = common.Outputs(out, NAME)
    vc = common.load_cortex(checkpoint, progress=progress)
    stimuli = common.load_stimuli(images_from, num_images=num_images or (8 if quick else 64), seed=seed)
    dynamics, scales = block_change(vc, stimuli.images), vc.learned_scales()
    sigma = scales.drop_dims([d for d in scales.dims if d.startswith("pair_")]).to_dataframe().reset_index()
    label = common.checkpoint_label(checkpoint)
    outputs.table(dynamics, "specimen_dynamics.csv", "relative change of each ODE block's state over [0, T]")
    outputs.table(sigma, "specimen_sigma.csv", "SRF sigma trained vs initialisation per layer")
    outputs.figure(_figure(dynamics, scales, label), "specimen_report.png", "block dynamics and learned sigma")
    med = dynamics.groupby("block")["relative_change"].median()
    summary = [f"{label}: median ||h(T) - h(0)|| / ||h(0)|| " + ", ".join(f"{b} {v:.3f}" for b, v in med.items()),
               "sigma trained / initial: " + ", ".join(
                   f"{r.layer_name} {r.learning_factor:.2f}" for r in sigma.itertuples())]
    return outputs.finish({"checkpoint": label, "num_images": len(stimuli.images), "seed": seed}, summary)


def main(argv=None) -> int:
    return common.main(run, common.parser(NAME, __doc__.splitlines()[0]), argv)


if __name__ == "__main__":
    sys.exit(main())
