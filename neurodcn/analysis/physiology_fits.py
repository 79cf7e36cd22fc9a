"""Properties of tuning curves, as electrophysiologists measure them (experiment "physiology_fits").

Pure functions on 1-D tuning curves (numpy), then :func:`fit_physiology`, which applies them to every unit of
a "physiology" dataset (neurodcn.cortex.physiology) at one model time:

* orientation: preferred orientation = half the angle of the vector sum sum_k r_k exp(2i theta_k) (deg, in
  [0, 180)); orientation selectivity index OSI = |sum_k r_k exp(2i theta_k)| / sum_k r_k (1 - circular
  variance; 0 untuned, 1 responds to one orientation only).
* spatial frequency (SF): the preferred SF is the peak of the curve, refined by the vertex of the parabola
  through the peak and its two neighbours in log2 f (the grid value when the peak lies on the edge of the
  grid). Bandwidth at a level L: f_low, f_high are where the curve, linearly interpolated in log2 f, first
  falls to L x peak below and above the peak; NaN when it never falls that far inside the grid (the unit is
  low- or high-pass over the range tested). Reported as log2(f_high / f_low) octaves at L = 1/2 (full width
  at half height) and as Schiller et al.'s (1976) percent 100 f_low / f_high at L = 1/sqrt(2) (data/bio
  README), measured directly at that level rather than converted from octaves (a conversion would assume a
  tuning shape: for a Gaussian in log f the two are related by w(1/sqrt 2) = w(1/2) / sqrt 2). A bandwidth that
  cannot be measured within the frequency grid is NaN with its reason in ``sf_bandwidth_flag`` /
  ``sf_bandwidth_percent_flag`` (:data:`BANDWIDTH_FLAGS`: low-pass, high-pass, or both sides open).
* size: grating summation field (GSF) = aperture diameter of the largest response (deg; Cavanaugh et al.
  2002 read it off a fitted curve, we use the measured one); surround suppression index SSI =
  (r_peak - r_largest aperture) / r_peak.
* contrast: Naka-Rushton fit (neurodcn.analysis.fits.fit_naka_rushton, no baseline) of the response against
  Michelson contrast: c50, exponent n, r_max; NaN unless the fit succeeded, with ``nr_status`` saying why
  (:data:`NR_STATUS`: a flat response or no convergence, or c50 not identified: c50 or r_max on a bound).
* latency: the first time the response r(t) reaches half its maximum over the recorded times (linear
  interpolation between recorded times; 0 when r(0) already does), in ms through the cortex's time map:
  latency_ms = onset_ms + ms_per_unit_time * t_half; NaN with one recorded time (a discrete layer).

:func:`compare_with_biology` scores the fits against published V1 histograms; :func:`at_field_size` reads the
same fits for another image width in degrees (the field of view is an assumption: it converts cycles/image to
cycles/deg and pixels to deg), and :func:`compare_across_field_sizes` scores them at several widths.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neurodcn.analysis.fits import fit_naka_rushton
from neurodcn.analysis.property_score import score_property
from neurodcn.schema import CYCLES_PER_DEGREE, DEGREE, require_experiment, stamp_provenance
from neurodcn.validate import check_bool, check_choice, check_increasing, check_real

__all__ = [
    "orientation_preference",
    "peak_location",
    "bandwidth",
    "summation_field",
    "half_max_time",
    "bandwidth_flag",
    "BANDWIDTH_FLAGS",
    "NR_STATUS",
    "fit_physiology",
    "BIOLOGY",
    "compare_with_biology",
    "FIELD_SCALING",
    "at_field_size",
    "compare_across_field_sizes",
]

HALF = 0.5
SCHILLER_LEVEL = 1.0 / np.sqrt(2.0)
BANDWIDTH_FLAGS = ("measured", "low_pass", "high_pass", "unbounded_both_sides", "not_responsive")
"""Meanings of the bandwidth flags 0..4: measured; no crossing below the peak within the grid (low-pass over
the frequencies tested); none above it (high-pass, e.g. the grid stops before the response falls); neither;
unit not responsive."""
NR_STATUS = ("ok", "c50_not_identified", "failed", "not_responsive")
"""Meanings of the Naka-Rushton status flags 0..3."""


def _stamped(ds: xr.Dataset, experiment: str, source: xr.Dataset) -> xr.Dataset:
    """``ds`` stamped as ``experiment`` with the model, model config and solver config of the dataset it was
    computed from."""
    return stamp_provenance(ds, experiment, source.attrs["model"], model_config=source.attrs["model_config"],
                            solver_config=source.attrs["solver_config"])


def _curve(name: str, x, r) -> tuple[np.ndarray, np.ndarray]:
    x, r = check_increasing(f"{name}: x", x, min_size=2), np.asarray(r, dtype=np.float64)
    if r.shape != x.shape or not np.all(np.isfinite(r)):
        raise ValueError(f"{name}: the response must be {x.size} finite values (one per x), got shape {r.shape}")
    return x, r


def orientation_preference(orientations, response) -> tuple[float, float]:
    """(preferred orientation in deg [0, 180), OSI in [0, 1]) from the doubled-angle vector sum.

    orientations: deg, covering [0, 180) evenly for an unbiased estimate; response: >= 0, same length.
    NaNs when the response is all zero.
    """
    theta, r = _curve("orientation_preference", orientations, response)
    if np.any(r < 0):
        raise ValueError("orientation_preference: responses must be >= 0")
    total = r.sum()
    if total <= 0:
        return float("nan"), float("nan")
    z = np.sum(r * np.exp(2j * np.deg2rad(theta)))
    return float(np.rad2deg(np.angle(z)) / 2.0 % 180.0), float(np.abs(z) / total)


def peak_location(x, response, log: bool = True) -> float:
    """x of the peak, refined by the vertex of the parabola through the peak and its neighbours (in log2 x
    when ``log``; x > 0 then). The grid value when the peak is at either end. NaN for an all-zero curve."""
    log = check_bool("log", log)
    x, r = _curve("peak_location", x, response)
    if np.all(r == 0):
        return float("nan")
    u = np.log2(x) if log else x
    i = int(np.argmax(r))
    if i == 0 or i == x.size - 1:
        return float(x[i])
    (u0, u1, u2), (r0, r1, r2) = u[i - 1 : i + 2], r[i - 1 : i + 2]
    denom = (u0 - u1) * (u0 - u2) * (u1 - u2)
    a = (u2 * (r1 - r0) + u1 * (r0 - r2) + u0 * (r2 - r1)) / denom
    b = (u2 * u2 * (r0 - r1) + u1 * u1 * (r2 - r0) + u0 * u0 * (r1 - r2)) / denom
    vertex = -b / (2 * a) if a < 0 else u1
    vertex = float(np.clip(vertex, u0, u2))
    return float(2.0**vertex) if log else vertex


def _crossing(u: np.ndarray, r: np.ndarray, level: float, start: int, step: int) -> float:
    """u where r, walking from index start by step, first drops to <= level (linear interpolation)."""
    j = start
    while 0 <= j + step < u.size:
        a, b = r[j], r[j + step]
        if b <= level:
            return float(u[j] + (u[j + step] - u[j]) * (a - level) / (a - b))
        j += step
    return float("nan")


def bandwidth(frequencies, response, level: float = HALF) -> tuple[float, float]:
    """(f_low, f_high): where the curve falls to ``level`` x its peak below and above the grid peak,
    interpolated linearly in log2 f. NaN for a side where it never falls that far (or an all-zero curve).
    Octaves: log2(f_high / f_low); Schiller percent: 100 f_low / f_high at level 1/sqrt(2)."""
    f, r = _curve("bandwidth", frequencies, response)
    level = check_real("level", level, 0, 1, lo_open=True, hi_open=True)
    if np.any(f <= 0):
        raise ValueError("bandwidth: frequencies must be > 0")
    if np.all(r == 0):
        return float("nan"), float("nan")
    u, i = np.log2(f), int(np.argmax(r))
    target = level * r[i]
    lo, hi = _crossing(u, r, target, i, -1), _crossing(u, r, target, i, 1)
    return float(2.0**lo), float(2.0**hi)


def bandwidth_flag(f_low: float, f_high: float) -> int:
    """Index into BANDWIDTH_FLAGS of a :func:`bandwidth` result: which side, if any, was not found."""
    return int(np.isnan(f_low)) + 2 * int(np.isnan(f_high))


def summation_field(diameters, response) -> tuple[float, float]:
    """(GSF diameter = aperture of the largest response, SSI = (r_peak - r_largest) / r_peak); NaNs for an
    all-zero curve."""
    d, r = _curve("summation_field", diameters, response)
    if np.any(r < 0):
        raise ValueError("summation_field: responses must be >= 0")
    i = int(np.argmax(r))
    if r[i] <= 0:
        return float("nan"), float("nan")
    return float(d[i]), float((r[i] - r[-1]) / r[i])


def half_max_time(times, response) -> float:
    """First time the response reaches half its maximum (linear interpolation; times[0] if it starts there).
    NaN for an all-zero response."""
    t, r = _curve("half_max_time", times, response)
    peak = r.max()
    if peak <= 0:
        return float("nan")
    half = HALF * peak
    j = int(np.argmax(r >= half))
    if j == 0:
        return float(t[0])
    return float(t[j - 1] + (t[j] - t[j - 1]) * (half - r[j - 1]) / (r[j] - r[j - 1]))


def _var(dims, values, long_name: str, units: str, **attrs):
    return (dims, np.asarray(values), dict(long_name=long_name, units=units, **attrs))


def _flags(meanings) -> dict:
    """CF flag attrs: numeric flag_values 0..k-1 and space-separated flag_meanings."""
    return {"flag_values": np.arange(len(meanings), dtype=np.int8), "flag_meanings": " ".join(meanings)}


def fit_physiology(
    curves: xr.Dataset, time: float | None = None, min_response: float | None = None
) -> xr.Dataset:
    """Fitted properties of every unit of a "physiology" dataset at model ``time`` (default: its fit_time).

    Units whose largest grating response is <= ``min_response`` (default: the dataset's attr) are marked
    responsive = 0 and get NaN properties. Returns an xr.Dataset (experiment "physiology_fits") on dims unit,
    size_contrast and contrast (latency; contrasts > 0 only), with the unit coords of ``curves``.
    """
    require_experiment(curves, "physiology", "curves")
    time = float(curves.attrs["fit_time"]) if time is None else time
    check_choice("time", time, curves["time"].values.tolist())
    floor = (float(curves.attrs["min_response"]) if min_response is None
             else check_real("min_response", min_response, 0))
    at = curves.sel(time=time)
    ori = curves["orientation"].values
    sf = curves["spatial_frequency"].values
    ap = curves["aperture_diameter"].values
    sc = curves["size_contrast"].values
    cs = curves["contrast"].values
    positive = cs > 0
    n = curves.sizes["unit"]
    grid = at["grating_response"].values  # [unit, orientation, sf]
    peak = grid.reshape(n, -1).max(axis=1)
    ok = peak > floor
    nan = np.full(n, np.nan)
    pref_ori, osi, pref_sf = nan.copy(), nan.copy(), nan.copy()
    bw = np.full((n, 2), np.nan)
    schiller = np.full((n, 2), np.nan)
    gsf, ssi = np.full((n, sc.size), np.nan), np.full((n, sc.size), np.nan)
    nr = np.full((n, 4), np.nan)
    nr_status = np.full(n, NR_STATUS.index("not_responsive"), np.int8)
    bw_flag = np.full((n, 2), BANDWIDTH_FLAGS.index("not_responsive"), np.int8)
    latency = np.full((n, int(positive.sum())), np.nan)
    t_all = curves["time"].values
    cr_all = curves["contrast_response"].transpose("unit", "contrast", "time").values
    for u in np.flatnonzero(ok):
        pref_ori[u], osi[u] = orientation_preference(ori, at["orientation_tuning"].values[u])
        sf_curve = at["sf_tuning"].values[u]
        pref_sf[u] = peak_location(sf, sf_curve)
        bw[u] = bandwidth(sf, sf_curve, HALF)
        schiller[u] = bandwidth(sf, sf_curve, SCHILLER_LEVEL)
        bw_flag[u] = bandwidth_flag(*bw[u]), bandwidth_flag(*schiller[u])
        for j in range(sc.size):
            gsf[u, j], ssi[u, j] = summation_field(ap, at["size_tuning"].values[u, j])
        fit = fit_naka_rushton(cs, at["contrast_response"].values[u])
        if fit.success:
            nr[u] = fit.c50, fit.n, fit.r_max, fit.r_squared
        nr_status[u] = NR_STATUS.index("ok" if fit.success else "c50_not_identified" if fit.unidentified else "failed")
        if t_all.size >= 2:  # one recorded time (a discrete layer) has no time course
            latency[u] = [half_max_time(t_all, r) for r in cr_all[u, positive]]
    onset, per = float(curves.attrs["onset_ms"]), float(curves.attrs["ms_per_unit_time"])
    lo_i, hi_i = int(np.argmin(sc)), int(np.argmax(sc))
    ratio = gsf[:, lo_i] / gsf[:, hi_i]
    u_dims = ("unit",)
    data = {
        "responsive": _var(u_dims, ok.astype(np.int8), f"largest grating response > {floor:g}", "1"),
        "peak_response": _var(u_dims, peak, "largest phase-invariant grating response", "1"),
        "preferred_orientation": _var(
            u_dims, pref_ori, "preferred orientation (doubled-angle vector sum)", DEGREE
        ),
        "orientation_selectivity": _var(
            u_dims, osi, "orientation selectivity index (1 - circular variance)", "1"
        ),
        "preferred_sf": _var(u_dims, pref_sf, "preferred spatial frequency", CYCLES_PER_DEGREE),
        "sf_bandwidth": _var(
            u_dims,
            np.log2(bw[:, 1] / bw[:, 0]),
            "SF bandwidth in octaves (log2 f_high / f_low), full width at half height (NaN: not measurable in the "
            "grid, see sf_bandwidth_flag)",
            "1",
        ),
        "sf_bandwidth_flag": _var(
            u_dims, bw_flag[:, 0], "outcome of the half-height SF bandwidth", "1", **_flags(BANDWIDTH_FLAGS)
        ),
        "sf_low_half": _var(u_dims, bw[:, 0], "SF below the peak at half height", CYCLES_PER_DEGREE),
        "sf_high_half": _var(u_dims, bw[:, 1], "SF above the peak at half height", CYCLES_PER_DEGREE),
        "sf_bandwidth_percent": _var(
            u_dims,
            100.0 * schiller[:, 0] / schiller[:, 1],
            "SF bandwidth as 100 f_low / f_high at 1/sqrt(2) of the peak (Schiller 1976; NaN: see its flag)",
            "percent",
        ),
        "sf_bandwidth_percent_flag": _var(
            u_dims, bw_flag[:, 1], "outcome of the Schiller SF bandwidth", "1", **_flags(BANDWIDTH_FLAGS)
        ),
        "gsf_diameter": _var(
            ("unit", "size_contrast"), gsf, "grating summation field: aperture of the largest response", DEGREE
        ),
        "surround_suppression_index": _var(
            ("unit", "size_contrast"), ssi, "surround suppression index (r_peak - r_largest) / r_peak", "1"
        ),
        "gsf_ratio_low_high": _var(
            u_dims,
            ratio,
            f"GSF at contrast {sc[lo_i]:g} / GSF at contrast {sc[hi_i]:g}",
            "1",
            median=float(np.nanmedian(ratio)) if np.any(np.isfinite(ratio)) else float("nan"),
        ),
        "c50": _var(u_dims, nr[:, 0], "Naka-Rushton semi-saturation contrast (NaN: see nr_status)", "1"),
        "nr_exponent": _var(u_dims, nr[:, 1], "Naka-Rushton exponent n", "1"),
        "nr_r_max": _var(u_dims, nr[:, 2], "Naka-Rushton maximum response", "1"),
        "nr_r_squared": _var(u_dims, nr[:, 3], "Naka-Rushton fit R^2", "1"),
        "nr_success": _var(
            u_dims, (nr_status == 0).astype(np.int8), "Naka-Rushton fit converged, c50 and r_max in range", "1"
        ),
        "nr_status": _var(u_dims, nr_status, "outcome of the Naka-Rushton fit", "1", **_flags(NR_STATUS)),
        "latency_ms": _var(
            ("unit", "latency_contrast"),
            onset + per * latency,
            "time to half the maximum response, onset_ms + ms_per_unit_time * t_half",
            "ms",
        ),
    }
    coords = {name: c for name, c in curves.coords.items() if c.dims == ("unit",)}
    coords["size_contrast"] = ("size_contrast", sc, dict(curves["size_contrast"].attrs))
    coords["latency_contrast"] = (
        "latency_contrast",
        cs[positive],
        dict(long_name="Michelson contrast of the latency series", units="1"),
    )
    keep = (
        "visual_degrees",
        "ms_per_unit_time",
        "onset_ms",
        "image_size",
        "response",
        "center_x",
        "center_y",
    )
    ds = xr.Dataset(data, coords=coords, attrs={k: curves.attrs[k] for k in keep if k in curves.attrs})
    ds.attrs.update(fit_time=time, min_response=floor)
    return _stamped(ds, "physiology_fits", curves)


BIOLOGY = {
    "peak_spatial_frequency": ("preferred_sf", None),
    "spatial_frequency_bandwidth": ("sf_bandwidth_percent", None),
    "grating_summation_field": ("gsf_diameter", 0.1),
    "surround_suppression_index": ("surround_suppression_index", None),
}
"""Published property (neurodcn.analysis.biology.PROPERTIES) -> (fits variable, minimum SSI of the units
compared). Cavanaugh et al. (2002) histogram the GSF of cells with more than 10 % suppression only (n = 148 of
190), so the GSF comparison keeps units with SSI > 0.1; size properties are read at the highest contrast."""


def compare_with_biology(
    fits: xr.Dataset, blocks=None, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> xr.Dataset:
    """Marques et al. (2021) scores (neurodcn.analysis.property_score: ceiled KS similarity, biological ceiling,
    bootstrap matched to the number of published cells) of the responsive units' properties against the published
    V1 histograms: De Valois 1982 peak SF, Schiller 1976 SF bandwidth (percent), Cavanaugh 2002 GSF diameter and
    suppression index. Non-finite values (e.g. an unbounded bandwidth: not SF selective over the range tested,
    like Schiller's 14 excluded cells) are dropped and counted. blocks: ODE blocks to include (default all);
    n_boot, seed, ci: as score_property (one seed for every property).

    Returns an xr.Dataset on dims property and bootstrap: score, similarity and ceiling_similarity (property,
    bootstrap); ceiling, score_mean, score_ci_low, score_ci_high, similarity_mean, similarity_all_units,
    n_model, n_dropped, n_reference (property); and per property P the histograms reference_fraction_P /
    model_fraction_P on dim bin_P (coords bin_lo_P, bin_hi_P, bin_center_P).
    """
    require_experiment(fits, "physiology_fits", "fits")
    sel = fits["responsive"].values == 1
    if blocks is not None:
        wanted = np.atleast_1d(blocks)
        present = np.unique(fits["block"].values)
        if wanted.size == 0 or not np.all(np.isin(wanted, present)):
            raise ValueError(f"blocks must be among the blocks of fits {present.tolist()}, got {blocks!r}")
        sel &= np.isin(fits["block"].values, wanted)
    hi = int(np.argmax(fits["size_contrast"].values))
    scores, bins, counts, cites = [], [], {"n_model": [], "n_dropped": [], "n_reference": []}, []
    for prop, (var, min_ssi) in BIOLOGY.items():
        v = fits[var].isel(size_contrast=hi) if "size_contrast" in fits[var].dims else fits[var]
        keep = sel.copy()
        if min_ssi is not None:
            keep &= fits["surround_suppression_index"].isel(size_contrast=hi).values > min_ssi
        values = v.values[keep]
        if not np.any(np.isfinite(values)):
            raise ValueError(
                f"no unit has a finite {var} to compare with {prop} (responsive units: {sel.sum()})"
            )
        c = score_property(values, prop, n_boot=n_boot, seed=seed, ci=ci)
        scores.append(c.drop_dims("bin"))
        names = ["reference_fraction", "model_fraction", "bin_lo", "bin_hi", "bin_center"]
        bins.append(c[names[:2]].rename({"bin": f"bin_{prop}", **{n: f"{n}_{prop}" for n in names}}))
        counts["n_model"].append(c.attrs["n_neurons_model"])
        counts["n_dropped"].append(c.attrs["n_model_nonfinite_dropped"])
        counts["n_reference"].append(c.attrs["n_neurons_biology"])
        cites.append(f"{prop}: {c.attrs['reference_citation']}")
    long = {
        "n_model": "model units compared (finite values)",
        "n_dropped": "model units dropped (non-finite value)",
        "n_reference": "cells in the published histogram (bootstrap sample size)",
    }
    ds = xr.merge([xr.concat(scores, "property"), *bins], combine_attrs="override")
    ds.attrs = {}  # the first property's attrs; the dataset's own follow
    for key, vals in counts.items():
        ds[key] = ("property", np.asarray(vals), dict(long_name=long[key], units="count"))
    ds = ds.assign_coords(
        model_variable=("property", [v for v, _ in BIOLOGY.values()], dict(long_name="fits variable"))
    )
    ds.attrs.update(
        citations="; ".join(cites),
        blocks=[int(b) for b in np.unique(fits["block"].values[sel])],
        gsf_min_ssi=0.1,
        size_contrast=float(fits["size_contrast"].values[hi]),
        n_boot=int(n_boot),
        seed=int(seed),
        ci=float(ci),
        method=scores[0].attrs["method"],
    )
    return _stamped(ds, "physiology_biology", fits)


FIELD_SCALING = {
    "preferred_sf": -1,
    "sf_low_half": -1,
    "sf_high_half": -1,
    "test_sf": -1,
    "gsf_diameter": 1,
    "x_deg": 1,
    "y_deg": 1,
}
"""Variables and unit coords of a "physiology_fits" dataset that depend on the image width V (deg), as V ** power:
spatial frequencies (cycles/deg, -1) and visual-angle lengths and positions (deg, +1). The others are
orientations, ratios (bandwidths, suppression index, GSF ratio), contrasts or times, which do not depend on V."""


def at_field_size(fits: xr.Dataset, visual_degrees: float) -> xr.Dataset:
    """``fits`` read as if the image spanned ``visual_degrees`` (deg) instead of its attrs' visual_degrees V0:
    every variable of :data:`FIELD_SCALING` times (visual_degrees / V0) ** power, and the attrs visual_degrees,
    center_x and center_y (deg) rescaled alike.

    This is the physiology of the same model at the new width whenever its stimulus grid is fixed in cycles/image
    and in pixels, as ``default_parameters`` is (SFs from Nyquist / 16 to Nyquist, apertures from 2 px to the
    image height): a grating of f cycles/deg on an image V deg wide has the pixels of f V cycles/image, an
    aperture of d deg covers d / V of the width, and the model sees pixels only. The images, responses and fits
    are then the same (up to the floating-point rounding of the grating coordinates if the images are drawn
    anew); only the conversion from cycles/image and pixels to degrees changes.
    """
    require_experiment(fits, "physiology_fits", "fits")
    v0 = check_real("fits.attrs['visual_degrees']", fits.attrs.get("visual_degrees"), lo=0.0, lo_open=True)
    ratio = check_real("visual_degrees", visual_degrees, lo=0.0, lo_open=True) / v0
    scaled = {n: fits[n].copy(data=fits[n].values * ratio**p) for n, p in FIELD_SCALING.items()}
    out = fits.assign_coords({n: v for n, v in scaled.items() if n in fits.coords})
    out = out.assign({n: v for n, v in scaled.items() if n in fits.data_vars})
    out.attrs = dict(fits.attrs, visual_degrees=float(visual_degrees))
    for key in ("center_x", "center_y"):
        if key in fits.attrs:
            out.attrs[key] = float(fits.attrs[key]) * ratio
    return out


def compare_across_field_sizes(
    fits: xr.Dataset, field_sizes, blocks=None, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> xr.Dataset:
    """:func:`compare_with_biology` of the fits read at each image width in ``field_sizes`` (deg, increasing;
    :func:`at_field_size`). The units, their selection and the bootstrap draws are the same at every width (the
    ceilings too), so the scores differ only through the conversion to degrees.

    Returns compare_with_biology's variables with a leading dim field_size (coord: the width, deg) on each,
    experiment "physiology_biology_field_size"; attrs visual_degrees (the width the responses were recorded
    at) and field_sizes.
    """
    require_experiment(fits, "physiology_fits", "fits")
    sizes = check_increasing("field_sizes", field_sizes, 0.0, lo_open=True, what="(image widths, deg)")
    per = [compare_with_biology(at_field_size(fits, float(v)), blocks, n_boot, seed, ci) for v in sizes]
    dim = xr.DataArray(
        sizes, dims="field_size", name="field_size",
        attrs=dict(long_name="image width (the model's field of view)", units=DEGREE),
    )
    ds = xr.concat(per, dim, data_vars="all", coords="minimal", compat="equals", join="exact",
                   combine_attrs="override")
    ds.attrs.update(visual_degrees=float(fits.attrs["visual_degrees"]), field_sizes=sizes.tolist())
    return _stamped(ds, "physiology_biology_field_size", fits)
