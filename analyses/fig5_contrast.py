"""DCN paper Fig. 5: accuracy and solver effort (forward NFE per ODE block and in total) against contrast.

The network input is c * image. Three regimes (neurodcn.cortex.contrast): "naive" (only the input scaled;
Fig. 5 top, solid), "scale_T_block1" (block 1 integrates to c T; Fig. 5 top, dashed) and "scale_all"
(every block integrates to c T and the map entering every later block is scaled by c; Fig. 5 bottom).
Models without ODE blocks get only "naive". Writes fig5_contrast_<regime>.nc per regime and
fig5_contrast.png (all regimes: accuracy left, NFE right, log contrast axis).

    python analyses/fig5_contrast.py [--checkpoint CKPT] [--out results] [--quick] [--num-images N]
"""

from __future__ import annotations

import sys

import numpy as np
from matplotlib.figure import Figure

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.analysis.plots import plot_contrast_sweep
from neurodcn.cortex.contrast import REGIMES

__all__ = ["run", "main", "settings", "regimes"]

NAME = "fig5_contrast"


def settings(quick: bool = False) -> dict:
    """Default settings: num_images and contrasts (the reference sweeps logspace(-3, 0.7, 30))."""
    if quick:
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
    images_from=None,
    num_images: int | None = None,
    contrasts=None,
    progress: bool = True,
) -> common.Result:
    """Contrast sweeps of the checkpoint's model in every regime on ``num_images`` images at ``contrasts``
    (factors c > 0); None takes :func:`settings`."""
    s = settings(quick)
    s.update({k: v for k, v in (("num_images", num_images), ("contrasts", contrasts)) if v is not None})
    s["contrasts"] = np.atleast_1d(np.asarray(s["contrasts"], dtype=np.float64)).tolist()
    vc = common.load_cortex(checkpoint, progress=progress)
    stim = common.load_stimuli(images_from, s["num_images"], seed)
    sweeps = {
        regime: vc.contrast_sweep(stim.images, stim.labels, s["contrasts"], regime=regime)
        for regime in regimes(vc)
    }
    outputs = common.Outputs(out, NAME)
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
    fig = Figure(figsize=(11.0, 4.8), layout="constrained")
    plot_contrast_sweep(sweeps, axes=fig.subplots(1, 2))
    fig.suptitle(f"Fig. 5: contrast robustness and solver effort ({vc.name})")
    outputs.figure(
        fig,
        f"{NAME}.png",
        "Fig. 5: accuracy (left) and forward NFE per ODE block and in total "
        "(right) against contrast, one line style per regime",
    )
    s.update(
        checkpoint=str(checkpoint or common.DEFAULT_CHECKPOINT),
        model=vc.name,
        stimuli=stim.source,
        seed=seed,
        num_images=int(stim.images.shape[0]),
        regimes=list(sweeps),
    )
    return outputs.finish(s, summary)


def main(argv=None) -> int:
    return common.main(run, common.parser(NAME, __doc__.splitlines()[0]), argv)


if __name__ == "__main__":
    sys.exit(main())
