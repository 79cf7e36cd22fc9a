"""In-silico V1 electrophysiology of a checkpoint, compared with published macaque V1 and human pRF data.

Runs VirtualCortex.physiology on the centre unit of every channel of every ODE block (orientation x SF grid,
size tuning at low and high contrast, contrast response, latency; see neurodcn.cortex.physiology), compares
the distributions of preferred SF (De Valois et al. 1982), SF bandwidth (Schiller et al. 1976), grating
summation field and surround suppression (Cavanaugh et al. 2002) with the published histograms (the Marques
et al. 2021 score of Brain-Score's V1 property benchmarks: ceiled KS similarity divided by the biology's own
ceiling, bootstrapped over samples of the published cell count; neurodcn.analysis.property_score), and sets
the theoretical RF size against depth (neurodcn.cortex.rf_size) beside the measured summation fields and
human pRF sizes (Wandell & Winawer 2015, at 2 deg eccentricity).

Field of view. The image is assumed to span the cortex's visual_degrees V0 (8 deg), which sets the SF
scale: the grating grid runs from Nyquist / 16 to Nyquist, 0.125-2 cycles/deg for 32 px over 8 deg. The same
properties are therefore also scored at other widths V (``--field-sizes``, default 4, 8 and 16 deg). No
grating is shown again: the grid is fixed in cycles/image and pixels and the model sees pixels only, so at
width V the images and responses are the same and only the conversion changes (SF in cycles/deg x V0 / V,
GSF diameter in deg x V / V0; bandwidth and suppression index are ratios and do not change;
neurodcn.analysis.physiology_fits.at_field_size).

Writes v1_physiology.nc (tuning curves), v1_physiology_fits.nc (fitted properties), v1_biology.nc
(comparison), v1_field_size.nc and v1_field_size.csv (the comparison at each width; the table has one row
per property and the scores at each width side by side), v1_rf_size.nc (theoretical RF size per layer) and
figures v1_<property>.png, v1_score_vs_field_size.png, v1_rf_size_vs_depth.png, v1_size_tuning_contrast.png
and v1_example_unit.png. The stimuli are gratings (nothing is drawn at random); the score's bootstraps use
compare_with_biology's default seed 0 (the same draws at every width).

    python analyses/v1_properties.py [--checkpoint CKPT] [--out results/v1_properties] [--quick]
        [--field-sizes 4 8 16]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import xarray as xr

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.analysis.biology import PROPERTIES
from neurodcn.analysis.physiology_fits import compare_across_field_sizes, compare_with_biology
from neurodcn.analysis.plots import (
    plot_property_vs_biology,
    plot_rf_size_vs_depth,
    plot_score_vs_field_size,
    plot_size_tuning_contrast,
    plot_unit_tuning,
)
from neurodcn.cortex.physiology import default_parameters
from neurodcn.cortex.rf_size import theoretical_rf

__all__ = ["run", "main", "settings", "field_size_table", "FIELD_SIZES"]

NAME = "v1_properties"
OUT = "results/v1_properties"
PRF_ECCENTRICITY = 2.0
"""Eccentricity (deg) of the human pRF sizes shown: parafoveal, within the 8 deg field of the model."""
FIELD_SIZES = (4.0, 8.0, 16.0)
"""Image widths (deg) at which the properties are scored."""


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


def field_size_table(by_size: xr.Dataset) -> pd.DataFrame:
    """One row per property of a compare_across_field_sizes dataset: property, units, n_model (units compared,
    the same at every width), ceiling, then for each width V (deg) score_<V>deg (the Marques et al. score,
    bootstrap mean) and its percentile interval score_<V>deg_low, score_<V>deg_high."""
    names = [str(p) for p in by_size["property"].values]
    table = pd.DataFrame(
        {
            "property": names,
            "units": [PROPERTIES[p]["units"] for p in names],
            "n_model": by_size["n_model"].isel(field_size=0).values,
            "ceiling": by_size["ceiling"].isel(field_size=0).values,
        }
    )
    for v in by_size["field_size"].values:
        row = by_size.sel(field_size=v)
        for var, suffix in (("score_mean", ""), ("score_ci_low", "_low"), ("score_ci_high", "_high")):
            table[f"score_{v:g}deg{suffix}"] = row[var].values
    return table


def run(
    checkpoint=None, out=OUT, quick: bool = False, progress: bool = True, field_sizes=FIELD_SIZES
) -> common.Result:
    """Physiology, biology comparison (at the cortex's own image width and at each of ``field_sizes``, deg) and
    RF-size study of the checkpoint's model, saved and plotted."""
    vc = common.load_cortex(checkpoint, progress=progress)
    params = settings(vc, quick)
    curves, fits = vc.physiology(**params)
    comparison = compare_with_biology(fits)
    by_size = compare_across_field_sizes(fits, field_sizes)
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
    outputs.dataset(
        by_size, "v1_field_size.nc", "model vs published V1 histograms with the image taken to span each width"
    )
    outputs.table(
        field_size_table(by_size), "v1_field_size.csv", "Marques et al. score per property at each image width"
    )
    fig = plot_score_vs_field_size(by_size)
    fig.suptitle(f"{vc.name} vs published V1, by the image width assumed (recorded at {vc.visual_degrees:g} deg)")
    outputs.figure(fig, "v1_score_vs_field_size.png", "score per property vs image width")
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
    widths = by_size["field_size"].values
    summary.append(f"  score at image widths {' / '.join(f'{v:g}' for v in widths)} deg:")
    for p in by_size["property"].values:
        scores = by_size["score_mean"].sel(property=p).values
        summary.append(f"    {str(p)}: {' / '.join(f'{s:.3f}' for s in scores)}")
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
        "field_sizes": by_size["field_size"].values.tolist(),
        **{k: np.asarray(v).tolist() for k, v in params.items()},
    }
    return outputs.finish(run_settings, summary)


def main(argv=None) -> int:
    p = common.parser(NAME, __doc__.splitlines()[0], images=False, out=OUT)
    p.add_argument(
        "--field-sizes",
        type=float,
        nargs="+",
        default=list(FIELD_SIZES),
        metavar="DEG",
        help="image widths (deg, increasing) to score the properties at (default: 4 8 16)",
    )
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
