"""Figures of in-silico electrophysiology (neurodcn.cortex.physiology) and its comparison with V1 data.

* :func:`plot_property_vs_biology`: model vs published histogram of one V1 property, with its Marques et al. score.
* :func:`plot_score_vs_field_size`: each property's Marques et al. score against the image width assumed (deg).
* :func:`plot_rf_size_vs_depth`: theoretical and measured RF size against depth, beside human pRF sizes.
* :func:`plot_size_tuning_contrast`: population size tuning at low vs high contrast and the GSF ratio.
* :func:`plot_unit_tuning`: one unit's orientation, SF, size and contrast tuning.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.biology import PROPERTIES, prf_size
from neurodcn.analysis.fits import naka_rushton
from neurodcn.analysis.plots.style import band, check_dataset, colors, log_ticks, new_figure
from neurodcn.validate import check_int

__all__ = [
    "plot_property_vs_biology",
    "plot_score_vs_field_size",
    "plot_rf_size_vs_depth",
    "plot_size_tuning_contrast",
    "plot_unit_tuning",
]


def plot_property_vs_biology(comparison: xr.Dataset, property_name: str, ax=None) -> Figure:
    """Fractions per published bin, model beside data, for one property of a "physiology_biology" dataset
    (neurodcn.analysis.physiology_fits.compare_with_biology); the title gives the ceiled score's bootstrap mean,
    its percentile interval and the ceiling."""
    need = ["score_mean", "score_ci_low", "score_ci_high", "ceiling"]
    check_dataset(comparison, "physiology_biology", need, ["property"], what="comparison")
    names = [str(p) for p in comparison["property"].values]
    if property_name not in names:
        raise ValueError(f"property_name must be one of {names}, got {property_name!r}")
    dim = f"bin_{property_name}"
    lo, hi = comparison[f"bin_lo_{property_name}"].values, comparison[f"bin_hi_{property_name}"].values
    ref = comparison[f"reference_fraction_{property_name}"].values
    mod = comparison[f"model_fraction_{property_name}"].values
    row = comparison.sel(property=property_name)
    fig, (ax,) = new_figure(ax, width=5.5)
    x = np.arange(comparison.sizes[dim])
    data_c, model_c = colors(2)
    ax.bar(x - 0.2, ref, width=0.4, color=data_c, label=f"published (n={int(row['n_reference'])})")
    ax.bar(x + 0.2, mod, width=0.4, color=model_c, label=f"model (n={int(row['n_model'])})")
    ax.set_xticks(
        x,
        [f"{a:.3g}-{b:.3g}" for a, b in zip(lo, hi, strict=True)],
        rotation=45,
        ha="right",
        fontsize="small",
    )
    meta = PROPERTIES[property_name]
    ax.set_xlabel(f"{meta['long_name']} ({meta['units']})")
    ax.set_ylabel("fraction of cells or units")
    low, high = float(row["score_ci_low"]), float(row["score_ci_high"])
    ax.set_title(
        f"score {float(row['score_mean']):.2f} [{low:.2f}, {high:.2f}], ceiling {float(row['ceiling']):.2f}",
        fontsize="medium",
    )
    ax.legend(frameon=False, fontsize="small")
    return fig


def plot_score_vs_field_size(comparison: xr.Dataset, ax=None) -> Figure:
    """Marques et al. score of each property (bootstrap mean; vertical bars: its percentile interval) against the
    image width (deg, log axis) of a "physiology_biology_field_size" dataset
    (neurodcn.analysis.physiology_fits.compare_across_field_sizes). The properties are set a few percent apart
    along x so that equal scores stay visible; the biology's own level, 1, is dashed."""
    need = ["score_mean", "score_ci_low", "score_ci_high"]
    check_dataset(comparison, "physiology_biology_field_size", need, ["property", "field_size"], what="comparison")
    fig, (ax,) = new_figure(ax, width=8.0)
    widths = comparison["field_size"].values
    names = [str(p) for p in comparison["property"].values]
    for i, (name, color) in enumerate(zip(names, colors(len(names)), strict=True)):
        row = comparison.sel(property=name).transpose("field_size", ...)
        mean, low, high = (row[v].values for v in need)
        x = widths * 2.0 ** (0.04 * (i - (len(names) - 1) / 2))
        ax.plot(x, mean, marker="o", color=color, label=PROPERTIES[name]["long_name"])
        ax.vlines(x, low, high, color=color)  # the mean can lie outside a skewed bootstrap's interval
    ax.axhline(1.0, color="0.5", ls="--", lw=1)
    log_ticks(ax, widths)
    ax.set_xlabel("image width assumed (deg of visual angle)")
    ax.set_ylabel("score (similarity / ceiling)")
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_rf_size_vs_depth(
    rf: xr.Dataset,
    fits: xr.Dataset | None = None,
    eccentricity: float = 2.0,
    areas=("V1", "V2", "V3", "hV4"),
    source: str = "wandell2015",
    axes=None,
) -> Figure:
    """Left: theoretical support (full width) and effective SD of every spatial layer against depth (rf:
    neurodcn.cortex.rf_size.theoretical_rf), and, with ``fits`` ("physiology_fits"), the measured GSF
    diameter (median and quartiles over responsive units, highest contrast) at the depth of each block's last
    layer. Right: human pRF size (Gaussian SD) per visual area at ``eccentricity`` deg
    (neurodcn.analysis.biology.prf_size). One log-scaled degree axis for both."""
    check_dataset(rf, "rf_size", ["rf_size_deg", "sigma_eff_deg"], ["depth", "block"], what="rf")
    fig, (left, right) = new_figure(axes, ncols=2, width=4.2)
    palette = colors(4)
    depth = rf["depth"].values
    left.plot(depth, rf["rf_size_deg"].values, marker="o", color=palette[0], label="support (full width)")
    left.plot(depth, rf["sigma_eff_deg"].values, marker="s", color=palette[1], label="effective SD")
    if fits is not None:
        check_dataset(fits, "physiology_fits", ["gsf_diameter", "responsive"], ["block"], what="fits")
        hi = int(np.argmax(fits["size_contrast"].values))
        gsf = fits["gsf_diameter"].isel(size_contrast=hi).values
        for i, k in enumerate(np.unique(fits["block"].values)):
            vals = gsf[(fits["block"].values == k) & (fits["responsive"].values == 1)]
            vals = vals[np.isfinite(vals)]
            at = depth[rf["block"].values == k]
            if vals.size == 0 or at.size == 0:
                continue
            q1, med, q3 = np.percentile(vals, [25, 50, 75])
            left.errorbar(
                at.max(),
                med,
                yerr=[[med - q1], [q3 - med]],
                marker="D",
                color=palette[2],
                capsize=3,
                label="measured GSF diameter (median, IQR)" if i == 0 else None,
            )
    left.set_xlabel("depth (spatial layer)")
    left.set_ylabel("size (deg)")
    left.set_yscale("log")
    left.legend(frameon=False, fontsize="small")
    left.set_title(f"model ({rf.attrs.get('model', 'model')})", fontsize="medium")
    sizes = [float(prf_size(eccentricity, area, source)) for area in areas]
    right.bar(np.arange(len(areas)), sizes, color=palette[3])
    right.set_xticks(np.arange(len(areas)), list(areas))
    right.set_xlabel("human visual area")
    right.set_ylabel("pRF size, Gaussian SD (deg)")
    right.set_yscale("log")
    right.set_title(f"human pRF at {eccentricity:g} deg ({source})", fontsize="medium")
    lims = [min(left.get_ylim()[0], right.get_ylim()[0]), max(left.get_ylim()[1], right.get_ylim()[1])]
    left.set_ylim(lims)
    right.set_ylim(lims)
    return fig


def plot_size_tuning_contrast(curves: xr.Dataset, fits: xr.Dataset, axes=None) -> Figure:
    """Left: mean size tuning over responsive units at each size contrast, each unit normalised to its peak
    (at the fit time). Right: histogram of log2(GSF at the lowest / highest contrast) with its median."""
    check_dataset(curves, "physiology", ["size_tuning"], ["aperture_diameter", "size_contrast"], what="curves")
    check_dataset(fits, "physiology_fits", ["gsf_ratio_low_high", "responsive"], what="fits")
    at = curves["size_tuning"].sel(time=float(fits.attrs["fit_time"]))
    ok = fits["responsive"].values == 1
    fig, (left, right) = new_figure(axes, ncols=2, width=4.2)
    ap = curves["aperture_diameter"].values
    palette = colors(curves.sizes["size_contrast"] + 1)
    for j, c in enumerate(curves["size_contrast"].values):
        r = at.isel(size_contrast=j).values[ok]
        r = r / np.where(r.max(axis=1, keepdims=True) > 0, r.max(axis=1, keepdims=True), 1.0)
        mean, sd = r.mean(axis=0), r.std(axis=0)
        left.plot(ap, mean, marker="o", color=palette[j], label=f"contrast {c:g}")
        band(left, ap, mean - sd, mean + sd, palette[j])
    log_ticks(left, ap)
    left.set_xlabel("aperture diameter (deg)")
    left.set_ylabel("response / unit's peak (mean ± SD over units)")
    left.legend(frameon=False, fontsize="small")
    ratio = fits["gsf_ratio_low_high"].values[ok]
    ratio = np.log2(ratio[np.isfinite(ratio)])
    if ratio.size:
        right.hist(
            ratio,
            bins=np.arange(np.floor(ratio.min()) - 0.25, np.ceil(ratio.max()) + 0.5, 0.5),
            color=palette[-1],
        )
        med = float(np.median(ratio))
        right.axvline(med, color="k", ls="--", label=f"median ratio {2**med:.2f}")
        right.legend(frameon=False, fontsize="small")
    right.set_xlabel("log2 of GSF at low / high contrast")
    right.set_ylabel("units")
    return fig


def plot_unit_tuning(curves: xr.Dataset, fits: xr.Dataset, unit=0, axes=None) -> Figure:
    """One unit (index or unit_id) at the fit time: orientation tuning (deg), SF tuning (cycles/deg), size
    tuning per size contrast (deg) and contrast response with its Naka-Rushton fit."""
    check_dataset(
        curves,
        "physiology",
        ["orientation_tuning", "sf_tuning", "size_tuning", "contrast_response"],
        what="curves",
    )
    ids = [str(u) for u in curves["unit_id"].values]
    if isinstance(unit, str):
        if unit not in ids:
            raise ValueError(f"unit must be an index or one of the unit_id values, got {unit!r}")
        unit = ids.index(unit)
    unit = check_int("unit", unit, minimum=0, maximum=len(ids) - 1)
    t = float(fits.attrs["fit_time"])
    c, f = curves.isel(unit=unit).sel(time=t), fits.isel(unit=unit)
    fig, axs = new_figure(axes, ncols=4, width=3.2)
    axs[0].plot(c["orientation"], c["orientation_tuning"], marker="o")
    axs[0].set_xlabel("orientation (deg)")
    axs[1].plot(c["spatial_frequency"], c["sf_tuning"], marker="o")
    axs[1].axvline(float(f["preferred_sf"]), color="0.5", ls="--")
    log_ticks(axs[1], c["spatial_frequency"].values)
    axs[1].set_xlabel("spatial frequency (cycles/deg)")
    for j, sc in enumerate(c["size_contrast"].values):
        axs[2].plot(
            c["aperture_diameter"],
            c["size_tuning"].isel(size_contrast=j),
            marker="o",
            label=f"contrast {sc:g}",
        )
    log_ticks(axs[2], c["aperture_diameter"].values)
    axs[2].set_xlabel("aperture diameter (deg)")
    axs[2].legend(frameon=False, fontsize="small")
    cs = c["contrast"].values
    axs[3].plot(cs, c["contrast_response"], marker="o", ls="none", label="measured")
    if int(f["nr_success"]):
        fine = np.linspace(0, cs.max(), 100)
        axs[3].plot(
            fine,
            naka_rushton(fine, float(f["c50"]), float(f["nr_exponent"]), float(f["nr_r_max"])),
            label=f"Naka-Rushton c50={float(f['c50']):.2g}",
        )
    axs[3].set_xlabel("contrast")
    axs[3].legend(frameon=False, fontsize="small")
    for ax in axs:
        ax.set_ylabel("response (a.u.)")
    fig.suptitle(f"{ids[unit]}, t = {t:g}")
    return fig
