"""The dataset schema every neurodcn experiment follows: dims, coordinates, CF attributes, provenance, validation.

Dims. ``stimulus`` (one image), ``time`` (model time), and per block ``channel``, ``y``, ``x`` of its feature map.
Coordinates carry CF ``long_name`` and ``units`` attributes. Model time t (units "1") maps to milliseconds as
time_ms = onset_ms + ms_per_unit_time * t. Map positions are in degrees from the image centre, x to the right
and y up (as in neurodcn.data.stimuli).

Global attrs (``REQUIRED_GLOBAL_ATTRS``, set by :func:`stamp_provenance`): title, source ("neurodcn <version>"),
model, model_config and solver_config (JSON strings), created (UTC, ISO 8601) and neurodcn_experiment (the
experiment that wrote the dataset; ``ds.dcn.experiment`` reads it and ``ds.dcn.require(...)`` checks it).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn._version import __version__

__all__ = [
    "STIMULUS",
    "TIME",
    "REQUIRED_GLOBAL_ATTRS",
    "json_default",
    "time_coords",
    "stimulus_coords",
    "block_dims",
    "block_coords",
    "stamp_provenance",
    "validate_dataset",
    "require_experiment",
]

STIMULUS, TIME = "stimulus", "time"
"""The dims shared by every recording: one entry per image, one per model time."""

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


def stimulus_coords(n: int, table: pd.DataFrame | None = None, dim: str = STIMULUS) -> dict:
    """Coords on ``dim`` for n stimuli: stimulus_id = 0..n-1, or every column of a stimulus table of n rows
    (it must hold stimulus_id; long_name and units come from ``table.attrs["long_names"]`` and
    ``table.attrs["units"]``, see neurodcn.data.stimuli). Returns {name: (dim, values, attrs)}."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be an integer >= 0 (the number of stimuli), got {n!r}")
    if table is None:
        return {"stimulus_id": (dim, np.arange(n), {"long_name": "stimulus identifier", "units": "1"})}
    if not isinstance(table, pd.DataFrame) or len(table) != n or "stimulus_id" not in table.columns:
        raise ValueError(
            f"stimulus_table must be a pandas DataFrame with a stimulus_id column and one row per image ({n}), "
            f"got {type(table).__name__} of length {len(table) if hasattr(table, '__len__') else '?'}"
        )
    units, long_names = table.attrs.get("units", {}), table.attrs.get("long_names", {})
    coords = {}
    for col in table.columns:
        attrs = {"long_name": long_names.get(col, col)}
        if col in units:
            attrs["units"] = units[col]
        values = table[col].to_numpy()
        coords[col] = (dim, values.astype(str) if values.dtype == object else values, attrs)
    return coords


def block_dims(k: int) -> tuple[str, str, str]:
    """Per-block dims (channel_block{k}, y_block{k}, x_block{k}); k = 1..B."""
    return f"channel_block{k}", f"y_block{k}", f"x_block{k}"


def block_coords(k: int, channels: int, y_deg: np.ndarray, x_deg: np.ndarray) -> dict:
    """Coords of block k's map: channel, row and column indices, and the map pixel centres in degrees from the
    image centre (y_deg [rows], up; x_deg [columns], right)."""
    c, y, x = block_dims(k)
    return {
        c: (c, np.arange(channels), {"long_name": f"channel of block {k}", "units": "1"}),
        y: (y, np.arange(len(y_deg)), {"long_name": f"feature-map row of block {k}", "units": "1"}),
        x: (x, np.arange(len(x_deg)), {"long_name": f"feature-map column of block {k}", "units": "1"}),
        f"y_deg_block{k}": (
            y,
            np.asarray(y_deg, dtype=np.float64),
            {"long_name": "vertical position of the map pixel centre from the image centre (up)", "units": "deg"},
        ),
        f"x_deg_block{k}": (
            x,
            np.asarray(x_deg, dtype=np.float64),
            {"long_name": "horizontal position of the map pixel centre from the image centre (right)", "units": "deg"},
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
    """A shallow copy of ``ds`` with the global attrs of ``REQUIRED_GLOBAL_ATTRS`` set, then ``attrs``.

    source = "neurodcn <version>", created = current UTC time (ISO 8601), neurodcn_experiment = experiment,
    model = model name; model_config and solver_config (dict, dataclass, JSON string or None -> "{}") are
    stored as JSON strings; title defaults to an existing title or "<experiment> (<model>)".
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    for name, value in (("experiment", experiment), ("model", model)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")
    out = ds.copy(deep=False)
    out.attrs = dict(ds.attrs)
    out.attrs.update(
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
def validate_dataset(ds: xr.Dataset) -> xr.Dataset:
    """Check the schema; raise ValueError listing every problem, else return ``ds``.

    Checks: every data variable has ``long_name`` and ``units`` attrs; the global attrs in
    ``REQUIRED_GLOBAL_ATTRS`` are present; ``model_config`` and ``solver_config`` are JSON strings; no index
    is a pandas MultiIndex.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    problems = []
    for name, var in ds.data_vars.items():
        missing = [a for a in ("long_name", "units") if a not in var.attrs]
        if missing:
            problems.append(f"data variable {name!r} lacks attrs {missing}")
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
    multi = [name for name, index in ds.indexes.items() if isinstance(index, pd.MultiIndex)]
    if multi:
        problems.append(f"MultiIndex coordinates (use flat coords): {multi}")
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
class DatasetAccessor:
    """``ds.dcn``: the neurodcn schema of a dataset (``experiment``, ``require``, ``validate``)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    @property
    def experiment(self) -> str | None:
        """The experiment that wrote the dataset (attrs neurodcn_experiment), or None."""
        return self._ds.attrs.get("neurodcn_experiment")

    def require(self, experiment: str, what: str = "ds") -> xr.Dataset:
        """The dataset, after checking that ``experiment`` wrote it (ValueError otherwise)."""
        return require_experiment(self._ds, experiment, what)

    def validate(self) -> xr.Dataset:
        """The dataset, after checking the schema (:func:`validate_dataset`)."""
        return validate_dataset(self._ds)
