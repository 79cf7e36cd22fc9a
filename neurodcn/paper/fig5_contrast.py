"""DCN paper Fig. 5: accuracy and solver effort (forward NFE per ODE block and in total) against contrast.

The network input is c * image. Three regimes (neurodcn.cortex.contrast): "naive" (only the input scaled;
Fig. 5 top, solid), "scale_T_block1" (block 1 integrates to c T; Fig. 5 top, dashed) and "scale_all"
(every block integrates to c T and the map entering every later block is scaled by c; Fig. 5 bottom).
Models without ODE blocks get only "naive". Every image has its own adaptive steps (neurodcn.cortex.sweep) and
the sweep keeps the per-image results (``per_image``), so every accuracy and NFE has its spread over stimuli.
Writes fig5_contrast_<regime>.nc per regime and fig5_contrast.png (one column per regime: accuracy with its
bootstrap CI on top, NFE per block and in total below).

The paper's comparison is within a regime: c = 1 against c = 0.06 (total NFE 102 -> 60 at < 0.5 points of
accuracy lost), with NFE counted per batch (one adaptive solve per batch of 128 images). With ODE blocks, the
swept contrasts nearest to those two (in log c) are compared like for like: per regime, accuracy with intervals
and the paired change with its McNemar test, mean per-image NFE with the paired change
(neurodcn.analysis.contrast.contrast_pairs), and the mean forward NFE per batch of the model's own batched solve
(neurodcn.cortex.batch_nfe). Writes fig5_contrast_pairs.nc (all of it, with every batch's NFE per block) and the
table fig5_contrast_pairs.csv (one row per regime).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.analysis.contrast import contrast_pairs
from neurodcn.analysis.plots import plot_contrast_sweep
from neurodcn.cortex.batch_nfe import PAPER_BATCH_SIZE, batch_nfe
from neurodcn.cortex.contrast import REGIMES
from neurodcn.paper.inputs import DEFAULT_STIMULI, input_settings, load_inputs, with_overrides
from neurodcn.paper.results import Outputs, Result
from neurodcn.validate import check_bool

__all__ = ["run", "settings", "regimes", "pair_table"]

NAME = "fig5_contrast"


PAPER_PAIR = (1.0, 0.06)
"""The contrasts the paper's text compares (c_high, c_low)."""


def settings(quick: bool = False) -> dict:
    """Default settings: num_images and contrasts (the reference sweeps logspace(-3, 0.7, 30)); the paper's
    pair of contrasts and its batch size (images per batched solve)."""
    pair = {"pair": list(PAPER_PAIR), "batch_size": PAPER_BATCH_SIZE}
    if check_bool("quick", quick):
        return {"num_images": 8, "contrasts": [0.125, 0.5, 1.0], **pair}
    return {"num_images": None, "contrasts": np.logspace(-3, 0.7, 30).tolist(), **pair}


def regimes(vc) -> tuple[str, ...]:
    """The regimes that apply to the cortex's model: all three with ODE blocks, else only "naive"."""
    return REGIMES if vc.model.ode_blocks() else ("naive",)


def _at(ds, name: str, c: float) -> float:
    return float(ds[name].sel(contrast=c, method="nearest"))


def _pairs(vc, images, sweeps: dict, pair: list[float], batch_size: int) -> xr.Dataset:
    """contrast_pairs of the sweeps at ``pair`` (swept contrasts) with every batch's NFE per block of the
    batched solves at them (nfe_per_batch: regime, contrast, batch, block; batch_images)."""
    ds = contrast_pairs(sweeps, *pair)
    runs = {(regime, c): batch_nfe(vc, images, c, regime, batch_size) for regime in sweeps for c in pair}
    per_batch = xr.concat([xr.concat([runs[regime, c]["nfe"] for c in pair], "contrast") for regime in sweeps],
                          "regime")
    ds["nfe_per_batch"] = per_batch.assign_attrs(units="count", long_name="forward NFE of the block's one "
                                                 f"adaptive solve of a batch of {batch_size} images")
    ds["batch_images"] = next(iter(runs.values()))["batch_images"]
    ds.attrs["batch_size"] = batch_size
    return vc.stamp(ds, "contrast_pairs", title=f"Fig. 5 like for like: c = {pair[0]:g} vs {pair[1]:g} ({vc.name})",
                    stimulus_size=np.shape(images)[-2:])


def pair_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per regime of a fig5_contrast_pairs dataset: accuracy (percent) with Wilson CI at c_high and
    c_low, the paired change (points) with bootstrap CI and McNemar p, mean per-image total NFE at each and its
    paired change (count, CI, percent), mean per-batch total NFE at each and its relative change (percent)."""
    batch = ds["nfe_per_batch"].sum("block").mean("batch")
    rows = []
    for regime in ds["regime"].values:
        d, b = ds.sel(regime=regime), batch.sel(regime=regime).values
        row = {"regime": regime, "c_high": ds.c_high, "c_low": ds.c_low, "images": int(d["images"])}
        for k, at in enumerate(("high", "low")):
            row.update({f"accuracy_{at}_pct": float(d["accuracy"][k]), f"accuracy_{at}_ci_low": float(
                d["accuracy_low"][k]), f"accuracy_{at}_ci_high": float(d["accuracy_high"][k])})
        row.update(
            accuracy_change_pts=float(d["accuracy_change"]), accuracy_change_ci_low=float(d["accuracy_change_low"]),
            accuracy_change_ci_high=float(d["accuracy_change_high"]), mcnemar_p=float(d["mcnemar_p"]),
            nfe_image_high=float(d["nfe_total"][0]), nfe_image_low=float(d["nfe_total"][1]),
            nfe_image_change=float(d["nfe_change"]), nfe_image_change_ci_low=float(d["nfe_change_low"]),
            nfe_image_change_ci_high=float(d["nfe_change_high"]), nfe_image_change_pct=float(d["nfe_relative_change"]),
            nfe_batch_high=float(b[0]), nfe_batch_low=float(b[1]), nfe_batch_change_pct=100 * float(b[1] / b[0] - 1),
            batch_size=int(ds.batch_size))
        rows.append(row)
    return pd.DataFrame(rows)


def _pair_line(row) -> str:
    return (f"  {row.regime}, c = {row.c_high:g} vs {row.c_low:g}: accuracy {row.accuracy_high_pct:.1f} -> "
            f"{row.accuracy_low_pct:.1f} % ({row.accuracy_change_pts:+.1f} points, CI "
            f"{row.accuracy_change_ci_low:+.1f} to {row.accuracy_change_ci_high:+.1f}, McNemar p = "
            f"{row.mcnemar_p:.2g}); total NFE per image "
            f"{row.nfe_image_high:.1f} -> {row.nfe_image_low:.1f} ({row.nfe_image_change_pct:+.0f} %), per batch of "
            f"{row.batch_size} {row.nfe_batch_high:.1f} -> {row.nfe_batch_low:.1f} ({row.nfe_batch_change_pct:+.0f} %)")


def run(
    checkpoint=None,
    out="results",
    quick: bool = False,
    seed: int = 0,
    images_from=DEFAULT_STIMULI,
    num_images: int | None = None,
    contrasts=None,
    progress: bool = True,
    solver: str | None = None,
) -> Result:
    """Contrast sweeps of the checkpoint's model in every regime on ``num_images`` images at ``contrasts``
    (factors c > 0); None takes :func:`settings`. With ODE blocks, also the like-for-like table of the swept
    contrasts nearest to the paper's pair (settings ``pair``, ``batch_size``; skipped when both are one).
    ``solver``: an adaptive method to solve with instead of the checkpoint's (``load_cortex``)."""
    s = with_overrides(settings(quick), num_images=num_images, contrasts=contrasts)
    s["contrasts"] = np.atleast_1d(np.asarray(s["contrasts"], dtype=np.float64)).tolist()
    outputs = Outputs(out, NAME)  # starts the clock
    vc, stim = load_inputs(checkpoint, images_from, s["num_images"], seed, progress, solver)
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
    pair = sorted({float(cs[np.argmin(np.abs(np.log(cs / c)))]) for c in s["pair"]}, reverse=True)
    if vc.model.ode_blocks() and len(pair) == 2:
        pairs = _pairs(vc, stim.images, sweeps, pair, s["batch_size"])
        pairs.attrs["stimuli"] = stim.source
        outputs.dataset(pairs, f"{NAME}_pairs.nc", f"Fig. 5 like for like in every regime, c = {pair[0]:g} vs "
                        f"{pair[1]:g}: accuracy, per-image NFE and their paired changes; NFE of every batched solve")
        table = pair_table(pairs)
        outputs.table(table, f"{NAME}_pairs.csv", f"Fig. 5 like for like, one row per regime: accuracy [CI] at "
                      f"c = {pair[0]:g} and {pair[1]:g}, paired change [CI] and McNemar p, NFE per image and per "
                      f"batch of {s['batch_size']}")
        summary += [_pair_line(row) for row in table.itertuples()]
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
