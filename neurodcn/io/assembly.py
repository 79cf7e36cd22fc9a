"""Brain-Score-style assemblies from a "record" dataset, and the unit selection shared with the NWB export.

A record dataset holds h_block{k} (stimulus, time, channel_block{k}, y_block{k}, x_block{k}). Both exports
flatten each block's (channel, y, x) into units ("neuroids"): :func:`select_units` picks them (every map
position or only the centre one; all channels or some) in the order channel, then y, then x (C order), and
:func:`unit_responses` gathers their responses. :func:`to_assembly` speaks Brain-Score's names without
depending on it: presentation x neuroid x time_bin, flat coordinates, integer-ms bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.schema import require_experiment

__all__ = ["record_blocks", "select_units", "unit_responses", "to_assembly", "POSITIONS"]

POSITIONS = ("all", "centre")


def record_blocks(ds: xr.Dataset) -> list[int]:
    """Check that ``ds`` is a "record" dataset (see the cortex schema); return its block numbers 1..B."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    require_experiment(ds, "record")
    blocks = sorted(int(v.attrs["block_index"]) for v in ds.data_vars.values() if "block_index" in v.attrs)
    if blocks != list(range(1, len(blocks) + 1)) or not blocks:
        raise ValueError(f"ds must hold data variables h_block1..h_blockB, got blocks {blocks}")
    missing = [n for n in ("stimulus_id", "time", "time_ms") if n not in ds.coords]
    for k in blocks:
        dims = ("stimulus", "time", f"channel_block{k}", f"y_block{k}", f"x_block{k}")
        if ds[f"h_block{k}"].dims != dims:
            raise ValueError(f"h_block{k} must have dims {dims}, got {ds[f'h_block{k}'].dims}")
        missing += [n for n in (f"y_deg_block{k}", f"x_deg_block{k}") if n not in ds.coords]
    if missing:
        raise ValueError(f"ds lacks the record coordinates {missing}")
    return blocks


def _channel_choice(channels, k: int, n: int) -> np.ndarray:
    chosen = channels.get(k) if isinstance(channels, dict) else channels
    if chosen is None:
        return np.arange(n)
    idx = np.asarray(chosen)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or np.unique(idx).size != idx.size:
        raise ValueError(f"channels for block {k} must be distinct integer channel indices, got {chosen!r}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"channels for block {k} must lie in 0..{n - 1}, got {chosen!r}")
    return np.sort(idx)


def select_units(ds: xr.Dataset, positions: str = "all", channels=None) -> pd.DataFrame:
    """The units of a record dataset: one row per (block, channel, y, x), blocks in order, then C order.

    positions: "all" (every map position) or "centre" (only row H // 2, column W // 2 of each block's map).
    channels: None (all), a sequence of channel indices used in every block, or a dict block number -> such
    a sequence (blocks absent from the dict keep all channels).
    Columns: unit_id ("block{k}/ch{c}/y{y}/x{x}"), block, channel, y, x (map indices), y_deg, x_deg (map pixel
    centre, deg from the image centre, y up) and column (the unit's index among its block's units).
    """
    blocks = record_blocks(ds)
    if positions not in POSITIONS:
        raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
    if channels is not None and isinstance(channels, dict) and set(channels) - set(blocks):
        raise ValueError(
            f"channels has keys {sorted(set(channels) - set(blocks))} that are not blocks {blocks}"
        )
    frames = []
    for k in blocks:
        c_n, y_n, x_n = (ds.sizes[f"{a}_block{k}"] for a in ("channel", "y", "x"))
        ch = _channel_choice(channels, k, c_n)
        ys, xs = (np.arange(y_n), np.arange(x_n)) if positions == "all" else ([y_n // 2], [x_n // 2])
        c_i, y_i, x_i = (a.ravel() for a in np.meshgrid(ch, ys, xs, indexing="ij"))
        c_v, y_v, x_v = (ds[f"{a}_block{k}"].values[i] for a, i in (("channel", c_i), ("y", y_i), ("x", x_i)))
        frames.append(
            pd.DataFrame(
                {
                    "unit_id": [f"block{k}/ch{c}/y{y}/x{x}" for c, y, x in zip(c_v, y_v, x_v, strict=True)],
                    "block": k,
                    "channel": c_v,
                    "y": y_v,
                    "x": x_v,
                    "y_deg": ds[f"y_deg_block{k}"].values[y_i],
                    "x_deg": ds[f"x_deg_block{k}"].values[x_i],
                    "column": np.arange(c_i.size),
                    "_c": c_i,
                    "_y": y_i,
                    "_x": x_i,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def unit_responses(ds: xr.Dataset, units: pd.DataFrame, k: int) -> np.ndarray:
    """h of the block-k rows of ``units`` (from :func:`select_units`), shape (stimulus, time, n_units_k).

    Only the channels, rows and columns in use are read, so a lazy (dask-backed) dataset loads no more.
    """
    rows = units[units["block"] == k]
    idx = [rows[c].to_numpy() for c in ("_c", "_y", "_x")]
    used = [np.unique(i) for i in idx]
    var = ds[f"h_block{k}"]
    cube = var.isel(dict(zip(var.dims[2:], used, strict=True))).values
    return cube[(slice(None), slice(None), *(np.searchsorted(u, i) for u, i in zip(used, idx, strict=True)))]


def _default_bins(time_ms: np.ndarray) -> np.ndarray:
    """[start, end) in integer ms for point samples: sample i stands for [t_i, t_(i+1)), the last for one
    more step of the previous length."""
    if time_ms.size < 2:
        raise ValueError("time_bins must be given when the recording has a single time point")
    edges = np.append(time_ms, time_ms[-1] + (time_ms[-1] - time_ms[-2]))
    bins = np.rint(np.stack([edges[:-1], edges[1:]], axis=1)).astype(np.int64)
    if np.any(bins[:, 1] <= bins[:, 0]):
        raise ValueError(
            f"time_ms {time_ms.tolist()} is too fine for whole-ms bins; give time_bins explicitly"
        )
    return bins


def _bin_weights(time_ms: np.ndarray, time_bins) -> tuple[np.ndarray, np.ndarray]:
    """(bins [n_bins, 2] int ms, weights [n_bins, time]): a bin averages its samples in [start, end)."""
    if not np.all(np.diff(time_ms) > 0):
        raise ValueError(f"time_ms must be strictly increasing, got {time_ms.tolist()}")
    if time_bins is None:
        return _default_bins(time_ms), np.eye(time_ms.size)
    bins = np.asarray(time_bins)
    if bins.ndim != 2 or bins.shape[1] != 2 or bins.shape[0] == 0 or bins.dtype.kind not in "iu":
        raise ValueError(
            f"time_bins must be a sequence of (start_ms, end_ms) integer pairs, got {time_bins!r}"
        )
    if np.any(bins[:, 1] <= bins[:, 0]):
        raise ValueError(f"time_bins must have end_ms > start_ms in every bin, got {bins.tolist()}")
    inside = (time_ms[None, :] >= bins[:, :1]) & (time_ms[None, :] < bins[:, 1:])
    empty = bins[~inside.any(axis=1)].tolist()
    if empty:
        raise ValueError(f"time_bins {empty} hold no recorded time point (time_ms = {time_ms.tolist()})")
    return bins.astype(np.int64), inside / inside.sum(axis=1, keepdims=True)


def to_assembly(
    ds: xr.Dataset, region_map: dict, time_bins=None, positions: str = "all", channels=None
) -> xr.DataArray:
    """A presentation x neuroid x time_bin DataArray (Brain-Score names) from a "record" dataset.

    region_map: block name -> region, e.g. {"block1": "V1", "block2": "V2"}; it must name exactly the blocks
    of ``ds``. time_bins: None (one bin per recorded time, [t_i, t_(i+1)) rounded to whole ms, see
    :func:`_default_bins`) or (start_ms, end_ms) integer pairs, each bin the mean of the samples with
    start <= time_ms < end. positions, channels: which units become neuroids (:func:`select_units`; default:
    every channel at every map position).
    Coords: presentation: stimulus_id and every other stimulus coordinate; neuroid: neuroid_id, layer
    ("block{k}"), region, block, channel, channel_y, channel_x (map row/column), y_deg, x_deg; time_bin:
    time_bin_start, time_bin_end (int ms). Values: h, float32 as recorded (bin means in float64 are cast
    back). Global attrs of ``ds`` are kept (neurodcn_experiment becomes "assembly").
    """
    blocks = record_blocks(ds)
    if not isinstance(region_map, dict):
        raise TypeError(f"region_map must be a dict block name -> region, got {type(region_map).__name__}")
    names = [f"block{k}" for k in blocks]
    unknown, missing = sorted(set(region_map) - set(names)), [n for n in names if n not in region_map]
    if unknown or missing:
        raise ValueError(
            f"region_map must name exactly the blocks {names}; unknown {unknown}, missing {missing}"
        )
    bad = {k: v for k, v in region_map.items() if not isinstance(v, str) or not v}
    if bad:
        raise ValueError(f"region_map values must be non-empty strings, got {bad}")
    units = select_units(ds, positions, channels)
    bins, weights = _bin_weights(np.asarray(ds["time_ms"].values, dtype=np.float64), time_bins)
    parts = [unit_responses(ds, units, k) for k in blocks]  # (stimulus, time, n_k)
    h = np.concatenate(parts, axis=2)
    values = np.einsum("stn,bt->snb", h, weights) if time_bins is not None else h.transpose(0, 2, 1)
    stim_coords = {
        n: ("presentation", c.values, c.attrs) for n, c in ds.coords.items() if c.dims == ("stimulus",)
    }
    layer = np.array([f"block{k}" for k in units["block"]])
    neuroid = {
        "neuroid_id": units["unit_id"].to_numpy(),
        "layer": layer,
        "region": np.array([region_map[n] for n in layer]),
        "block": units["block"].to_numpy(),
        "channel": units["channel"].to_numpy(),
        "channel_y": units["y"].to_numpy(),
        "channel_x": units["x"].to_numpy(),
        "y_deg": (
            "neuroid",
            units["y_deg"].to_numpy(),
            {"long_name": "map pixel centre elevation", "units": "deg"},
        ),
        "x_deg": (
            "neuroid",
            units["x_deg"].to_numpy(),
            {"long_name": "map pixel centre azimuth", "units": "deg"},
        ),
    }
    coords = {**stim_coords, **{n: v if isinstance(v, tuple) else ("neuroid", v) for n, v in neuroid.items()}}
    coords["time_bin_start"] = ("time_bin", bins[:, 0], {"long_name": "time bin start", "units": "ms"})
    coords["time_bin_end"] = ("time_bin", bins[:, 1], {"long_name": "time bin end", "units": "ms"})
    attrs = {**ds.attrs, "neurodcn_experiment": "assembly", "long_name": "hidden state h(t)", "units": "1"}
    dtype = ds["h_block1"].dtype
    return xr.DataArray(
        values.astype(dtype, copy=False),
        dims=("presentation", "neuroid", "time_bin"),
        coords=coords,
        name="h",
        attrs=attrs,
    )
