"""In-silico electrophysiology: tuning curves of single units (experiments "physiology" and "physiology_fits").

Units. A unit is one channel of a recorded block (neurodcn.cortex.readout) at the map position nearest the
stimulus centre (by default the image centre; the offset, at most half a map stride, is kept in the unit coords
x_deg, y_deg).

Response. r = |h(t) - h_blank(t)| (``response="abs"``) or max(h(t) - h_blank(t), 0) (``"rectified"``) at the
unit's position, where h is the block's state (a discrete layer's at its one time, 0) and h_blank its state for
a uniform mean-grey image at the same t: the unit's modulation away from its spontaneous state (the sign of h is
arbitrary in a network, the next layer's weights can flip it, hence the absolute value by default). Static
gratings are shown at every phase in ``phases`` and the largest response is kept, so the response is phase
invariant, like a complex cell's.

Protocol (all gratings centred on ``center``, at the highest of ``contrasts`` unless stated):
1. full-field gratings at every orientation x spatial frequency (SF): the orientation x SF response grid.
   The preferred pair of a unit is the grid maximum at model time ``fit_time``; the orientation tuning is
   the grid row at the preferred SF, the SF tuning the column at the preferred orientation.
2. for each distinct preferred pair, gratings in circular apertures of every diameter at each of
   ``size_contrasts`` (size tuning) and full-field gratings at every one of ``contrasts`` (contrast
   response; with the recorded times also the response time course used for latency).
Responses are recorded at every model time in ``times`` (a solver output grid, as in record()); every image
has its own adaptive steps (neurodcn.cortex.sweep), so a response does not depend on the batch. The protocol's
size is checked against the memory budget up front (neurodcn.io.limits), the progress bars show the time left,
and ``time_budget_s`` bounds the whole run.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
import xarray as xr

from neurodcn.analysis.physiology_fits import fit_physiology
from neurodcn.cortex.sweep import FAILURE_MEANINGS, failure_summary, sweep_readout
from neurodcn.data.stimuli import circular_aperture, grating_grid, grating_image, nyquist_frequency
from neurodcn.io.limits import check_budget, memory_budget
from neurodcn.schema import CYCLES_PER_DEGREE, DEGREE, time_coords
from neurodcn.validate import check_choice, check_increasing, check_real, is_int, is_real

__all__ = ["RESPONSES", "default_parameters", "center_units", "physiology"]

RESPONSES = ("abs", "rectified")


def default_parameters(vc) -> dict:
    """Stimulus parameters sized to the cortex's image: 12 orientations 0-165 deg, 9 SFs in half-octave steps
    from Nyquist / 16 up to the Nyquist frequency itself (0.125-2 cycles/deg for 32 px over 8 deg), 4 phases, 10
    log-spaced aperture diameters from 2 px (a 1 px circle centred between pixels holds no pixel centre) to the
    image height, size tuning at contrasts 0.1 and 1, 8 contrasts 0-1, 9 model times over [0, T], properties at
    t = T (discrete layers: their one time, 0).
    """
    h, w = vc.image_size
    nyq = nyquist_frequency((h, w), vc.visual_degrees)
    deg_per_px = vc.visual_degrees / w
    return dict(
        orientations=np.arange(0.0, 180.0, 15.0),
        spatial_frequencies=np.geomspace(nyq / 16, nyq, 9),
        phases=(0.0, 90.0, 180.0, 270.0),
        aperture_diameters=np.geomspace(2 * deg_per_px, min(h, w) * deg_per_px, 10),
        size_contrasts=(0.1, 1.0),
        contrasts=(0.0, 0.03, 0.06, 0.12, 0.25, 0.5, 0.75, 1.0),
        times=vc.readout.times(None, 9),
        fit_time=vc.readout.t_end,
    )


def center_units(vc, blocks=None, center=(0.0, 0.0)) -> list[dict]:
    """Per recorded block k (1-based; default all): the map position nearest ``center`` (x, y in deg).

    Returns [{block, row, col, x_deg, y_deg, channels}] in block order.
    """
    ode = list(range(1, len(vc.readout.layers) + 1))
    chosen = ode if blocks is None else list(np.atleast_1d(blocks))
    if (
        not chosen
        or any(not is_int(k) or k not in ode for k in chosen)
        or len(set(chosen)) != len(chosen)
    ):
        raise ValueError(f"blocks must be distinct block numbers among {ode} (1-based), got {blocks!r}")
    out = []
    for k in sorted(int(k) for k in chosen):
        g = vc.geometry[k - 1]
        y_deg, x_deg = g.degrees(vc.image_size, vc.visual_degrees)
        row, col = int(np.argmin(np.abs(y_deg - center[1]))), int(np.argmin(np.abs(x_deg - center[0])))
        out.append(
            dict(
                block=k,
                row=row,
                col=col,
                x_deg=float(x_deg[col]),
                y_deg=float(y_deg[row]),
                channels=g.channels,
            )
        )
    return out


def _responses(vc, images: torch.Tensor, times: np.ndarray, units: list[dict], desc: str,
               deadline: float | None) -> np.ndarray:
    """h at the units' positions: [N, time, U] (units: all channels of each entry of ``units``, in order), NaN
    for a stimulus whose solve failed (with a warning). deadline: time.monotonic() (s) of the time budget."""
    x = vc.check_images(images)
    out = np.full((x.shape[0], times.size, sum(u["channels"] for u in units)), np.nan)

    def keep(sl: slice, done) -> None:
        if done.result is not None:
            parts = [done.result[1][u["block"] - 1][:, :, :, u["row"], u["col"]] for u in units]  # [time, b, C]
            out[sl] = torch.cat(parts, dim=-1).transpose(0, 1).to(torch.float64).cpu().numpy()

    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        raise TimeoutError(f"physiology ran out of its time budget before {desc!r}; raise time_budget_s or show "
                           "fewer gratings")
    codes = sweep_readout(vc, x, times, desc, keep, time_budget_s=left)
    if (codes == FAILURE_MEANINGS.index("time_budget")).any():
        raise TimeoutError(f"physiology ran out of its time budget during {desc!r}: "
                           f"{failure_summary(codes, 'stimuli')}; raise time_budget_s or show fewer gratings")
    if codes.any():
        warnings.warn(f"physiology {desc!r}: {failure_summary(codes, 'stimuli')}; their responses are NaN",
                      stacklevel=3)
    return out


def _estimate(vc, n_grid: int, n_second: int, times: np.ndarray, n_units: int) -> None:
    """Refuse up front a protocol whose stimuli and responses exceed the memory budget (stage 1 images [N, C, H,
    W] float32 and responses [N, time, U] float64; stage 2 alike)."""
    h, w = vc.image_size
    per = 4 * vc.in_channels * h * w + 8 * times.size * n_units
    for n, what in ((n_grid, "orientation x SF x phase gratings"), (n_second, "size and contrast gratings")):
        check_budget(f"physiology's {n} {what}", n * per, memory_budget(),
                     hint="show fewer orientations, spatial frequencies, phases, apertures or contrasts")


def _rectify(h: np.ndarray, blank: np.ndarray, response: str) -> np.ndarray:
    d = h - blank
    return np.abs(d) if response == "abs" else np.maximum(d, 0.0)


def physiology(
    vc,
    orientations=None,
    spatial_frequencies=None,
    phases=None,
    aperture_diameters=None,
    size_contrasts=None,
    contrasts=None,
    times=None,
    fit_time=None,
    blocks=None,
    center=(0.0, 0.0),
    response: str = "abs",
    min_response: float = 1e-4,
    time_budget_s: float | None = None,
) -> tuple[xr.Dataset, xr.Dataset]:
    """In-silico V1 physiology: tuning curves and fitted properties of the centre units of the recorded blocks.

    Static gratings in circular apertures, in degrees of visual angle, measure orientation, spatial-frequency,
    size and contrast tuning over model time (see the module docstring); the fits give the preferred spatial
    frequency and bandwidth, the summation field and surround suppression, Naka-Rushton parameters and latency.
    Every sequence argument is increasing; None takes ``default_parameters``.

    Args:
        orientations: grating orientations (deg).
        spatial_frequencies: spatial frequencies (cycles/deg, up to the Nyquist limit).
        phases: grating phases (deg).
        aperture_diameters: aperture diameters (deg; the aperture must fit in the image).
        size_contrasts: contrasts of the size-tuning series (Michelson, in [0, 1]).
        contrasts: contrasts of the contrast series (Michelson, in [0, 1]; at least 3 for the Naka-Rushton fit).
        times: model times within [0, T] (at least 2; discrete layers: [0.0]).
        fit_time: the model time the properties are fitted at, one of ``times`` (default the last).
        blocks: recorded block numbers (1-based; default all).
        center: stimulus centre (x, y) in deg.
        response: one of ``RESPONSES``: "abs" (|h - h_blank|) or "rectified".
        min_response: units whose largest grating response is not above it are marked unresponsive (NaN
            properties).
        time_budget_s: seconds for the whole protocol (s), or None; past it a TimeoutError says how far it got.

    Returns:
        (curves, fits): Datasets of experiments "physiology" (tuning curves per unit) and "physiology_fits"
        (fitted properties per unit).

    Examples:
        >>> import neurodcn as nd
        >>> vc = nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0), progress=False)
        >>> curves, fits = vc.physiology(orientations=[0, 90], spatial_frequencies=[0.5, 1], phases=[0, 180],
        ...     aperture_diameters=[2, 8], size_contrasts=[0.5, 1], contrasts=[0, 0.5, 1], times=[1, 2], blocks=[1])
        >>> curves.neurodcn_experiment, fits.neurodcn_experiment
        ('physiology', 'physiology_fits')
        >>> fits.sizes["unit"]  # block 1's 4 channels at the centre of its map
        4
    """
    d = default_parameters(vc)
    h, w = vc.image_size
    vd = vc.visual_degrees
    check_choice("response", response, RESPONSES)
    if not (isinstance(center, tuple | list) and len(center) == 2 and all(is_real(v) for v in center)):
        raise ValueError(f"center must be a pair (x, y) of numbers in deg, got {center!r}")
    center = (float(center[0]), float(center[1]))
    ori = check_increasing("orientations", d["orientations"] if orientations is None else orientations, 0.0,
                           180.0, hi_open=True, what="(deg)")
    nyq = nyquist_frequency((h, w), vd)
    sf = check_increasing("spatial_frequencies",
                          d["spatial_frequencies"] if spatial_frequencies is None else spatial_frequencies, 0.0,
                          nyq, lo_open=True, what=f"(cycles/deg, up to the Nyquist frequency {nyq:g})")
    ph = check_increasing("phases", d["phases"] if phases is None else phases, 0.0, 360.0, what="(deg)")
    ap = check_increasing("aperture_diameters",
                          d["aperture_diameters"] if aperture_diameters is None else aperture_diameters, 0.0,
                          lo_open=True, min_size=2, what="(deg)")
    circular_aperture((h, w), vd, float(ap[-1]), center)  # raises if the largest aperture leaves the image
    sc = check_increasing("size_contrasts", d["size_contrasts"] if size_contrasts is None else size_contrasts,
                          0.0, 1.0, lo_open=True)
    cs = check_increasing("contrasts", d["contrasts"] if contrasts is None else contrasts, 0.0, 1.0, min_size=3)
    units = center_units(vc, blocks, center)
    times = vc.readout.times(d["times"] if times is None else times)
    fit_time = float(check_choice("fit_time", times[-1] if fit_time is None else fit_time, times.tolist()))
    fi = int(np.searchsorted(times, fit_time))
    min_response = check_real("min_response", min_response, 0)
    deadline = None if time_budget_s is None else time.monotonic() + check_real(
        "time_budget_s", time_budget_s, lo=0.0, lo_open=True)
    n_ph = ph.size
    _estimate(vc, ori.size * sf.size * n_ph, min(ori.size * sf.size, sum(u["channels"] for u in units))
              * n_ph * (sc.size * ap.size + cs.size), times, sum(u["channels"] for u in units))

    blank = grating_image((h, w), vd, float(sf[0]), contrast=0.0).to(torch.float32).expand(1, 3, h, w)
    r_blank = _responses(vc, blank, times, units, "physiology blank", deadline)[0]  # [time, U]
    top = float(cs[-1])
    imgs, _ = grating_grid((h, w), vd, sf, ori, ph, [top], [None], center)
    r1 = _rectify(_responses(vc, imgs, times, units, "physiology orientation x SF", deadline), r_blank, response)
    n_u = r1.shape[-1]
    grid = (
        r1.reshape(ori.size, sf.size, n_ph, times.size, n_u).max(axis=2).transpose(3, 2, 0, 1)
    )  # [U, t, o, f]
    best = grid[:, fi].reshape(n_u, -1).argmax(axis=1)
    io, isf = np.unravel_index(best, (ori.size, sf.size))
    pairs, combo = np.unique(np.stack([io, isf], 1), axis=0, return_inverse=True)
    combo = combo.ravel()

    per_size, per_con = n_ph * sc.size * ap.size, n_ph * cs.size
    stack = []
    for o, f in pairs:
        stack.append(grating_grid((h, w), vd, [sf[f]], [ori[o]], ph, sc, ap, center)[0])
        stack.append(grating_grid((h, w), vd, [sf[f]], [ori[o]], ph, cs, [None], center)[0])
    r2 = _rectify(
        _responses(vc, torch.cat(stack), times, units, "physiology size, contrast", deadline), r_blank, response
    )
    r2 = r2.reshape(len(pairs), per_size + per_con, times.size, n_u)
    size_r = r2[:, :per_size].reshape(len(pairs), n_ph, sc.size, ap.size, times.size, n_u).max(axis=1)
    con_r = r2[:, per_size:].reshape(len(pairs), n_ph, cs.size, times.size, n_u).max(axis=1)
    u_idx = np.arange(n_u)
    size_t = size_r[combo, :, :, :, u_idx].transpose(0, 3, 1, 2)  # [U, t, size_contrast, aperture]
    con_t = con_r[combo, :, :, u_idx].transpose(0, 2, 1)  # [U, t, contrast]

    block = np.concatenate([np.full(u["channels"], u["block"]) for u in units])
    channel = np.concatenate([np.arange(u["channels"]) for u in units])

    def per_unit(key):
        return np.concatenate([np.full(u["channels"], u[key]) for u in units])

    coords = {
        "block": ("unit", block, dict(long_name="recorded block", units="1")),
        "channel": ("unit", channel, dict(long_name="channel of the block", units="1")),
        "unit_id": (
            "unit",
            np.array([f"block{b}/ch{c}" for b, c in zip(block, channel, strict=True)]),
            dict(long_name="unit identifier"),
        ),
        "map_row": ("unit", per_unit("row"), dict(long_name="feature-map row of the unit", units="1")),
        "map_col": ("unit", per_unit("col"), dict(long_name="feature-map column of the unit", units="1")),
        "x_deg": (
            "unit",
            per_unit("x_deg"),
            dict(long_name="unit position from the image centre (right)", units=DEGREE),
        ),
        "y_deg": (
            "unit",
            per_unit("y_deg"),
            dict(long_name="unit position from the image centre (up)", units=DEGREE),
        ),
        "test_orientation": (
            "unit",
            ori[io],
            dict(long_name="orientation of the size and contrast series", units=DEGREE),
        ),
        "test_sf": (
            "unit",
            sf[isf],
            dict(long_name="SF of the size and contrast series", units=CYCLES_PER_DEGREE),
        ),
        "orientation": (
            "orientation",
            ori,
            dict(long_name="grating orientation (0 = vertical bars)", units=DEGREE),
        ),
        "spatial_frequency": (
            "spatial_frequency",
            sf,
            dict(long_name="spatial frequency", units=CYCLES_PER_DEGREE),
        ),
        "aperture_diameter": (
            "aperture_diameter",
            ap,
            dict(long_name="circular aperture diameter", units=DEGREE),
        ),
        "size_contrast": (
            "size_contrast",
            sc,
            dict(long_name="Michelson contrast of the size series", units="1"),
        ),
        "contrast": ("contrast", cs, dict(long_name="Michelson contrast", units="1")),
        **time_coords(times, vc.ms_per_unit_time, vc.onset_ms),
    }
    what = f"phase-max {'|h - h_blank|' if response == 'abs' else 'max(h - h_blank, 0)'}"
    data = {
        "grating_response": (
            ("unit", "time", "orientation", "spatial_frequency"),
            grid,
            dict(long_name=f"{what}, full-field gratings at contrast {top:g}", units="1"),
        ),
        "orientation_tuning": (
            ("unit", "time", "orientation"),
            grid[u_idx, :, :, isf],
            dict(long_name=f"{what} at the preferred SF", units="1"),
        ),
        "sf_tuning": (
            ("unit", "time", "spatial_frequency"),
            grid[u_idx, :, io, :],
            dict(long_name=f"{what} at the preferred orientation", units="1"),
        ),
        "size_tuning": (
            ("unit", "time", "size_contrast", "aperture_diameter"),
            size_t,
            dict(long_name=f"{what}, gratings in apertures at the preferred orientation and SF", units="1"),
        ),
        "contrast_response": (
            ("unit", "time", "contrast"),
            con_t,
            dict(long_name=f"{what}, full-field gratings at the preferred orientation and SF", units="1"),
        ),
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        response=response,
        phases=ph.tolist(),
        fit_time=fit_time,
        min_response=float(min_response),
        center_x=center[0],
        center_y=center[1],
        n_test_pairs=int(len(pairs)),
        n_stimuli=int(1 + imgs.shape[0] + sum(s.shape[0] for s in stack)),
    )
    curves = vc.stamp(ds, "physiology")
    return curves, fit_physiology(curves)
