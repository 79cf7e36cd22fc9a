"""Theoretical receptive-field size against depth, from kernel sizes, strides and the learned SRF scales.

Support (the standard receptive-field arithmetic). With r_0 = 1 px and jump j_0 = 1 px (input pixels per
map pixel), a layer of kernel size K_l and stride s_l gives r_l = r_{l-1} + (K_l - 1) j_{l-1} and
j_l = j_{l-1} s_l: r_l input pixels can influence one output pixel.

Effective size. The Gaussian envelopes compose by adding variances: s_l^2 = s_{l-1}^2 + (sigma_l j_{l-1})^2
(s_0 = 0), with sigma_l the SRF scale (px of the layer's input map; SRFConv2d.sigma_summary: the median over
pairs for per-pair layers) and, for an ordinary K x K convolution or pool, the SD of a uniform weight over K pixels,
sqrt((K^2 - 1) / 12). s_l is an SD (compare with a pRF sigma); r_l a full width.

ODE blocks. One *pass* through an ODE block counts each convolution of its vector field once (h(T) =
h(0) + integral of f, and one evaluation of f applies conv1 then conv2). This is our choice: a solve
evaluates f NFE times and each evaluation composes with the last, so the support actually reachable grows with
the number of steps (``passes_per_block`` = NFE gives that upper bound), while the effective size the
trained dynamics give is what size tuning measures (neurodcn.cortex.physiology). Time-dependent SRF scales
are read at t = 0 (as neurodcn.cortex.geometry does for the map geometry).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from torch import nn

from neurodcn.cortex.geometry import layer_pair
from neurodcn.nn.classifier import Classifier
from neurodcn.nn.dynamics import ODEBlock
from neurodcn.nn.srf import SRFConv2d
from neurodcn.schema import DEGREE, PIXELS, stamp_provenance
from neurodcn.validate import check_int, check_real

__all__ = ["layer_stack", "receptive_field_arithmetic", "theoretical_rf"]


def _square(v) -> int:
    v = layer_pair(v)
    if v[0] != v[1]:
        raise ValueError(f"only square kernels and equal strides are supported, got {v}")
    return int(v[0])


def layer_stack(model: nn.Module, passes_per_block: int = 1) -> list[dict]:
    """The spatial layers of a staged classifier (stem, blocks, transitions) in forward order.

    Each entry: name (module path), block (1-based; 0 outside blocks), kernel (K, px), stride, sigma (px;
    NaN for ordinary convolutions and pools). ODE blocks are listed ``passes_per_block`` times.
    """
    passes_per_block = check_int("passes_per_block", passes_per_block, minimum=1)
    if not isinstance(model, Classifier):
        raise ValueError(
            f"model must be a staged classifier (neurodcn.nn.classifier.Classifier), got {type(model).__name__}"
        )
    out = []
    for stage in model.stages():
        k = stage.index + 1 if stage.kind == "block" else 0
        passes = passes_per_block if isinstance(stage.module, ODEBlock) else 1
        layers = []
        for name, m in stage.module.named_modules():
            path = f"{stage.path}.{name}" if name else stage.path
            if isinstance(m, SRFConv2d):
                t = 0.0 if m.time_param else None
                layers.append(
                    dict(name=path, block=k, kernel=2 * m.half_width_at(t) + 1, stride=m.stride,
                         sigma=m.sigma_summary(t))
                )
            elif isinstance(m, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
                stride = m.stride if m.stride is not None else m.kernel_size
                layers.append(
                    dict(
                        name=path, block=k, kernel=_square(m.kernel_size), stride=_square(stride), sigma=math.nan
                    )
                )
        for p in range(passes):
            out += [
                dict(entry, name=f"{entry['name']}#pass{p + 1}" if passes > 1 else entry["name"])
                for entry in layers
            ]
    return out


def receptive_field_arithmetic(kernels, strides, sigmas=None) -> dict:
    """Support r_l (px), jump j_l (px) and effective SD s_l (px) after each layer (see the module docstring).

    kernels, strides: positive integers per layer; sigmas: SRF scale per layer in px of its input map (NaN or
    None: an ordinary K x K kernel, SD sqrt((K^2 - 1) / 12)). Returns arrays rf_px, jump_px, sigma_eff_px and
    the jump of each layer's input map, input_jump_px.
    """
    k = np.asarray(kernels)
    s = np.asarray(strides)
    if (
        k.ndim != 1
        or k.size == 0
        or s.shape != k.shape
        or k.dtype.kind not in "iu"
        or s.dtype.kind not in "iu"
    ):
        raise ValueError(
            f"kernels and strides must be non-empty 1-D integer sequences of one length, got {k!r}, {s!r}"
        )
    if np.any(k < 1) or np.any(s < 1):
        raise ValueError(f"kernels and strides must be >= 1, got kernels {k.tolist()}, strides {s.tolist()}")
    sig = np.full(k.size, np.nan) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    if sig.shape != k.shape or np.any(sig[np.isfinite(sig)] <= 0):
        raise ValueError(f"sigmas must hold one positive value (or NaN) per layer, got {sig.tolist()}")
    sd = np.where(np.isfinite(sig), sig, np.sqrt((k.astype(np.float64) ** 2 - 1) / 12))
    jump_in = np.concatenate([[1], np.cumprod(s)[:-1]]).astype(np.float64)
    rf = 1 + np.cumsum((k - 1) * jump_in)
    eff = np.sqrt(np.cumsum((sd * jump_in) ** 2))
    return dict(rf_px=rf, jump_px=jump_in * s, input_jump_px=jump_in, sigma_eff_px=eff)


def theoretical_rf(
    model: nn.Module, visual_degrees: float = 8.0, image_width: int = 32, passes_per_block: int = 1
) -> xr.Dataset:
    """Theoretical RF size of every spatial layer of ``model`` on dim ``layer`` (px and deg, the image of
    ``image_width`` px spanning ``visual_degrees``): kernel_size, stride, jump_px, rf_size_px/_deg (support,
    full width), sigma_eff_px/_deg (effective Gaussian SD); coords depth (1-based), block, layer_name."""
    visual_degrees = check_real("visual_degrees", visual_degrees, 0, lo_open=True)
    image_width = check_int("image_width", image_width, minimum=1)
    stack = layer_stack(model, passes_per_block)
    if not stack:
        raise ValueError("model has no convolution or pooling layers")
    a = receptive_field_arithmetic(
        [e["kernel"] for e in stack], [e["stride"] for e in stack], [e["sigma"] for e in stack]
    )
    deg = visual_degrees / image_width
    px, dg = dict(units=PIXELS), dict(units=DEGREE)
    cumulative = "cumulative over this and all earlier layers, in pixels of the image"
    data = {
        "kernel_size": ("layer", [e["kernel"] for e in stack], dict(long_name="kernel size K in pixels", **px)),
        "stride": ("layer", [e["stride"] for e in stack], dict(long_name="stride", units="1")),
        "sigma_px": (
            "layer",
            [e["sigma"] for e in stack],
            dict(long_name="SRF scale in pixels (NaN: ordinary conv)", **px),
        ),
        "jump_px": ("layer", a["jump_px"], dict(long_name="input pixels per output map pixel", **px)),
        "rf_size_px": ("layer", a["rf_px"], dict(long_name="receptive-field support (full width) in pixels",
                                                 comment=f"{cumulative}; image pixels that can reach one unit", **px)),
        "rf_size_deg": (
            "layer",
            a["rf_px"] * deg,
            dict(long_name="receptive-field support (full width)", comment=f"{cumulative}; rf_size_px in deg", **dg),
        ),
        "sigma_eff_px": ("layer", a["sigma_eff_px"], dict(
            long_name="effective Gaussian RF SD in pixels", comment=f"{cumulative}; Gaussian SDs added in quadrature",
            **px)),
        "sigma_eff_deg": ("layer", a["sigma_eff_px"] * deg, dict(
            long_name="effective Gaussian RF SD", comment=f"{cumulative}; sigma_eff_px in deg", **dg)),
    }
    coords = {
        "depth": ("layer", np.arange(1, len(stack) + 1), dict(long_name="spatial layer index", units="1")),
        "block": (
            "layer",
            [e["block"] for e in stack],
            dict(long_name="block (0: outside blocks)", units="1"),
        ),
        "layer_name": ("layer", [e["name"] for e in stack], dict(long_name="module path")),
    }
    ds = xr.Dataset(
        data,
        coords=coords,
        attrs=dict(
            visual_degrees=float(visual_degrees), image_width=image_width, passes_per_block=passes_per_block
        ),
    )
    config = getattr(model, "config", None)
    config = config if isinstance(config, dict) else {}
    return stamp_provenance(
        ds,
        "rf_size",
        str(config.get("name", type(model).__name__)),
        model_config=config,
        title="theoretical receptive-field size vs depth",
    )
