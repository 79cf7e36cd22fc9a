"""Small synthetic datasets that follow the virtual-cortex schemas (/work/helper-notes/cortex-schema.md).

Each builder returns an xr.Dataset stamped with provenance (neurodcn.schema.stamp_provenance) and the cortex
attrs visual_degrees (deg), ms_per_unit_time (ms) and onset_ms (ms). Values are seeded random numbers with a
known structure, so tests can check exports and plots against the entries they put in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.analysis.fits import fit_lognormal
from neurodcn.schema import block_coords, stamp_provenance, stimulus_coords

CORTEX_ATTRS = {"visual_degrees": 8.0, "ms_per_unit_time": 100.0, "onset_ms": 50.0}


def _finish(ds: xr.Dataset, experiment: str, **attrs) -> xr.Dataset:
    ds = stamp_provenance(
        ds,
        experiment=experiment,
        model="synthetic",
        model_config={"seed": 0},
        solver_config={"method": "dopri5", "rtol": 1e-3, "atol": 1e-3},
    )
    ds.attrs.update({**CORTEX_ATTRS, **attrs})
    return ds


def _time_coords(n_times: int, T: float = 2.0) -> dict:
    t = np.linspace(0.0, T, n_times)
    ms = CORTEX_ATTRS["onset_ms"] + CORTEX_ATTRS["ms_per_unit_time"] * t
    return {
        "time": ("time", t, {"long_name": "model time", "units": "1"}),
        "time_ms": ("time", ms, {"long_name": "time after stimulus onset", "units": "ms"}),
    }


def map_centres_deg(n: int, image_size: int, visual_degrees: float) -> np.ndarray:
    """Centres of n map pixels tiling an image of ``image_size`` px, in deg from the image centre."""
    stride = image_size / n
    return ((np.arange(n) + 0.5) * stride - image_size / 2) * visual_degrees / image_size


def make_record_dataset(
    n_stimuli: int = 3,
    n_times: int = 4,
    blocks=((4, 6, 6), (8, 3, 3)),
    image_size: int = 24,
    stimulus_params: dict | None = None,
    string_ids: bool = False,
    sigma=None,
    seed: int = 0,
) -> xr.DataTree:
    """A recording (neurodcn.schema): group block{k} holds h (stimulus, time, channel, y, x) float32.

    blocks: one (C, H, W) per ODE block; stimulus_params: extra stimulus coords name -> values (default a
    ``contrast`` coord); stimulus ids "synthetic/000100", ... or, with string_ids, "img{i}"; sigma: optional
    per-block scalar ``sigma`` coords (px).
    """
    rng = np.random.default_rng(seed)
    vd = CORTEX_ATTRS["visual_degrees"]
    table = pd.DataFrame(
        {"stimulus_id": [f"img{i}" for i in range(n_stimuli)] if string_ids else np.arange(n_stimuli) + 100}
    )
    params = {"contrast": np.geomspace(0.1, 1.0, n_stimuli)} if stimulus_params is None else stimulus_params
    for name, values in params.items():
        table[name] = np.asarray(values)
    table.attrs["units"] = dict.fromkeys(params, "1")
    coords = stimulus_coords(n_stimuli, table, stimulus_set="synthetic")
    coords.update(_time_coords(n_times))
    root = _finish(xr.Dataset(coords=coords), "record", image_size=[image_size, image_size], t_end=2.0)
    groups = {"/": root}
    for k, (c, h, w) in enumerate(blocks, start=1):
        block = block_coords(c, -map_centres_deg(h, image_size, vd), map_centres_deg(w, image_size, vd))
        if sigma is not None:
            block["sigma"] = ((), float(sigma[k - 1]), {"long_name": "SRF scale sigma", "units": "1"})
        values = rng.normal(size=(n_stimuli, n_times, c, h, w)).astype(np.float32)
        groups[f"/block{k}"] = xr.Dataset(
            {
                "h": (
                    ("stimulus", "time", "channel", "y", "x"),
                    values,
                    {"long_name": f"hidden state h(t) of ODE block {k}", "units": "1"},
                )
            },
            coords=block,
            attrs={"block_index": k, "map_stride_px": image_size / h},
        )
    return xr.DataTree.from_dict(groups)


def make_receptive_fields_dataset(
    convs_per_block=(2, 2),
    stem_layers: int = 1,
    channels=(3, 4),
    lognorm=((0.5, 1.5), (0.4, 3.0)),
    seed: int = 0,
) -> xr.Dataset:
    """A "receptive_fields" dataset for a dcn-sigma-ji-like model.

    Layers: ``stem_layers`` stem convs (block 0), then ``convs_per_block[k-1]`` convs in block k. Per block k,
    ``sigma_ji_block{k}`` holds channels[k-1]^2 pairs per conv drawn from lognorm(shape, scale=scale) with
    lognorm[k-1] = (shape, scale) in px, and the fit of scipy (neurodcn.analysis.fits.fit_lognormal) is stored
    as scalar vars lognorm_shape_block{k}, lognorm_scale_block{k}, ... .
    """
    rng = np.random.default_rng(seed)
    block = [0] * stem_layers + [k for k, n in enumerate(convs_per_block, start=1) for _ in range(n)]
    conv = list(range(1, stem_layers + 1)) + [i for n in convs_per_block for i in range(1, n + 1)]
    n_layers = len(block)
    depth = np.arange(1, n_layers + 1)
    names = [f"stem.conv{i}" if b == 0 else f"blocks.{b - 1}.odefunc.conv{i}" for b, i in zip(block, conv, strict=True)]
    sigma_px = 0.8 * depth**1.3 + rng.uniform(0, 0.2, n_layers)
    vd_per_px = CORTEX_ATTRS["visual_degrees"] / 32
    coords = {
        "block": ("layer", np.array(block), {"long_name": "ODE block (0: outside blocks)", "units": "1"}),
        "conv": ("layer", np.array(conv), {"long_name": "conv index inside its block", "units": "1"}),
        "depth": ("layer", depth, {"long_name": "depth (order of SRF layers)", "units": "1"}),
        "layer_name": ("layer", np.array(names)),
    }
    data_vars = {
        "sigma_px": ("layer", sigma_px, {"long_name": "filter scale sigma", "units": "px"}),
        "sigma_deg": ("layer", sigma_px * vd_per_px, {"long_name": "filter scale sigma", "units": "deg"}),
        "kernel_size_px": ("layer", np.full(n_layers, 7), {"long_name": "kernel size", "units": "pixel"}),
        "preferred_sf": (
            "layer",
            1.0 / (sigma_px * vd_per_px * 2 * np.pi),
            {"long_name": "preferred spatial frequency", "units": "cycles/deg"},
        ),
    }
    for k, (n_conv, c, (shape, scale)) in enumerate(zip(convs_per_block, channels, lognorm, strict=True), start=1):
        n = n_conv * c * c
        pair = f"pair_block{k}"
        samples = scale * np.exp(shape * rng.standard_normal(n))
        coords[f"in_channel_block{k}"] = (pair, np.tile(np.repeat(np.arange(c), c), n_conv))
        coords[f"out_channel_block{k}"] = (pair, np.tile(np.arange(c), c * n_conv))
        coords[f"conv_block{k}"] = (pair, np.repeat(np.arange(1, n_conv + 1), c * c))
        data_vars[f"sigma_ji_block{k}"] = (
            pair,
            samples,
            {"long_name": f"sigma_ji of block {k}", "units": "px"},
        )
        fit = fit_lognormal(samples)
        for key, units in (("shape", "1"), ("scale", "px"), ("ks_statistic", "1"), ("ks_pvalue", "1")):
            data_vars[f"lognorm_{key}_block{k}"] = (
                (),
                getattr(fit, key),
                {"long_name": f"log-normal {key}, block {k}", "units": units},
            )
        data_vars[f"skewness_block{k}"] = (
            (),
            fit.skewness,
            {"long_name": f"skewness, block {k}", "units": "1"},
        )
    return _finish(xr.Dataset(data_vars, coords), "receptive_fields")


def make_contrast_sweep_dataset(
    n_contrasts: int = 6, n_blocks: int = 3, regime: str = "naive", failed=(), seed: int = 0, per_image: int = 0
) -> xr.Dataset:
    """A "contrast_sweep" dataset; contrasts logspace(-3, 0.7); ``failed``: indices of failed contrasts;
    ``per_image``: this many images' correct and nfe_per_image (0: none)."""
    rng = np.random.default_rng(seed)
    c = np.logspace(-3, 0.7, n_contrasts)
    acc = 0.1 + 0.8 * c / (c + 0.05)
    nfe = rng.integers(14, 40, size=(n_contrasts, n_blocks)).astype(float)
    failed_flag = np.zeros(n_contrasts, dtype=np.int8)
    failed_flag[list(failed)] = 1
    acc[failed_flag == 1] = np.nan
    nfe[failed_flag == 1] = np.nan
    ds = xr.Dataset(
        {
            "accuracy": ("contrast", acc, {"long_name": "accuracy (fraction correct)", "units": "1"}),
            "nfe": (("contrast", "block"), nfe, {"long_name": "forward NFE", "units": "count"}),
            "nfe_total": ("contrast", nfe.sum(axis=1), {"long_name": "total forward NFE", "units": "count"}),
            "solver_failed": ("contrast", failed_flag, {"long_name": "solver failed", "units": "1"}),
        },
        coords={
            "contrast": ("contrast", c, {"long_name": "contrast", "units": "1"}),
            "block": ("block", np.arange(1, n_blocks + 1)),
        },
    )
    if per_image:  # per-image results, as contrast_sweep(per_image=True) adds them
        correct = (rng.uniform(size=(per_image, n_contrasts)) < np.nan_to_num(acc)[None]).astype(np.int8)
        correct[:, failed_flag == 1] = -1
        ds["correct"] = (("stimulus", "contrast"), correct, {"long_name": "image classified correctly", "units": "1"})
        ds["nfe_per_image"] = (("stimulus", "contrast", "block"), np.broadcast_to(nfe, (per_image, *nfe.shape)).copy(),
                               {"long_name": "forward NFE (batch of one)", "units": "count"})
        ds = ds.assign_coords(stimulus_id=("stimulus", np.arange(per_image)))
    return _finish(ds, "contrast_sweep", regime=regime)


def make_pattern_completion_dataset(
    mask_sizes=(0, 6, 14), n_stimuli: int = 5, n_times: int = 6, n_blocks: int = 2, seed: int = 0
) -> xr.Dataset:
    """A "pattern_completion" dataset: D_block{k} (mask_size, stimulus, time) >= 0, 0 for the intact image."""
    rng = np.random.default_rng(seed)
    m = np.asarray(mask_sizes)
    coords = {
        "mask_size": ("mask_size", m, {"long_name": "mask side", "units": "px"}),
        "stimulus_id": ("stimulus", np.arange(n_stimuli)),
    }
    coords.update(_time_coords(n_times))
    decay = np.exp(-np.linspace(0, 2, n_times))
    correct = (rng.uniform(size=(len(m), n_stimuli)) < (0.9 - 0.02 * m)[:, None]).astype(np.int8)
    data_vars = {
        "accuracy": ("mask_size", correct.mean(axis=1), {"long_name": "fraction correct", "units": "1"}),
        "correct": (("mask_size", "stimulus"), correct, {"long_name": "image classified correctly", "units": "1"}),
    }
    for k in range(1, n_blocks + 1):
        d = (m[:, None, None] / 32.0) * decay[None, None, :] * rng.uniform(0.5, 1.5, size=(len(m), n_stimuli, 1))
        data_vars[f"D_block{k}"] = (
            ("mask_size", "stimulus", "time"),
            d,
            {"long_name": f"normalised distance D(t), block {k}", "units": "1"},
        )
    return _finish(xr.Dataset(data_vars, coords), "pattern_completion")
