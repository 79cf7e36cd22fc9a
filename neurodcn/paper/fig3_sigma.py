"""DCN paper Fig. 3a/3b: the learned SRF scale sigma against depth, and the distributions of sigma_ji.

Writes fig3_sigma.nc (VirtualCortex.receptive_fields: sigma, kernel size and preferred spatial frequency per
SRF layer; for per-pair models every sigma_ji with its log-normal fit per ODE block), fig3a_sigma_vs_depth.png
(sigma in px and in degrees against depth) and, for per-pair (dcn-sigma-ji) models only,
fig3b_sigma_ji.png (histograms of sigma_ji per block with the fitted log-normal pdf). No stimuli are needed.

Control for Fig. 3b: sigma_ji starts log-normal (log2 sigma ~ N(0, (2/3)^2)), so a log-normal trained
distribution says something only if training moved it. When the model's config names its seed, the model is
rebuilt as that seed initialised it, and the dataset keeps sigma_ji at initialisation beside the trained
values, their correlation (of log sigma) and the median |change of log2 sigma| per block.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neurodcn.analysis.plots import plot_sigma_distributions, plot_sigma_vs_depth
from neurodcn.analysis.plots.style import block_numbers, new_figure
from neurodcn.cortex.virtual_cortex import VirtualCortex
from neurodcn.nn.zoo import build_model
from neurodcn.paper.inputs import checkpoint_label, load_cortex
from neurodcn.paper.results import Outputs, Result
from neurodcn.validate import check_bool

__all__ = ["run", "with_initial_sigma"]

NAME = "fig3_sigma"


def with_initial_sigma(vc: VirtualCortex, ds: xr.Dataset) -> xr.Dataset:
    """``ds`` (vc.receptive_fields() of a per-pair model) with, per block k, ``sigma_ji_init_block{k}`` (px,
    same pairs), ``sigma_ji_init_correlation_block{k}`` (Pearson r of ln sigma_ji, trained vs initial) and
    ``sigma_ji_median_change_block{k}`` (median |log2 sigma trained - log2 sigma initial|). The initial model
    is build_model(**config); ``ds`` is returned unchanged when the config names no seed."""
    if "seed" not in vc.model.config:
        return ds
    start = VirtualCortex(build_model(**vc.model.config), visual_degrees=vc.visual_degrees,
                          ms_per_unit_time=vc.ms_per_unit_time, onset_ms=vc.onset_ms, progress=False,
                          image_size=tuple(vc.image_size)).receptive_fields()
    out = ds.copy()
    for k in block_numbers(ds, "sigma_ji_block"):
        name = f"sigma_ji_block{k}"
        init, trained = start[name], ds[name]
        out[f"sigma_ji_init_block{k}"] = init.assign_attrs(
            long_name=f"per-pair SRF scale sigma_ji at initialisation (seed {vc.model.config['seed']}), block {k}")
        a, b = np.log(init.values.ravel()), np.log(trained.values.ravel())
        out[f"sigma_ji_init_correlation_block{k}"] = ((), float(np.corrcoef(a, b)[0, 1]), {
            "long_name": f"Pearson correlation of ln sigma_ji, trained vs initialisation, block {k}", "units": "1"})
        out[f"sigma_ji_median_change_block{k}"] = ((), float(np.median(np.abs(b - a)) / np.log(2)), {
            "long_name": f"median |log2 sigma_ji trained - log2 sigma_ji initial|, block {k}", "units": "1"})
    return out


def _at_end(ds: xr.Dataset, name: str, k: int) -> float:
    """Block k's value of a per-block fit variable, at t = T when sigma depends on time."""
    return float(ds[f"{name}_block{k}"].values.ravel()[-1])


def run(checkpoint=None, out="results", quick: bool = False, progress: bool = True) -> Result:
    """Receptive fields of the checkpoint's model, saved and plotted (``quick`` changes nothing: the
    analysis reads only the weights)."""
    check_bool("quick", quick)
    outputs = Outputs(out, NAME)  # starts the clock
    vc = load_cortex(checkpoint, progress=progress)
    ds = vc.receptive_fields()
    blocks = block_numbers(ds, "sigma_ji_block")
    if blocks:
        ds = with_initial_sigma(vc, ds)
    pairs = ", every sigma_ji with log-normal fits per ODE block" if blocks else ""
    outputs.dataset(
        ds,
        f"{NAME}.nc",
        f"receptive fields of {vc.name}: sigma (px, deg), kernel size and preferred spatial frequency per "
        f"SRF layer{pairs}",
    )
    fig, axes = new_figure(ncols=2)
    plot_sigma_vs_depth(ds, unit="px", ax=axes[0])
    plot_sigma_vs_depth(ds, unit="deg", ax=axes[1])
    fig.suptitle(f"Fig. 3a: learned sigma against depth ({vc.name})")
    outputs.figure(
        fig,
        "fig3a_sigma_vs_depth.png",
        "Fig. 3a: sigma of every SRF layer against depth, in px of "
        "the layer's input map and in degrees of visual angle",
    )
    px = np.asarray(ds["sigma_px"].values)
    px = px[-1] if px.ndim == 2 else px  # time-dependent sigma: t = T
    summary = [
        f"{NAME}: {px.size} SRF layers, sigma {px.min():.3g} to {px.max():.3g} px "
        f"(first layer {px[0]:.3g}, last {px[-1]:.3g})"
    ]
    if blocks:
        fig = plot_sigma_distributions(ds)
        fig.suptitle(f"Fig. 3b: sigma_ji per ODE block with log-normal fits ({vc.name})")
        outputs.figure(
            fig,
            "fig3b_sigma_ji.png",
            "Fig. 3b: histograms of sigma_ji per ODE block with the fitted log-normal density",
        )
        for k in blocks:
            line = (f"  block {k}: log-normal shape {_at_end(ds, 'lognorm_shape', k):.3g}, KS p "
                    f"{_at_end(ds, 'lognorm_ks_pvalue', k):.3g} (normal: {_at_end(ds, 'normal_ks_pvalue', k):.3g}), "
                    f"skewness {_at_end(ds, 'skewness', k):.3g}")
            if f"sigma_ji_init_correlation_block{k}" in ds:
                line += (f"; vs initialisation r {float(ds[f'sigma_ji_init_correlation_block{k}']):.4f}, median "
                         f"|change of log2 sigma| {float(ds[f'sigma_ji_median_change_block{k}']):.3g}")
            summary.append(line)
    else:
        summary.append("  (shared sigma: no sigma_ji histograms; Fig. 3b needs a dcn-sigma-ji checkpoint)")
    settings = {"checkpoint": checkpoint_label(checkpoint), "model": vc.name}
    return outputs.finish(settings, summary)
