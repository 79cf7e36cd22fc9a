"""In-silico V1 electrophysiology of a checkpoint, compared with published macaque V1 and human pRF data.

Runs VirtualCortex.physiology on the centre unit of every channel of every ODE block (orientation x SF grid,
size tuning at low and high contrast, contrast response, latency; see neurodcn.cortex.physiology), compares
the distributions of preferred SF (De Valois et al. 1982), SF bandwidth (Schiller et al. 1976), grating
summation field and surround suppression (Cavanaugh et al. 2002) with the published histograms (the Marques
et al. 2021 score of Brain-Score's V1 property benchmarks: ceiled KS similarity divided by the biology's own
ceiling, bootstrapped over samples of the published cell count; neurodcn.analysis.property_score), and sets
the theoretical RF size against depth (neurodcn.cortex.rf_size) beside the measured summation fields and
human pRF sizes (Wandell & Winawer 2015, at 2 deg eccentricity).

Writes v1_physiology.nc (tuning curves), v1_physiology_fits.nc (fitted properties), v1_biology.nc
(comparison), v1_rf_size.nc (theoretical RF size per layer) and figures v1_<property>.png,
v1_rf_size_vs_depth.png, v1_size_tuning_contrast.png and v1_example_unit.png. The stimuli are gratings
(nothing is drawn at random); the score's bootstraps use compare_with_biology's default seed 0.

    python analyses/v1_properties.py [--checkpoint CKPT] [--out results/v1_properties] [--quick]
"""

from __future__ import annotations

import sys

import numpy as np

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.analysis.physiology_fits import compare_with_biology
from neurodcn.analysis.plots import (
    plot_property_vs_biology,
    plot_rf_size_vs_depth,
    plot_size_tuning_contrast,
    plot_unit_tuning,
)
from neurodcn.cortex.physiology import default_parameters
from neurodcn.cortex.rf_size import theoretical_rf

__all__ = ["run", "main", "settings"]

NAME = "v1_properties"
OUT = "results/v1_properties"
PRF_ECCENTRICITY = 2.0
"""Eccentricity (deg) of the human pRF sizes shown: parafoveal, within the 8 deg field of the model."""


def settings(vc, quick: bool) -> dict:
    """Stimulus parameters for VirtualCortex.physiology: its defaults, or a small grid with ``quick``
    (4 orientations, 4 SFs, 2 phases, 5 apertures, 4 contrasts, 3 model times)."""
    d = default_parameters(vc)
    if not quick:
        return d
    sf, ap, t = d["spatial_frequencies"], d["aperture_diameters"], d["times"]
    return dict(
        d,
        orientations=np.arange(0.0, 180.0, 45.0),
        spatial_frequencies=sf[np.linspace(0, sf.size - 1, 4).round().astype(int)],
        phases=(0.0, 90.0),
        aperture_diameters=ap[np.linspace(0, ap.size - 1, 5).round().astype(int)],
        contrasts=(0.0, 0.1, 0.3, 1.0),
        times=np.linspace(0.0, t[-1], 3),
    )


def run(checkpoint=None, out=OUT, quick: bool = False, progress: bool = True) -> common.Result:
    """Physiology, biology comparison and RF-size study of the checkpoint's model, saved and plotted."""
    vc = common.load_cortex(checkpoint, progress=progress)
    params = settings(vc, quick)
    curves, fits = vc.physiology(**params)
    comparison = compare_with_biology(fits)
    rf = theoretical_rf(vc.model, vc.visual_degrees, vc.image_size[1])
    outputs = common.Outputs(out, NAME)
    outputs.dataset(curves, "v1_physiology.nc", f"tuning curves of the centre units of {vc.name}")
    outputs.dataset(
        fits, "v1_physiology_fits.nc", "fitted V1 properties per unit (SF, size, contrast, latency)"
    )
    outputs.dataset(
        comparison,
        "v1_biology.nc",
        "model vs published V1 histograms: Marques et al. 2021 score, ceiling, neuron-matched bootstrap",
    )
    outputs.dataset(rf, "v1_rf_size.nc", "theoretical receptive-field size (support, effective SD) per layer")
    for prop in comparison["property"].values:
        fig = plot_property_vs_biology(comparison, str(prop))
        fig.suptitle(f"{prop}: {vc.name} vs published V1")
        outputs.figure(fig, f"v1_{prop}.png", f"{prop}: model units beside the published histogram")
    fig = plot_rf_size_vs_depth(rf, fits, eccentricity=PRF_ECCENTRICITY)
    outputs.figure(
        fig, "v1_rf_size_vs_depth.png", "RF size vs depth (theoretical, measured GSF) beside human pRFs"
    )
    fig = plot_size_tuning_contrast(curves, fits)
    outputs.figure(fig, "v1_size_tuning_contrast.png", "size tuning at low vs high contrast, GSF ratio")
    best = int(np.nanargmax(np.where(fits["responsive"].values == 1, fits["peak_response"].values, np.nan)))
    outputs.figure(
        plot_unit_tuning(curves, fits, best), "v1_example_unit.png", "tuning of the most responsive unit"
    )

    ok = fits["responsive"].values == 1
    summary = [
        f"{NAME}: {vc.name}, {int(ok.sum())} of {ok.size} centre units responsive, "
        f"{curves.attrs['n_stimuli']} stimuli"
    ]
    for row in range(comparison.sizes["property"]):
        c = comparison.isel(property=row)
        summary.append(
            f"  {str(c['property'].values)}: n={int(c['n_model'])}, score {float(c['score_mean']):.3f} "
            f"[{float(c['score_ci_low']):.3f}, {float(c['score_ci_high']):.3f}] (similarity "
            f"{float(c['similarity_mean']):.3f} / ceiling {float(c['ceiling']):.3f})"
        )
    ratio = fits["gsf_ratio_low_high"]
    summary.append(
        f"  GSF(low contrast) / GSF(high contrast): median {ratio.attrs['median']:.3g} "
        f"over {int(np.isfinite(ratio.values[ok]).sum())} units"
    )
    for k in np.unique(fits["block"].values):
        sel = ok & (fits["block"].values == k)
        med = {
            v: float(np.nanmedian(fits[v].values[sel]))
            if np.any(np.isfinite(fits[v].values[sel]))
            else np.nan
            for v in ("preferred_sf", "c50")
        }
        gsf = fits["gsf_diameter"].isel(size_contrast=-1).values[sel]
        lat = fits["latency_ms"].isel(latency_contrast=-1).values[sel]
        summary.append(
            f"  block {k}: median preferred SF {med['preferred_sf']:.3g} c/deg, GSF "
            f"{np.nanmedian(gsf):.3g} deg, c50 {med['c50']:.3g}, latency {np.nanmedian(lat):.3g} ms"
        )
    summary.append(
        f"  theoretical support after the last layer {float(rf['rf_size_deg'][-1]):.3g} deg, "
        f"effective SD {float(rf['sigma_eff_deg'][-1]):.3g} deg"
    )
    run_settings = {
        "checkpoint": common.checkpoint_label(checkpoint),
        "model": vc.name,
        "quick": quick,
        **{k: np.asarray(v).tolist() for k, v in params.items()},
    }
    return outputs.finish(run_settings, summary)


def main(argv=None) -> int:
    return common.main(run, common.parser(NAME, __doc__.splitlines()[0], images=False, out=OUT), argv)


if __name__ == "__main__":
    sys.exit(main())
