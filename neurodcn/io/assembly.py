"""Brain-Score-style assemblies from a "record" DataTree, and the unit selection shared with the NWB export.

A recording (neurodcn.schema) holds, in group block{k}, h (stimulus, time, channel, y, x). Both exports
flatten each block's (channel, y, x) into units ("neuroids"): :func:`select_units` picks them (every map
position or only the centre one; all channels or some) in the order channel, then y, then x (C order), and
:func:`unit_responses` gathers their responses. :func:`to_assembly` speaks Brain-Score's names without
depending on it: presentation x neuroid x time_bin, flat coordinates, integer-ms bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.schema import BLOCK_DIMS, DEGREE, STIMULUS, TIME, block_name, require_experiment
from neurodcn.validate import check_choice, check_increasing, check_type

__all__ = ["record_blocks", "select_units", "unit_responses", "to_assembly", "POSITIONS"]

POSITIONS = ("all", "centre")


def record_blocks(rec: xr.DataTree) -> list[int]:
    """Check that ``rec`` is a recording (neurodcn.cortex.record: experiment "record"); return its block
    numbers 1..B, read from the block_index attr of its groups."""
    require_experiment(rec, "record", "rec")
    if not isinstance(rec, xr.DataTree):
        raise ValueError(
            f"rec must be an xarray.DataTree with one group per block (VirtualCortex.record), got {type(rec).__name__}"
        )
    blocks = sorted(int(g.attrs["block_index"]) for g in rec.children.values() if "block_index" in g.attrs)
    if blocks != list(range(1, len(blocks) + 1)) or not blocks:
        raise ValueError(f"rec must hold groups block1..blockB with attrs block_index, got blocks {blocks}")
    missing = [n for n in ("stimulus_id", "time", "time_ms") if n not in rec.coords]
    for k in blocks:
        group = rec[block_name(k)]
        if "h" not in group.data_vars or group["h"].dims != (STIMULUS, TIME, *BLOCK_DIMS):
            raise ValueError(f"group {block_name(k)} must hold h with dims {(STIMULUS, TIME, *BLOCK_DIMS)}")
        missing += [f"{block_name(k)}/{n}" for n in ("y_deg", "x_deg") if n not in group.coords]
    if missing:
        raise ValueError(f"rec lacks the record coordinates {missing}")
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


def select_units(rec: xr.DataTree, positions: str = "all", channels=None) -> pd.DataFrame:
    """The units of a recording: one row per (block, channel, y, x), blocks in order, then C order.

    positions: "all" (every map position) or "centre" (only row H // 2, column W // 2 of each block's map).
    channels: None (all), a sequence of channel indices used in every block, or a dict block number -> such
    a sequence (blocks absent from the dict keep all channels).
    Columns: unit_id ("block{k}/ch{c}/y{y}/x{x}"), block, channel, y, x (map indices), y_deg, x_deg (map pixel
    centre, deg from the image centre, y up) and column (the unit's index among its block's units).
    """
    blocks = record_blocks(rec)
    check_choice("positions", positions, POSITIONS)
    if channels is not None and isinstance(channels, dict) and set(channels) - set(blocks):
        raise ValueError(
            f"channels has keys {sorted(set(channels) - set(blocks))} that are not blocks {blocks}"
        )
    frames = []
    for k in blocks:
        group = rec[block_name(k)]
        c_n, y_n, x_n = (group.sizes[a] for a in BLOCK_DIMS)
        ch = _channel_choice(channels, k, c_n)
        ys, xs = (np.arange(y_n), np.arange(x_n)) if positions == "all" else ([y_n // 2], [x_n // 2])
        c_i, y_i, x_i = (a.ravel() for a in np.meshgrid(ch, ys, xs, indexing="ij"))
        c_v, y_v, x_v = (group[a].values[i] for a, i in (("channel", c_i), ("y", y_i), ("x", x_i)))
        frames.append(
            pd.DataFrame(
                {
                    "unit_id": [f"block{k}/ch{c}/y{y}/x{x}" for c, y, x in zip(c_v, y_v, x_v, strict=True)],
                    "block": k,
                    "channel": c_v,
                    "y": y_v,
                    "x": x_v,
                    "y_deg": group["y_deg"].values[y_i],
                    "x_deg": group["x_deg"].values[x_i],
                    "column": np.arange(c_i.size),
                    "_c": c_i,
                    "_y": y_i,
                    "_x": x_i,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def unit_responses(rec: xr.DataTree, units: pd.DataFrame, k: int) -> np.ndarray:
    """h of the block-k rows of ``units`` (from :func:`select_units`), shape (stimulus, time, n_units_k).

    Only the channels, rows and columns in use are read, so a lazy (dask-backed) dataset loads no more.
    """
    rows = units[units["block"] == k]
    idx = [rows[c].to_numpy() for c in ("_c", "_y", "_x")]
    used = [np.unique(i) for i in idx]
    var = rec[block_name(k)]["h"]
    cube = var.isel(dict(zip(var.dims[2:], used, strict=True))).values
    return cube[(slice(None), slice(None), *(np.searchsorted(u, i) for u, i in zip(used, idx, strict=True)))]


def _default_bins(time_ms: np.ndarray, span_ms: tuple[float, float]) -> np.ndarray:
    """One whole-ms bin [start, end) per sample, around it, shape (n, 2) int ms.

    The edges lie halfway between neighbouring samples and half a step beyond the first and last, floored to
    whole ms; a single sample gets the recorded interval span_ms = (onset, onset + T) ms. Every sample lies
    in its own bin, else (samples under ~2 ms apart) the error asks for explicit bins.
    """
    if time_ms.size == 1 and not span_ms[1] > span_ms[0]:
        raise ValueError(f"time_bins must be given for a recording with one time point and no time span (a discrete "
                         f"model's one state, at {time_ms[0]:g} ms = onset_ms): bins of the recordings it meets, "
                         "holding that time (set the cortex's onset_ms to the latency you assume)")
    if time_ms.size == 1:
        edges = np.asarray(span_ms, dtype=np.float64)
    else:
        mid = (time_ms[1:] + time_ms[:-1]) / 2
        edges = np.concatenate([[2 * time_ms[0] - mid[0]], mid, [2 * time_ms[-1] - mid[-1]]])
    edges = np.floor(edges).astype(np.int64)
    bins = np.stack([edges[:-1], edges[1:]], axis=1)
    if np.any((time_ms < bins[:, 0]) | (time_ms >= bins[:, 1])):
        raise ValueError(
            f"time_ms {time_ms.tolist()} do not fit one whole-ms bin per sample; give time_bins explicitly"
        )
    return bins


def _bin_weights(time_ms: np.ndarray, time_bins, span_ms) -> tuple[np.ndarray, np.ndarray]:
    """(bins [n_bins, 2] int ms, weights [n_bins, time]): a given bin averages its samples in [start, end);
    default bin i (:func:`_default_bins`) holds sample i."""
    check_increasing("time_ms", time_ms)
    if time_bins is None:
        return _default_bins(time_ms, span_ms), np.eye(time_ms.size)
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
    rec: xr.DataTree, region_map: dict, time_bins=None, positions: str = "all", channels=None
) -> xr.DataArray:
    """A Brain-Score-style assembly (presentation x neuroid x time_bin DataArray) from a recording.

    Args:
        rec: a recording (DataTree) from ``VirtualCortex.record``.
        region_map: block name -> region, e.g. {"block1": "V1", "block2": "V2"}; it must name exactly the
            blocks of ``rec``.
        time_bins: None (one whole-ms bin per recorded time, around it, in time order: edges halfway between
            samples) or (start_ms, end_ms) integer pairs, each bin the mean of the samples with
            start <= time_ms < end.
        positions: which map positions become neuroids: "all" (default) or "centre" (``select_units``).
        channels: which channels become neuroids (default all).

    Returns:
        The DataArray of h (float32 as recorded; bin means are cast back) with coords: presentation:
        ``stimulus_id`` and every other stimulus coordinate; neuroid: ``neuroid_id``, ``layer``
        ("block{k}"), ``region``, ``block``, ``channel``, ``channel_y``, ``channel_x`` (map row/column),
        ``y_deg``, ``x_deg``; time_bin: ``time_bin_start``, ``time_bin_end`` (int ms). The recording's global
        attrs are kept (``neurodcn_experiment`` becomes "assembly").

    Examples:
        >>> import neurodcn as nd
        >>> model = nd.build_model("dcn-ode", width=4, seed=0, solver={"method": "rk4", "step_size": 0.5})
        >>> vc = nd.VirtualCortex(model, progress=False)
        >>> rec = vc.record(nd.load_stimuli("cifar10-demo", num_images=2).images, times=[0, 1, 2])
        >>> regions = {"block1": "V1", "block2": "V2", "block3": "V4"}
        >>> a = nd.to_assembly(rec, regions, time_bins=[(50, 100)], positions="centre")
        >>> a.dims, a.shape  # 4 + 8 + 16 channels at the centre of each block's map
        (('presentation', 'neuroid', 'time_bin'), (2, 28, 1))
        >>> a.time_bin_start.values.tolist(), a.time_bin_end.values.tolist()
        ([50], [100])
    """
    blocks = record_blocks(rec)
    check_type("region_map", region_map, dict, "a dict block name -> region")
    names = [f"block{k}" for k in blocks]
    unknown, missing = sorted(set(region_map) - set(names)), [n for n in names if n not in region_map]
    if unknown or missing:
        raise ValueError(
            f"region_map must name exactly the blocks {names}; unknown {unknown}, missing {missing}"
        )
    bad = {k: v for k, v in region_map.items() if not isinstance(v, str) or not v}
    if bad:
        raise ValueError(f"region_map values must be non-empty strings, got {bad}")
    units = select_units(rec, positions, channels)
    time_ms = np.asarray(rec["time_ms"].values, dtype=np.float64)
    onset, per_unit = (float(rec.attrs.get(a, np.nan)) for a in ("onset_ms", "ms_per_unit_time"))
    end = onset + per_unit * float(rec.attrs.get("t_end", rec["time"].values[-1]))
    span = (onset, end) if np.isfinite(end) else (time_ms[0], time_ms[-1])
    bins, weights = _bin_weights(time_ms, time_bins, span)
    parts = [unit_responses(rec, units, k) for k in blocks]  # (stimulus, time, n_k)
    h = np.concatenate(parts, axis=2)
    values = np.einsum("stn,bt->snb", h, weights) if time_bins is not None else h.transpose(0, 2, 1)
    stim_coords = {
        n: ("presentation", c.values, c.attrs)
        for n, c in rec.coords.items()
        if c.dims == (STIMULUS,) and n != STIMULUS  # the index equals stimulus_id
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
            {"long_name": "map pixel centre elevation", "units": DEGREE},
        ),
        "x_deg": (
            "neuroid",
            units["x_deg"].to_numpy(),
            {"long_name": "map pixel centre azimuth", "units": DEGREE},
        ),
    }
    coords = {**stim_coords, **{n: v if isinstance(v, tuple) else ("neuroid", v) for n, v in neuroid.items()}}
    coords["time_bin_start"] = ("time_bin", bins[:, 0], {"long_name": "time bin start", "units": "ms"})
    coords["time_bin_end"] = ("time_bin", bins[:, 1], {"long_name": "time bin end", "units": "ms"})
    attrs = {**rec.attrs, "neurodcn_experiment": "assembly", "long_name": "hidden state h(t)", "units": "1"}
    dtype = rec[block_name(1)]["h"].dtype
    return xr.DataArray(
        values.astype(dtype, copy=False),
        dims=("presentation", "neuroid", "time_bin"),
        coords=coords,
        name="h",
        attrs=attrs,
    )
