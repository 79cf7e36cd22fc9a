"""DCN paper Fig. 5: accuracy and solver effort (forward NFE per ODE block and in total) against contrast.

The network input is c * image. Three regimes (neurodcn.cortex.contrast): "naive" (only the input scaled;
Fig. 5 top, solid), "scale_T_block1" (block 1 integrates to c T; Fig. 5 top, dashed) and "scale_all"
(every block integrates to c T and the map entering every later block is scaled by c; Fig. 5 bottom).
Models without ODE blocks get only "naive". Every image has its own adaptive steps (neurodcn.cortex.sweep) and
the sweep keeps the per-image results (``per_image``), so every accuracy and NFE has its spread over stimuli. Writes fig5_contrast_<regime>.nc per regime and fig5_contrast.png (one
column per regime: accuracy with its bootstrap CI on top, NFE per block and in total below).
"""

from __future__ import annotations

import numpy as np

from neurodcn.analysis.plots import plot_contrast_sweep
from neurodcn.cortex.contrast import REGIMES
from neurodcn.paper.inputs import DEFAULT_STIMULI, input_settings, load_inputs, with_overrides
from neurodcn.paper.results import Outputs, Result
from neurodcn.validate import check_bool

__all__ = ["run", "settings", "regimes"]

NAME = "fig5_contrast"


def settings(quick: bool = False) -> dict:
    """Default settings: num_images and contrasts (the reference sweeps logspace(-3, 0.7, 30))."""
    if check_bool("quick", quick):
        return {"num_images": 8, "contrasts": [0.125, 0.5, 1.0]}
    return {"num_images": None, "contrasts": np.logspace(-3, 0.7, 30).tolist()}


def regimes(vc) -> tuple[str, ...]:
    """The regimes that apply to the cortex's model: all three with ODE blocks, else only "naive"."""
    return REGIMES if vc.model.ode_blocks() else ("naive",)


def _at(ds, name: str, c: float) -> float:
    return float(ds[name].sel(contrast=c, method="nearest"))


def run(
    checkpoint=None,
    out="results",
    quick: bool = False,
    seed: int = 0,
    images_from=DEFAULT_STIMULI,
    num_images: int | None = None,
    contrasts=None,
    progress: bool = True,
) -> Result:
    """Contrast sweeps of the checkpoint's model in every regime on ``num_images`` images at ``contrasts``
    (factors c > 0); None takes :func:`settings`."""
    s = with_overrides(settings(quick), num_images=num_images, contrasts=contrasts)
    s["contrasts"] = np.atleast_1d(np.asarray(s["contrasts"], dtype=np.float64)).tolist()
    outputs = Outputs(out, NAME)  # starts the clock
    vc, stim = load_inputs(checkpoint, images_from, s["num_images"], seed, progress)
    sweeps = {
        regime: vc.contrast_sweep(
            stim.images, stim.labels, s["contrasts"], regime=regime, per_image=True, stimulus_table=stim.table
        )
        for regime in regimes(vc)
    }
    cs = sweeps["naive"]["contrast"].values
    lo, ref = cs.min(), cs[np.argmin(np.abs(np.log(cs)))]  # ref: the contrast closest to 1
    summary = [f"{NAME}: {stim.images.shape[0]} images, {cs.size} contrasts {cs.min():.3g} to {cs.max():.3g}"]
    for regime, ds in sweeps.items():
        ds.attrs["stimuli"] = stim.source
        outputs.dataset(
            ds,
            f"{NAME}_{regime}.nc",
            f"contrast sweep of {vc.name}, regime {regime}: accuracy, forward "
            "NFE per ODE block and in total, solver failures, per contrast",
        )
        failed = int(ds["solver_failed"].sum())
        nfe = (
            f"; total NFE {_at(ds, 'nfe_total', ref):.1f} -> {_at(ds, 'nfe_total', lo):.1f}"
            if ds.sizes["block"]
            else ""
        )
        summary.append(
            f"  {regime}: accuracy {_at(ds, 'accuracy', ref):.3f} at c = {ref:.3g} -> "
            f"{_at(ds, 'accuracy', lo):.3f} at c = {lo:.3g}{nfe}"
            + (f"; solver failed at {failed} contrasts" if failed else "")
        )
    fig = plot_contrast_sweep(sweeps)
    fig.suptitle(f"Fig. 5: contrast robustness and solver effort ({vc.name})")
    outputs.figure(
        fig,
        f"{NAME}.png",
        "Fig. 5: accuracy (top, mean and 95 % bootstrap CI over images) and forward NFE per ODE block "
        "and in total (bottom) against contrast, one column per regime",
    )
    s.update(input_settings(checkpoint, vc, stim, seed), regimes=list(sweeps))
    return outputs.finish(s, summary)
