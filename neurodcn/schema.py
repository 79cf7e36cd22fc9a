"""The dataset schema every neurodcn experiment follows: dims, coordinates, CF attributes, provenance, validation.

Dims. ``stimulus`` (one image), ``time`` (model time), and per block ``channel``, ``y``, ``x`` of its feature map.
A recording is an xarray DataTree: the root holds the stimulus and time coordinates shared by every block, and
one group per block (``/block1``, ...) holds ``h`` (stimulus, time, channel, y, x) with that block's map
coordinates, so blocks of different shapes never share (or multiply) dims.

Stimuli. The ``stimulus`` dim has an index coordinate equal to ``stimulus_id``: a string unique to its stimulus
set, "<stimulus set>/<index, 6 digits>" (the set named by the user, or by a content hash of the images, see
:func:`stimulus_set_name`) or the strings of a user's table. So recordings of different stimuli combine with
``xr.open_mfdataset(files, group="block1", combine="by_coords")`` and their ids never collide.

CF. Coordinates and variables carry ``long_name`` and ``units`` that UDUNITS reads ("degree", "cycles/degree",
"ms", "1"), except lengths in pixels: UDUNITS has no pixel, and they carry units "pixel" (:data:`PIXELS`), the one
unit outside UDUNITS; flag variables carry numeric ``flag_values``; ``Conventions`` is :data:`CONVENTIONS`. Model time t
(units "1") maps to milliseconds as time_ms = onset_ms + ms_per_unit_time * t. Map positions are in degrees from
the image centre, x to the right and y up (as in neurodcn.data.stimuli).

Global attrs (``REQUIRED_GLOBAL_ATTRS``, set by :func:`stamp_provenance`): title, source ("neurodcn <version>"),
model, model_config and solver_config (JSON strings), created (UTC, ISO 8601) and neurodcn_experiment (the
experiment that wrote the dataset; ``ds.dcn.experiment`` reads it and ``ds.dcn.require(...)`` checks it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn._version import __version__
from neurodcn.validate import check_int, check_str, check_type

__all__ = [
    "STIMULUS",
    "TIME",
    "BLOCK_DIMS",
    "CONVENTIONS",
    "DEGREE",
    "CYCLES_PER_DEGREE",
    "PIXELS",
    "REQUIRED_GLOBAL_ATTRS",
    "json_default",
    "time_coords",
    "stimulus_set_name",
    "stimulus_coords",
    "block_name",
    "block_coords",
    "stamp_provenance",
    "nodes",
    "RENAMED",
    "upgrade_names",
    "to_dataframe",
    "validate_dataset",
    "require_experiment",
]

STIMULUS, TIME = "stimulus", "time"
"""The dims shared by every recording: one entry per image, one per model time."""
BLOCK_DIMS = ("channel", "y", "x")
"""The dims of a block's feature map, inside its own group of a recording."""
CONVENTIONS = "CF-1.10"
"""The ``Conventions`` global attribute of every dataset."""
DEGREE, CYCLES_PER_DEGREE, PIXELS = "degree", "cycles/degree", "pixel"
"""Units (UDUNITS): angles, spatial frequencies, and lengths in pixels (counts: UDUNITS has no pixel)."""

REQUIRED_GLOBAL_ATTRS = (
    "title",
    "source",
    "model",
    "model_config",
    "solver_config",
    "created",
    "neurodcn_experiment",
)


def json_default(obj):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays, and paths, as plain JSON values."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"attribute value of type {type(obj).__name__} is not JSON-serialisable")


# ----------------------------------------------------------------------------------------------- coordinates
def time_coords(times: np.ndarray, ms_per_unit_time: float, onset_ms: float, dim: str = TIME) -> dict:
    """Coords ``time`` (model time, "1") and ``time_ms`` (onset_ms + ms_per_unit_time * time, "ms") on dim."""
    t = np.asarray(times, dtype=np.float64)
    return {
        "time": (dim, t, {"long_name": "model time", "units": "1"}),
        "time_ms": (dim, onset_ms + ms_per_unit_time * t, {"long_name": "time after stimulus onset", "units": "ms"}),
    }


def stimulus_set_name(images) -> str:
    """A name for a stimulus set from its content: "images-" + the first 16 hex digits of the SHA-256 of the
    images as float32 [N, C, H, W] (C order), so the same images always get the same name."""
    arr = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
    return "images-" + hashlib.sha256(arr.tobytes()).hexdigest()[:16]


def _ids(values, stimulus_set) -> np.ndarray:
    if values.dtype.kind in "iu":
        check_str("stimulus_set", stimulus_set)  # it names the integer ids
        if values.size and values.min() < 0:
            raise ValueError(f"integer stimulus_id values must be >= 0, got min {values.min()}")
        return np.array([f"{stimulus_set}/{int(v):06d}" for v in values])
    if values.dtype.kind in "OUS" and all(isinstance(v, str) and v for v in values.tolist()):
        return values.astype(str)
    raise ValueError(f"stimulus_id values must be non-negative integers or non-empty strings, got {values[:5]!r}")


def stimulus_coords(n: int, table: pd.DataFrame | None = None, stimulus_set: str | None = None, images=None,
                    dim: str = STIMULUS) -> dict:
    """Coords on ``dim`` for n stimuli: the index ``dim`` and ``stimulus_id`` (equal strings, unique), plus
    every other column of a stimulus table of n rows (long_name and units from ``table.attrs["long_names"]``
    and ``table.attrs["units"]``, see neurodcn.data.stimuli).

    Ids: "<set>/<i:06d>" for i = 0..n-1 without a table, or for a table's integer stimulus_id column, with set
    = ``stimulus_set``, else ``table.attrs["stimulus_set"]``, else :func:`stimulus_set_name` of ``images``
    ([N, C, H, W]); a table's string stimulus_id column is used as it is. Returns {name: (dim, values, attrs)}.
    """
    n = check_int("n", n, 0)
    if table is None:
        table = pd.DataFrame({"stimulus_id": np.arange(n)})
    if not isinstance(table, pd.DataFrame) or len(table) != n or "stimulus_id" not in table.columns:
        raise ValueError(
            f"stimulus_table must be a pandas DataFrame with a stimulus_id column and one row per image ({n}), "
            f"got {type(table).__name__} of length {len(table) if hasattr(table, '__len__') else '?'}"
        )
    values = table["stimulus_id"].to_numpy()
    if stimulus_set is None and values.dtype.kind in "iu":
        stimulus_set = table.attrs.get("stimulus_set") or (stimulus_set_name(images) if images is not None else None)
    ids = _ids(values, stimulus_set)
    if np.unique(ids).size != ids.size:
        raise ValueError(f"stimulus_id values must be unique, got duplicates in {ids.tolist()[:10]}")
    id_attrs = {"long_name": "stimulus identifier, unique to its stimulus set"}
    coords = {dim: (dim, ids, id_attrs), "stimulus_id": (dim, ids, id_attrs)}
    units, long_names = table.attrs.get("units", {}), table.attrs.get("long_names", {})
    for col in table.columns.drop("stimulus_id"):
        attrs = {"long_name": long_names.get(col, col)}
        if col in units:
            attrs["units"] = units[col]
        values = table[col].to_numpy()
        coords[col] = (dim, values.astype(str) if values.dtype == object else values, attrs)
    return coords


def block_name(k: int) -> str:
    """The group of block k (1-based) in a recording: "block{k}"."""
    return f"block{k}"


def block_coords(channels: int, y_deg: np.ndarray, x_deg: np.ndarray) -> dict:
    """Coords of a block's map (dims BLOCK_DIMS): channel, row and column indices, and the map pixel centres
    in degrees from the image centre (y_deg [rows], up; x_deg [columns], right)."""
    return {
        "channel": ("channel", np.arange(channels), {"long_name": "channel of the block", "units": "1"}),
        "y": ("y", np.arange(len(y_deg)), {"long_name": "feature-map row", "units": "1"}),
        "x": ("x", np.arange(len(x_deg)), {"long_name": "feature-map column", "units": "1"}),
        "y_deg": (
            "y",
            np.asarray(y_deg, dtype=np.float64),
            {"long_name": "vertical position of the map pixel centre from the image centre (up)", "units": DEGREE},
        ),
        "x_deg": (
            "x",
            np.asarray(x_deg, dtype=np.float64),
            {"long_name": "horizontal position of the map pixel centre from the image centre (right)",
             "units": DEGREE},
        ),
    }


# ----------------------------------------------------------------------------------------------- provenance
def _config_json(name: str, config) -> str:
    if isinstance(config, str):
        try:
            json.loads(config)
        except ValueError as exc:
            raise ValueError(f"{name} given as a string must be valid JSON, got {config!r}") from exc
        return config
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if config is not None and not isinstance(config, dict):
        raise TypeError(
            f"{name} must be a dict, a dataclass instance, a JSON string or None, got {type(config).__name__}"
        )
    return json.dumps(config if config is not None else {}, sort_keys=True, default=json_default)


def stamp_provenance(
    ds: xr.Dataset,
    experiment: str,
    model: str,
    model_config=None,
    solver_config=None,
    title: str | None = None,
    **attrs,
) -> xr.Dataset:
    """A shallow copy of ``ds`` with ``Conventions`` and the global attrs of ``REQUIRED_GLOBAL_ATTRS`` set, then
    ``attrs``.

    source = "neurodcn <version>", created = current UTC time (ISO 8601), neurodcn_experiment = experiment,
    model = model name; model_config and solver_config (dict, dataclass, JSON string or None -> "{}") are
    stored as JSON strings; title defaults to an existing title or "<experiment> (<model>)".
    """
    check_type("ds", ds, xr.Dataset, "an xarray.Dataset")
    check_str("experiment", experiment)
    check_str("model", model)
    if title is not None:
        check_str("title", title, allow_empty=True)
    out = ds.copy(deep=False)
    out.attrs = dict(ds.attrs)
    out.attrs.update(
        Conventions=CONVENTIONS,
        title=title or ds.attrs.get("title") or f"{experiment} ({model})",
        source=f"neurodcn {__version__}",
        model=model,
        model_config=_config_json("model_config", model_config),
        solver_config=_config_json("solver_config", solver_config),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        neurodcn_experiment=experiment,
        **attrs,
    )
    return out


# ----------------------------------------------------------------------------------------------- validation
RENAMED = {"receptive_fields": {"rf_size_px": "kernel_size_px", "rf_size_deg": "kernel_size_deg"}}
"""experiment -> {old variable name: new name} of variables renamed since files were written with the old name
(neurodcn.io.files.load_dataset reads them under the new one, :func:`upgrade_names`)."""


def upgrade_names(ds):
    """``ds`` with the variables of :data:`RENAMED` for its experiment under their new names, each noting the
    old name in its ``comment`` attr; anything else unchanged."""
    old = {a: b for a, b in RENAMED.get(getattr(ds, "attrs", {}).get("neurodcn_experiment"), {}).items() if a in ds}
    if not old or not isinstance(ds, xr.Dataset):
        return ds
    ds = ds.rename(old)
    for a, b in old.items():
        ds[b].attrs["comment"] = f"{ds[b].attrs.get('comment', '')} (renamed from {a})".strip()
    return ds


def nodes(ds) -> dict[str, xr.Dataset]:
    """{group path: its own Dataset} of a DataTree ("/" the root; coords inherited from parents not repeated),
    or {"/": ds} for a Dataset."""
    if isinstance(ds, xr.DataTree):
        return {node.path: node.to_dataset(inherit=False) for node in ds.subtree}
    return {"/": check_type("ds", ds, xr.Dataset, "an xarray.Dataset or DataTree")}


def _tidy(ds: xr.Dataset, var: str) -> pd.DataFrame:
    """The tidy table of one Dataset: see :func:`to_dataframe`."""
    names = sorted(ds.data_vars)
    if var not in names:
        raise ValueError(f"var must be a data variable of ds (one of {names}), got {var!r}")
    dims = ds[var].dims
    on_dims = [n for n in names if n != var and set(ds[n].dims) <= set(dims)]
    sub = ds[[var, *on_dims]]
    sub = sub.drop_vars([n for n, c in sub.coords.items() if not set(c.dims) <= set(dims)])
    df = sub.to_dataframe(dim_order=list(dims)).reset_index()
    lead = list(dims)
    if STIMULUS in df and "stimulus_id" in df:  # the stimulus index equals stimulus_id: keep one
        df = df.drop(columns=STIMULUS)
        lead[lead.index(STIMULUS)] = "stimulus_id"
    return df[[*lead, var, *(c for c in df.columns if c not in lead and c != var)]]


def to_dataframe(ds, var: str = "h", blocks=None) -> pd.DataFrame:
    """A long ("tidy") table with exactly one row per value of ``var``; ``ds.dcn.to_dataframe()``.

    Columns: var's dims (``stimulus_id`` standing for ``stimulus``), ``var``, then every coordinate and data
    variable that lies on a subset of var's dims (``time_ms``, ``y_deg``, ``solver_state``, ...), with their
    units as in ``ds``. Anything on another dim (a recording's ``solver_step_time`` on ``step``) is left out,
    so no value is repeated across it (``Dataset.to_dataframe`` broadcasts every variable over every dim).
    A recording (DataTree) stacks its blocks' tables (all, or the block numbers ``blocks``) under a leading
    ``block`` column; the root's variables (``solver_failure``) join each block.
    """
    if isinstance(ds, xr.Dataset):
        return _tidy(ds, var)
    check_type("ds", ds, xr.DataTree, "an xarray.Dataset or a recording DataTree")
    groups = {int(g.attrs["block_index"]): g for g in ds.children.values() if "block_index" in g.attrs}
    if not groups:
        raise ValueError("ds must be a recording (groups block1..blockB with attrs block_index), got none")
    chosen = sorted(groups) if blocks is None else list(blocks)
    if not chosen or set(chosen) - set(groups):
        raise ValueError(f"blocks must be block numbers in {sorted(groups)}, got {chosen}")
    root = ds.to_dataset(inherit=False)  # a group inherits only the root's index coords: add the rest
    frames = [_tidy(groups[k].to_dataset().assign_coords(root.coords).assign(root.data_vars), var) for k in chosen]
    return pd.concat([f.assign(block=k)[["block", *f.columns]] for k, f in zip(chosen, frames, strict=True)],
                     ignore_index=True)


def validate_dataset(ds):
    """Check the schema of a Dataset or DataTree; raise ValueError listing every problem, else return ``ds``.

    Checks: every data variable (of every group) has ``long_name`` and ``units`` attrs; the global (root) attrs
    in ``REQUIRED_GLOBAL_ATTRS`` are present; ``model_config`` and ``solver_config`` are JSON strings; no index
    is a pandas MultiIndex.
    """
    groups = nodes(ds)
    problems = []
    for path, node in groups.items():
        where = "" if path == "/" else f"{path}: "
        for name, var in node.data_vars.items():
            missing = [a for a in ("long_name", "units") if a not in var.attrs]
            if missing:
                problems.append(f"{where}data variable {name!r} lacks attrs {missing}")
        multi = [name for name, index in node.indexes.items() if isinstance(index, pd.MultiIndex)]
        if multi:
            problems.append(f"{where}MultiIndex coordinates (use flat coords): {multi}")
    missing = [a for a in REQUIRED_GLOBAL_ATTRS if a not in ds.attrs]
    if missing:
        problems.append(f"global attrs missing: {missing}")
    for key in ("model_config", "solver_config"):
        if key in ds.attrs:
            value = ds.attrs[key]
            try:
                if not isinstance(value, str):
                    raise TypeError
                json.loads(value)
            except (TypeError, ValueError):
                problems.append(f"global attr {key!r} must be a JSON string, got {value!r}")
    if problems:
        raise ValueError("dataset does not follow the neurodcn conventions:\n- " + "\n- ".join(problems))
    return ds


def require_experiment(ds, experiment: str, what: str = "ds"):
    """``ds`` itself when it is an xarray Dataset (or DataTree) written by ``experiment`` (its attrs
    neurodcn_experiment); ValueError naming ``what`` otherwise."""
    got = getattr(ds, "attrs", {}).get("neurodcn_experiment") if isinstance(ds, xr.Dataset | xr.DataTree) else None
    if got != experiment:
        kind = type(ds).__name__ if not isinstance(ds, xr.Dataset | xr.DataTree) else f"experiment {got!r}"
        raise ValueError(f"{what} must be a {experiment!r} dataset (attrs neurodcn_experiment), got {kind}")
    return ds


@xr.register_dataset_accessor("dcn")
@xr.register_datatree_accessor("dcn")
class DatasetAccessor:
    """``ds.dcn`` on a Dataset or DataTree: its neurodcn schema (``experiment``, ``require``, ``validate``) and
    its tidy table (``to_dataframe``)."""

    def __init__(self, ds):
        self._ds = ds

    @property
    def experiment(self) -> str | None:
        """The experiment that wrote the dataset (attrs neurodcn_experiment), or None."""
        return self._ds.attrs.get("neurodcn_experiment")

    def require(self, experiment: str, what: str = "ds"):
        """The dataset, after checking that ``experiment`` wrote it (ValueError otherwise)."""
        return require_experiment(self._ds, experiment, what)

    def validate(self):
        """The dataset, after checking the schema (:func:`validate_dataset`)."""
        return validate_dataset(self._ds)

    def to_dataframe(self, var: str = "h", blocks=None) -> pd.DataFrame:
        """One row per value of ``var``, never multiplied by other dims (:func:`to_dataframe`)."""
        return to_dataframe(self._ds, var, blocks)
