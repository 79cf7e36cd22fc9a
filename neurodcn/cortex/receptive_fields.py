"""Receptive fields of the SRF layers (experiment "receptive_fields"; DCN paper Fig. 3a, 3b).

Per SRF layer, in forward order (stem, block 1, transition 1, block 2, ...): the learned scale sigma
(pixels of the map the layer filters; SRFConv2d.sigma_summary, the median over pairs for per-pair layers),
sigma in degrees of visual angle (sigma_px x cumulative stride of the layer's input map x visual_degrees /
image width), the kernel size K, and the median over the layer's 2-D filters W[o, c] of their preferred
spatial frequency: the radial frequency of the peak of the amplitude spectrum of the filter zero-padded to
64 x 64 (cycles per map pixel, resolution 1/64), converted to cycles/deg through the same stride. Per-pair
layers (DCN sigma_ji) also give every sigma_ji of each block and a log-normal fit of their distribution
(analysis.fits.fit_lognormal).
Layers whose sigma depends on time are reported at t = 0 and t = T on a ``time`` dim.

Every SRF layer's sigma trained against its value at initialisation, with the map stride separated from
learning (experiment "learned_scales"): :func:`learned_scales`.

One layer's sampled filter bank itself (experiment "srf_kernels", for plots of the filters): :func:`srf_kernels`.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from neurodcn.analysis.fits import fit_lognormal
from neurodcn.nn.classifier import Classifier
from neurodcn.nn.srf import SRFConv2d
from neurodcn.nn.zoo import build_model
from neurodcn.schema import CYCLES_PER_DEGREE, DEGREE, PIXELS, time_coords
from neurodcn.validate import check_choice, check_int

__all__ = ["preferred_frequency", "srf_layers", "receptive_fields", "learned_scales", "srf_kernels"]

FFT_SIZE = 64
"""Filters are zero-padded to this size (or to K if larger) before the FFT."""


def preferred_frequency(kernels, size: int = FFT_SIZE) -> np.ndarray:
    """Preferred spatial frequency of 2-D filters [..., K, K], in cycles per pixel of the filtered map.

    The radial frequency |(f_y, f_x)| of the argmax of the amplitude spectrum of each filter zero-padded to
    max(size, K) square (bins of 1/max(size, K) cycles/px; DC included, so a low-pass filter prefers 0).
    Returns an array of shape [...].
    """
    k = torch.as_tensor(kernels).detach().to(torch.float64).cpu()
    if k.dim() < 2 or k.shape[-1] != k.shape[-2] or k.shape[-1] < 1:
        raise ValueError(f"kernels must have shape [..., K, K], got {list(k.shape)}")
    size = check_int("size", size, minimum=1)
    n = max(size, k.shape[-1])
    amplitude = torch.fft.fft2(k, s=(n, n)).abs().reshape(*k.shape[:-2], n * n)
    f = torch.fft.fftfreq(n, dtype=torch.float64)
    radial = torch.hypot(f[:, None], f[None, :]).reshape(-1)
    return radial[amplitude.argmax(-1)].numpy()


def srf_layers(model, recorded=()) -> list[tuple[str, SRFConv2d, int, int]]:
    """(module path, layer, block k (0 outside blocks), conv index in its stage, 1-based) of every SRF layer: a
    staged classifier's by its stages (stem, blocks, transitions) in forward order; any other model's in
    registration order, block k the ``recorded`` layer (module names, in block order) that holds it."""
    if not isinstance(model, Classifier):
        convs = [(name, m) for name, m in model.named_modules() if isinstance(m, SRFConv2d)]
        ks = [next((i + 1 for i, r in enumerate(recorded) if name == r or name.startswith(f"{r}.")), 0)
              for name, _ in convs]
        return [(name, m, k, ks[:j].count(k) + 1) for j, ((name, m), k) in enumerate(zip(convs, ks, strict=True))]
    out = []
    for stage in model.stages():
        k = stage.index + 1 if stage.kind == "block" else 0
        convs = [(name, m) for name, m in stage.module.named_modules() if isinstance(m, SRFConv2d)]
        out += [(f"{stage.path}.{name}" if name else stage.path, m, k, j + 1) for j, (name, m) in enumerate(convs)]
    return out


def _placed_layers(vc, experiment: str) -> list[tuple[str, SRFConv2d, int, int]]:
    """srf_layers of vc's model, each with its input map's stride in vc.layer_strides; ValueError otherwise."""
    layers = srf_layers(vc.model, [layer.name for layer in vc.readout.layers])
    if not layers:
        raise ValueError(f"{experiment} needs SRF layers (SRFConv2d, whose Gaussian scale sigma is learned); "
                         f"model {vc.name!r} has none: its filters have no sigma to report")
    unplaced = [name for name, m, _, _ in layers if id(m) not in vc.layer_strides]
    if unplaced:
        raise ValueError(f"{experiment} needs the map stride entering each SRF layer; the map geometry of "
                         f"{vc.name!r} could not be walked to {unplaced} (neurodcn.cortex.geometry.traced_geometry)")
    return layers


def _layer_coords(layers) -> dict:
    """The per-layer coords block, conv, depth and layer_name of receptive_fields and learned_scales."""
    return {
        "block": ("layer", np.array([k for _, _, k, _ in layers]),
                  {"long_name": "ODE block (0: outside blocks)", "units": "1"}),
        "conv": ("layer", np.array([c for _, _, _, c in layers]),
                 {"long_name": "SRF conv index in its stage", "units": "1"}),
        "depth": ("layer", np.arange(1, len(layers) + 1),
                  {"long_name": "order of the SRF layer in the network", "units": "1"}),
        "layer_name": ("layer", np.array([n for n, _, _, _ in layers]), {"long_name": "module path"}),
    }


def _times(vc, layers) -> list:
    if not any(m.time_param for _, m, _, _ in layers):
        return [None]
    ends = {layer.T for layer in vc.readout.layers if layer.T is not None}
    if len(ends) != 1:
        raise ValueError(
            f"time-dependent sigma is reported at t = 0 and t = T, which needs one T for every ODE "
            f"block; the blocks have T = {sorted(ends)}"
        )
    return [0.0, ends.pop()]


def _fit_vars(k: int, values: np.ndarray, dims: tuple) -> dict:
    """Log-normal fit of sigma_ji (values [time, pairs]) as variables on dims (() or ("time",))."""
    fits = [fit_lognormal(v) for v in values]
    spec = {
        "lognorm_shape": ("shape (SD of ln sigma) of the log-normal fit", "1"),
        "lognorm_scale": ("scale (exp of the mean of ln sigma) of the log-normal fit, in pixels", PIXELS),
        "lognorm_ks_statistic": ("Kolmogorov-Smirnov distance to the fitted log-normal", "1"),
        "lognorm_ks_pvalue": ("goodness-of-fit p-value of the log-normal (KS, parametric bootstrap: "
                              "scipy.stats.goodness_of_fit)", "1"),
        "normal_ks_statistic": ("Kolmogorov-Smirnov distance to the fitted normal", "1"),
        "normal_ks_pvalue": ("goodness-of-fit p-value of the normal (KS with fitted parameters, Lilliefors)",
                             "1"),
        "skewness": ("sample skewness of sigma_ji", "1"),
    }
    out = {}
    for name, (long_name, units) in spec.items():
        vals = np.array([getattr(f, name.removeprefix("lognorm_")) for f in fits])
        out[f"{name}_block{k}"] = (
            dims,
            vals if dims else vals[0],
            {"long_name": f"{long_name}, block {k}", "units": units, "n": fits[0].n},
        )
    return out


def receptive_fields(vc) -> xr.Dataset:
    """Sigma, kernel size and preferred spatial frequency of every SRF layer (experiment "receptive_fields").

    Per-pair models (sigma_ji) also get their sigma distributions with log-normal fits (the DCN paper's Fig. 3b).
    ``kernel_size_px``/``_deg`` is one layer's filter only; ``VirtualCortex.theoretical_rf`` gives the cumulative
    receptive field of a unit.

    Returns:
        A Dataset on dim ``layer`` with ``sigma_px`` (pixels of the layer's input map), ``sigma_deg``,
        ``kernel_size_px``, ``kernel_size_deg`` and ``preferred_sf`` (cycles/deg), and coords block, conv, depth,
        layer_name, map_stride_px.

    Raises:
        ValueError: the model has no SRF layers.

    Examples:
        >>> import neurodcn as nd
        >>> rf = nd.VirtualCortex.pretrained(progress=False).receptive_fields()
        >>> rf.sizes["layer"], rf.block.values.tolist()
        (6, [1, 1, 2, 2, 3, 3])
        >>> [round(s, 2) for s in rf.sigma_px.values.tolist()]
        [0.55, 0.66, 0.78, 0.49, 0.75, 2.26]
    """
    model = vc.model
    layers = _placed_layers(vc, "receptive_fields")
    model.eval()
    times = _times(vc, layers)
    deg_per_px = vc.visual_degrees / vc.image_size[1]
    n_t, n_l = len(times), len(layers)
    sigma, size, sf = np.empty((n_t, n_l)), np.empty((n_t, n_l)), np.empty((n_t, n_l))
    strides = np.array([vc.layer_strides[id(m)] for _, m, _, _ in layers], dtype=np.float64)
    pairs: dict[int, list] = {}
    with torch.no_grad():
        for j, (_, m, k, conv) in enumerate(layers):
            per_time = []
            for ti, t in enumerate(times):
                sigma[ti, j] = m.sigma_summary(t)
                kern = m.kernel(t)
                size[ti, j] = kern.shape[-1]
                sf[ti, j] = np.median(preferred_frequency(kern.reshape(-1, *kern.shape[-2:])))
                per_time.append(m.sigma_at(t).to(torch.float64).cpu().numpy().ravel())
            if m.sigma_mode == "per_pair":
                cin, cout = np.meshgrid(np.arange(m.in_channels), np.arange(m.out_channels), indexing="ij")
                pairs.setdefault(k, []).append((conv, cin.ravel(), cout.ravel(), np.stack(per_time)))
    scale = strides * deg_per_px  # deg per pixel of each layer's input map
    dims = ("time", "layer") if times[0] is not None else ("layer",)
    pick = (lambda a: a) if times[0] is not None else (lambda a: a[0])
    data = {
        "sigma_px": (
            dims,
            pick(sigma),
            {"long_name": "SRF scale sigma in pixels (median over pairs)", "units": PIXELS,
             "comment": "Gaussian scale of this one layer's filters, in pixels of the layer's input map"},
        ),
        "sigma_deg": (
            dims,
            pick(sigma * scale),
            {"long_name": "SRF scale sigma in visual angle", "units": DEGREE,
             "comment": "sigma_px of this one layer times the visual angle of one pixel of its input map"},
        ),
        "kernel_size_px": (
            dims,
            pick(size),
            {"long_name": "kernel size K in pixels", "units": PIXELS,
             "comment": "width K = 2 ceil(2 sigma + 0.5) + 1 of this one layer's filter, in pixels of its input map"},
        ),
        "kernel_size_deg": (
            dims,
            pick(size * scale),
            {"long_name": "kernel extent in visual angle", "units": DEGREE,
             "comment": "K pixels of this one layer's input map in visual angle: the extent of one layer's "
                        "filter, not a unit's receptive field (the cumulative one: VirtualCortex.theoretical_rf)"},
        ),
        "preferred_sf": (
            dims,
            pick(sf / scale),
            {"long_name": "median preferred spatial frequency of the filters", "units": CYCLES_PER_DEGREE,
             "comment": "peak of each filter's amplitude spectrum (one layer), median over the filters"},
        ),
    }
    coords = {
        **_layer_coords(layers),
        "map_stride_px": (
            "layer",
            strides,
            {"long_name": "input pixels per pixel of the layer's input map", "units": PIXELS},
        ),
    }
    if times[0] is not None:
        coords.update(time_coords(np.array(times), vc.ms_per_unit_time, vc.onset_ms))
    for k, entries in pairs.items():
        pdim = f"pair_block{k}"
        values = np.concatenate([e[3] for e in entries], axis=1)  # [time, pairs]
        coords[f"in_channel_block{k}"] = (
            pdim,
            np.concatenate([e[1] for e in entries]),
            {"long_name": "input channel of the pair (concat mode: 0 is time)", "units": "1"},
        )
        coords[f"out_channel_block{k}"] = (
            pdim,
            np.concatenate([e[2] for e in entries]),
            {"long_name": "output channel of the pair", "units": "1"},
        )
        coords[f"conv_block{k}"] = (
            pdim,
            np.concatenate([np.full(e[1].size, e[0]) for e in entries]),
            {"long_name": "SRF conv index in the block", "units": "1"},
        )
        data[f"sigma_ji_block{k}"] = (
            dims[:-1] + (pdim,),
            pick(values),
            {"long_name": f"per-pair SRF scale sigma_ji in pixels, block {k}", "units": PIXELS},
        )
        data.update(_fit_vars(k, values, dims[:-1]))
    return vc.stamp(xr.Dataset(data, coords=coords), "receptive_fields")


def learned_scales(vc) -> xr.Dataset:
    """Every SRF layer's sigma trained against its value at initialisation, with the map stride separated from
    learning (experiment "learned_scales").

    The initial model is rebuilt as its seed initialised it (``build_model(**vc.model.config)``). A layer's sigma
    is its ``sigma_summary`` (for per-pair layers the median over pairs), in pixels of the layer's own input map.
    In pixels of the input image it is that times the map stride (input-image pixels per map pixel, from the
    geometry walk), in degrees that times ``visual_degrees / image width``. So sigma in input pixels or degrees
    = sigma_initial_px x learning_factor x stride_factor: growth with depth in degrees is learning only where
    learning_factor moves from 1.

    Returns:
        A Dataset on dim ``layer`` (and ``time``, at t = 0 and T, for time-dependent sigma) with
        ``sigma_trained_px``, ``sigma_initial_px`` (pixels of the layer's input map), ``learning_factor``
        (trained / initial, units "1"), ``stride_factor`` (the map stride: input-image pixels per map pixel,
        units "1"), ``sigma_trained_input_px``, ``sigma_initial_input_px`` (pixels of the input image),
        ``sigma_trained_deg``, ``sigma_initial_deg`` (degrees of visual angle), and for per-pair layers
        (NaN for shared ones) ``log_correlation`` (Pearson r of log sigma_ji, trained vs initial) and
        ``median_log2_change`` (median |log2 sigma_ji trained - log2 sigma_ji initial|); coords block, conv,
        depth, layer_name and pairs (sigmas in the layer). Each block k with per-pair layers also has
        ``sigma_ji_initial_block{k}`` (pixels) on receptive_fields' ``pair_block{k}`` dim, in its order.

    Raises:
        ValueError: the model has no SRF layers, or its config names no seed (its initialisation is unknown).

    Examples:
        >>> import neurodcn as nd
        >>> s = nd.VirtualCortex.pretrained(progress=False).learned_scales()
        >>> s.stride_factor.values.tolist(), [round(f, 2) for f in s.learning_factor.values.tolist()]
        ([1.0, 1.0, 2.0, 2.0, 4.0, 4.0], [1.04, 0.52, 1.37, 1.47, 0.57, 1.36])
    """
    layers = _placed_layers(vc, "learned_scales")
    config = getattr(vc.model, "config", None) or {}
    if config.get("seed") is None:
        raise ValueError(f"learned_scales rebuilds the model as its seed initialised it, but the config of "
                         f"{vc.name!r} names no seed: {config}")
    start = dict(build_model(**config).named_modules())
    times = _times(vc, layers)
    n_t, n_l = len(times), len(layers)
    trained, initial = np.empty((n_t, n_l)), np.empty((n_t, n_l))
    r, change = np.full((n_t, n_l), np.nan), np.full((n_t, n_l), np.nan)
    pairs: dict[int, list] = {}
    with torch.no_grad():
        for j, (name, m, k, _) in enumerate(layers):
            per_time = []
            for ti, t in enumerate(times):
                trained[ti, j], initial[ti, j] = m.sigma_summary(t), start[name].sigma_summary(t)
                if m.sigma_mode == "per_pair":
                    now, then = (x.sigma_at(t).to(torch.float64).cpu().numpy().ravel() for x in (m, start[name]))
                    r[ti, j] = np.corrcoef(np.log(now), np.log(then))[0, 1]
                    change[ti, j] = np.median(np.abs(np.log2(now) - np.log2(then)))
                    per_time.append(then)
            if per_time:
                pairs.setdefault(k, []).append(np.stack(per_time))
    strides = np.array([vc.layer_strides[id(m)] for _, m, _, _ in layers], dtype=np.float64)
    deg_per_px = vc.visual_degrees / vc.image_size[1]
    dims = ("time", "layer") if times[0] is not None else ("layer",)
    pick = (lambda a: a) if times[0] is not None else (lambda a: a[0])
    states = (("trained", trained, "after training"), ("initial", initial, "at initialisation"))
    data = {f"sigma_{when}_px": (dims, pick(values), {
        "long_name": f"SRF scale sigma {state} (median over pairs), pixels of the layer's input map",
        "units": PIXELS}) for when, values, state in states}
    data["learning_factor"] = (dims, pick(trained / initial), {
        "long_name": "learning factor: sigma trained / sigma at initialisation", "units": "1"})
    data["stride_factor"] = ("layer", strides, {
        "long_name": "map stride: input-image pixels per pixel of the layer's input map", "units": "1"})
    for when, values, state in states:
        data[f"sigma_{when}_input_px"] = (dims, pick(values * strides), {
            "long_name": f"SRF scale sigma {state} in pixels of the input image (x stride_factor)", "units": PIXELS})
        data[f"sigma_{when}_deg"] = (dims, pick(values * strides * deg_per_px), {
            "long_name": f"SRF scale sigma {state} in visual angle", "units": DEGREE})
    data["log_correlation"] = (dims, pick(r), {
        "long_name": "Pearson r of log sigma_ji, trained vs initialisation (per-pair layers; NaN: shared sigma)",
        "units": "1"})
    data["median_log2_change"] = (dims, pick(change), {
        "long_name": "median |log2 sigma_ji trained - log2 sigma_ji initial| (per-pair layers; NaN: shared sigma)",
        "units": "1"})
    for k, entries in pairs.items():
        data[f"sigma_ji_initial_block{k}"] = (dims[:-1] + (f"pair_block{k}",), pick(np.concatenate(entries, 1)), {
            "long_name": f"per-pair SRF scale sigma_ji at initialisation in pixels, block {k}", "units": PIXELS})
    counts = np.array([m.sigma_at(times[0]).numel() for _, m, _, _ in layers])
    coords = {**_layer_coords(layers),
              "pairs": ("layer", counts, {"long_name": "sigmas in the layer (1: shared sigma)", "units": "1"})}
    if times[0] is not None:
        coords.update(time_coords(np.array(times), vc.ms_per_unit_time, vc.onset_ms))
    return vc.stamp(xr.Dataset(data, coords=coords), "learned_scales",
                    title=f"SRF sigma trained vs initialisation ({vc.name})")


def srf_kernels(vc, layer=1, t=None) -> xr.Dataset:
    """The sampled filter bank W [out, in, K, K] of one SRF layer (experiment "srf_kernels"): its N-jet on the
    integer grid -h..h of the layer's input map (SRFConv2d.kernel), one 2-D filter per (output, input) channel.

    Args:
        layer: the SRF layer, by depth (1-based, forward order) or module path: receptive_fields' ``depth`` and
            ``layer_name``.
        t: model time, required for a layer whose parameters depend on time and refused for any other.

    Returns:
        A Dataset with ``kernel`` (out_channel, in_channel, y_offset, x_offset; weight, units "1"), ``sigma_px``
        (the layer's sigma_summary at t, in pixels of its input map), coords y_offset and x_offset (pixels of
        the input map from the centre, y down), and scalar coords layer_name, block, conv, depth (and time,
        time_ms for a time-dependent layer).

    Raises:
        ValueError: no SRF layer ``layer``, or t missing or given where it must not be.

    Examples:
        >>> import neurodcn as nd
        >>> k = nd.VirtualCortex.pretrained(progress=False).srf_kernels("blocks.0.func.conv1")
        >>> k.kernel.dims, k.kernel.shape, round(float(k.sigma_px), 2)
        (('out_channel', 'in_channel', 'y_offset', 'x_offset'), (16, 17, 5, 5), 0.55)
    """
    layers = srf_layers(vc.model, [r.name for r in vc.readout.layers])
    names = [name for name, _, _, _ in layers]
    check_choice("layer", layer, [*range(1, len(layers) + 1), *names])
    depth = names.index(layer) + 1 if isinstance(layer, str) else int(layer)
    name, m, k, conv = layers[depth - 1]
    if m.time_param is None and t is not None:
        raise ValueError(f"t must be None: the parameters of {name!r} do not depend on time, got {t!r}")
    with torch.no_grad():
        w = m.kernel(t).cpu().numpy()
        sigma = m.sigma_summary(t)
    offsets = np.arange(w.shape[-1]) - w.shape[-1] // 2
    coords = {
        "out_channel": ("out_channel", np.arange(w.shape[0]), {"long_name": "output channel", "units": "1"}),
        "in_channel": ("in_channel", np.arange(w.shape[1]),
                       {"long_name": "input channel (concat mode: 0 is time)", "units": "1"}),
        "y_offset": ("y_offset", offsets, {"long_name": "vertical offset from the kernel centre (down)",
                                           "units": PIXELS}),
        "x_offset": ("x_offset", offsets, {"long_name": "horizontal offset from the kernel centre",
                                           "units": PIXELS}),
        "layer_name": ((), name, {"long_name": "module path"}),
        "block": ((), k, {"long_name": "ODE block (0: outside blocks)", "units": "1"}),
        "conv": ((), conv, {"long_name": "SRF conv index in its stage", "units": "1"}),
        "depth": ((), depth, {"long_name": "order of the SRF layer in the network", "units": "1"}),
    }
    ds = xr.Dataset(
        {
            "kernel": (("out_channel", "in_channel", "y_offset", "x_offset"), w,
                       {"long_name": "SRF filter weight", "units": "1",
                        "comment": "the N-jet sampled on the integer grid of the layer's input map"}),
            "sigma_px": ((), sigma, {"long_name": "SRF scale sigma in pixels (median over pairs)", "units": PIXELS}),
        },
        coords=coords,
    )
    if m.time_param is not None:
        ds = ds.assign_coords(time_coords(np.array([t]), vc.ms_per_unit_time, vc.onset_ms)).isel(time=0)
    return vc.stamp(ds, "srf_kernels", title=f"SRF kernels of {name} ({vc.name})")
