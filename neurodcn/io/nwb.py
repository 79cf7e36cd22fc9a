"""NWB export of a "record" dataset (pynwb), and reading it back.

Layout of the file written by :func:`to_nwb`:

* ``general/subject``: the model as the subject (see :data:`DEFAULT_SUBJECT`): species is the NCBI taxon
  "synthetic construct" (NCBITaxon_32630, the form nwbinspector accepts), sex "O" (other), age "P0D/" (an ISO
  8601 range "at least 0 days": a model has no age), subject_id the model name.
* ``intervals/presentations`` (TimeIntervals): one row per stimulus, start_time = stimulus onset,
  stop_time = onset + the last recorded time_ms; columns stimulus_id and every other stimulus coordinate
  (contrast, ...). Presentations are laid one after another: presentation i starts at
  i * (time_ms[-1] / 1000 + gap_s) seconds, so consecutive ones are separated by ``gap_s`` of nothing.
* ``processing/virtual_cortex``: one TimeSeries ``h_block{k}`` [time x units] per ODE block (unit "1",
  float32 as recorded, gzip), sampled at presentation start + time_ms / 1000 s for every presentation (all
  blocks share the timestamps of h_block1); a TimeSeries ``model_time`` (unit "1": the model time t of each
  sample); and a DynamicTable ``units`` with one row per unit: unit_id, block, channel, y, x (map indices),
  y_deg, x_deg (deg), column (the unit's column in its block's TimeSeries) and, when known, sigma (px).
* ``notes``: a JSON object {"neurodcn_record": {"attrs": ..., "variables": ...}} with the dataset's global
  attrs and the attrs and dtypes of its variables, so :func:`read_nwb` rebuilds them.

Units: every (block, channel, y, x) of a record can be a unit, which is many; the default keeps every channel
at the centre map position of each block (``positions="centre"``, as the physiology experiments do);
``positions="all"`` keeps the whole map; ``channels`` selects channels (see
:func:`neurodcn.io.assembly.select_units`).

nwbinspector (0.7) finds nothing above BEST_PRACTICE_SUGGESTION in these files (it suggests a schema name
for the processing module and, unless given through ``nwbfile_fields``, an experimenter and an institution),
except that its check_data_orientation heuristic reports CRITICAL when a block has more units than samples
(n_stimuli x n_times < units, e.g. a few stimuli, or ``positions="all"``): the data are still [time x units]
as NWB requires.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from neurodcn.io.assembly import record_blocks, select_units, unit_responses
from neurodcn.io.atomic import atomic_path, check_destination
from neurodcn.io.extras import require
from neurodcn.io.files import decode_attrs, encode_attrs
from neurodcn.schema import json_default
from neurodcn.validate import check_bool, check_path, check_real

__all__ = ["to_nwb", "read_nwb", "DEFAULT_SUBJECT", "MODULE_NAME"]

MODULE_NAME = "virtual_cortex"
DEFAULT_SUBJECT = {
    "species": "http://purl.obolibrary.org/obo/NCBITaxon_32630",  # NCBI Taxonomy: "synthetic construct"
    "sex": "O",
    "age": "P0D/",
}
_NOTES_KEY = "neurodcn_record"


def _subject(subject, ds):
    from pynwb.file import Subject

    if isinstance(subject, Subject):
        return subject
    if subject is not None and not isinstance(subject, dict):
        raise TypeError(
            f"subject must be None, a dict of Subject fields or a pynwb Subject, got {type(subject)}"
        )
    model = str(ds.attrs.get("model", "unknown model"))
    fields = {
        **DEFAULT_SUBJECT,
        "subject_id": model,
        "description": f"in silico: virtual cortex of the neurodcn model {model!r}",
    }
    return Subject(**{**fields, **(subject or {})})


def _sigma_column(ds, units, sigma):
    """Per-unit sigma (px) from ``sigma`` (dict block -> scalar or per-channel array) or ds sigma_block{k}."""
    if sigma is not None and not isinstance(sigma, dict):
        raise TypeError(
            f"sigma must be None or a dict block number -> sigma (px), got {type(sigma).__name__}"
        )
    values = np.full(len(units), np.nan)
    for k in units["block"].unique():
        rows = (units["block"] == k).to_numpy()
        given = (sigma or {}).get(k, ds.get(f"sigma_block{k}"))
        if given is None:
            continue
        arr = np.asarray(given, dtype=np.float64)
        n_ch = ds.sizes[f"channel_block{k}"]
        if arr.ndim == 0:
            values[rows] = arr
        elif arr.shape == (n_ch,):
            values[rows] = arr[units.loc[rows, "_c"].to_numpy()]
        else:
            raise ValueError(f"sigma for block {k} must be a scalar or have shape ({n_ch},), got {arr.shape}")
    return None if np.all(np.isnan(values)) else values


def _timestamps(time_ms: np.ndarray, n_stimuli: int, gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(presentation onsets [n_stimuli] s, sample times [n_stimuli * n_times] s)."""
    if time_ms[0] < 0 or not np.all(np.diff(time_ms) > 0):
        raise ValueError(f"time_ms must be >= 0 and strictly increasing, got {time_ms.tolist()}")
    starts = np.arange(n_stimuli) * (time_ms[-1] / 1000.0 + gap_s)
    return starts, (starts[:, None] + time_ms[None, :] / 1000.0).ravel()


def _session_start(ds) -> datetime:
    created = ds.attrs.get("created")
    try:
        start = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        start = None
    start = start or datetime.now(timezone.utc)
    return start if start.tzinfo else start.replace(tzinfo=timezone.utc)


def _notes(ds) -> str:
    enc = encode_attrs(ds)
    variables = {n: {"attrs": dict(v.attrs), "dtype": str(v.dtype)} for n, v in enc.variables.items()}
    return json.dumps({_NOTES_KEY: {"attrs": dict(enc.attrs), "variables": variables}}, default=json_default)


_RESERVED_FIELDS = (
    "session_description",
    "session_start_time",
    "notes",
    "subject",
    "intervals",
    "processing",
)


def _file_fields(ds, session_description, nwbfile_fields) -> dict:
    if nwbfile_fields is not None and not isinstance(nwbfile_fields, dict):
        raise TypeError(f"nwbfile_fields must be None or a dict, got {type(nwbfile_fields).__name__}")
    reserved = sorted(set(nwbfile_fields or {}) & set(_RESERVED_FIELDS))
    if reserved:
        raise ValueError(
            f"nwbfile_fields must not set {reserved}: to_nwb sets them (allowed: any other NWBFile field)"
        )
    if session_description is not None and (
        not isinstance(session_description, str) or not session_description
    ):
        raise ValueError(
            f"session_description must be a non-empty string or None, got {session_description!r}"
        )
    start = _session_start(ds)
    return {
        "session_description": session_description
        or f"virtual-cortex recording of model {ds.attrs.get('model')!r}",
        "identifier": str(uuid.uuid4()),
        "session_start_time": start,
        "timestamps_reference_time": start,
        "experiment_description": str(ds.attrs.get("title", "neurodcn record")),
        "keywords": ["neurodcn", "in silico"],
        "notes": _notes(ds),
        **(nwbfile_fields or {}),
    }


def _build(ds, subject, session_description, positions, channels, sigma, gap_s, nwbfile_fields):
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBFile, TimeSeries
    from pynwb.epoch import TimeIntervals

    blocks = record_blocks(ds)
    units = select_units(ds, positions, channels)
    time_ms = np.asarray(ds["time_ms"].values, dtype=np.float64)
    starts, stamps = _timestamps(time_ms, ds.sizes["stimulus"], gap_s)
    nwb = NWBFile(subject=_subject(subject, ds), **_file_fields(ds, session_description, nwbfile_fields))
    presentations = TimeIntervals(
        name="presentations",
        description=(
            f"one row per stimulus presentation, onset at start_time; {gap_s} s gaps between presentations"
        ),
    )
    stim = {n: c for n, c in ds.coords.items() if c.dims == ("stimulus",)}
    for name, coord in stim.items():
        desc = f"{coord.attrs.get('long_name', name)} ({coord.attrs.get('units', 'no units')})"
        presentations.add_column(name=str(name), description=desc)
    for i, t0 in enumerate(starts):
        row = {str(n): c.values[i].item() for n, c in stim.items()}
        presentations.add_row(start_time=float(t0), stop_time=float(t0 + time_ms[-1] / 1000.0), **row)
    nwb.add_time_intervals(presentations)

    module = nwb.create_processing_module(
        name=MODULE_NAME,
        description=(
            "responses of the units of a neurodcn virtual cortex (hidden state h(t) of each ODE block)"
        ),
    )
    first = None
    for k in blocks:
        data = unit_responses(ds, units, k).reshape(len(stamps), -1)
        ts = TimeSeries(
            name=f"h_block{k}",
            data=H5DataIO(data, compression="gzip"),
            unit="1",
            timestamps=first if first is not None else stamps,
            description=(
                f"hidden state h(t) of ODE block {k}, [time x units]; column j is the row of table "
                f"'units' with block == {k} and column == j"
            ),
        )
        if first is None:
            first = ts
        module.add(ts)
    model_time = np.tile(np.asarray(ds["time"].values, dtype=np.float64), ds.sizes["stimulus"])
    module.add(
        TimeSeries(
            name="model_time",
            data=model_time,
            unit="1",
            timestamps=first,
            description="model (ODE) time t of each sample; time_ms = onset_ms + ms_per_unit_time * t",
        )
    )
    columns = {
        "unit_id": ("unit identifier block{k}/ch{c}/y{y}/x{x}", units["unit_id"].tolist()),
        "block": ("ODE block number (1-based)", units["block"].to_numpy()),
        "channel": ("channel index in the block", units["channel"].to_numpy()),
        "y": ("feature-map row index", units["y"].to_numpy()),
        "x": ("feature-map column index", units["x"].to_numpy()),
        "y_deg": (
            "map pixel centre elevation from the image centre, up positive (deg)",
            units["y_deg"].to_numpy(),
        ),
        "x_deg": (
            "map pixel centre azimuth from the image centre, right positive (deg)",
            units["x_deg"].to_numpy(),
        ),
        "column": ("column of this unit in TimeSeries h_block{block}", units["column"].to_numpy()),
    }
    sig = _sigma_column(ds, units, sigma)
    if sig is not None:
        columns["sigma"] = ("receptive-field scale sigma of the unit's channel (px; NaN: unknown)", sig)
    module.add(
        DynamicTable(
            name="units",
            description="units recorded from the virtual cortex",
            id=np.arange(len(units)),
            columns=[VectorData(name=n, description=d, data=v) for n, (d, v) in columns.items()],
        )
    )
    return nwb


def to_nwb(
    ds: xr.Dataset,
    path,
    subject=None,
    session_description: str | None = None,
    positions: str = "centre",
    channels=None,
    sigma=None,
    gap_s: float = 0.5,
    nwbfile_fields: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a "record" dataset to an NWB file at ``path`` (.nwb), atomically; return the path.

    subject: None (:data:`DEFAULT_SUBJECT`, subject_id = model name), a dict overriding those fields, or a
    pynwb Subject. positions, channels: unit selection (default: all channels at the centre map position).
    sigma: optional dict block number -> sigma in px (scalar or one per channel) for the units table (a
    ``sigma_block{k}`` variable of ``ds`` on channel_block{k} is used otherwise). gap_s: seconds between
    presentations (> 0). nwbfile_fields: further NWBFile fields (identifier, experimenter, institution, lab,
    related_publications, ...); by default identifier is a random UUID, session_start_time the dataset's
    ``created`` time. See the module docstring for the file layout.
    """
    require("pynwb", "to_nwb")
    from pynwb import NWBHDF5IO

    p = check_path("path", path, (".nwb",))
    gap_s = check_real("gap_s", gap_s, lo=0.0, lo_open=True)
    check_destination(p, check_bool("overwrite", overwrite))
    nwb = _build(ds, subject, session_description, positions, channels, sigma, float(gap_s), nwbfile_fields)
    with atomic_path(p) as tmp, NWBHDF5IO(tmp, mode="w") as io:
        io.write(nwb)
    return p


def _column(table, name) -> np.ndarray:
    values = np.asarray(table[name].data[:])
    if values.dtype == object:
        values = np.array([v.decode() if isinstance(v, bytes) else v for v in values])
    return values


def read_nwb(path) -> xr.Dataset:
    """Rebuild the "record" dataset from a file written by :func:`to_nwb`.

    Holds the exported units only: h_block{k} over the channels and map positions selected at export (their
    original indices as coords), the stimulus coords, time (model time) and time_ms (from the timestamps,
    exact to float rounding), y_deg/x_deg, and the attrs stored in ``notes``.
    """
    require("pynwb", "read_nwb")
    from pynwb import NWBHDF5IO

    p = check_path("path", path, (".nwb",))
    if not p.is_file():
        raise FileNotFoundError(f"path {str(p)!r} is not a file")
    try:
        io = NWBHDF5IO(p, mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"path {str(p)!r} is not a readable NWB file (foreign, truncated or corrupt): {exc}") from exc
    with io:
        try:
            nwb = io.read()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"path {str(p)!r} is not a readable NWB file: {type(exc).__name__}: {exc}") from exc
        try:
            meta = json.loads(nwb.notes)[_NOTES_KEY]
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"{str(p)!r} was not written by neurodcn.io.nwb.to_nwb (no record notes)"
            ) from exc
        module = nwb.processing[MODULE_NAME]
        pres = nwb.intervals["presentations"]
        n_stim = len(pres)
        starts = _column(pres, "start_time")
        stamps = np.asarray(module["model_time"].timestamps[:])
        n_t = stamps.size // n_stim
        coords = {
            n: ("stimulus", _column(pres, n)) for n in pres.colnames if n not in ("start_time", "stop_time")
        }
        coords["time"] = ("time", np.asarray(module["model_time"].data[:n_t]))
        coords["time_ms"] = ("time", (stamps[:n_t] - starts[0]) * 1000.0)
        table = module["units"]
        units = {n: _column(table, n) for n in ("block", "channel", "y", "x", "y_deg", "x_deg", "column")}
        data_vars = {}
        for k in sorted(set(units["block"].tolist())):
            rows = units["block"] == k
            sel = {a: np.unique(units[a][rows]) for a in ("channel", "y", "x")}
            shape = tuple(v.size for v in sel.values())
            pos = [np.searchsorted(sel[a], units[a][rows]) for a in ("channel", "y", "x")]
            h = np.asarray(module[f"h_block{k}"].data[:]).reshape(n_stim, n_t, -1)
            cube = np.full((n_stim, n_t, *shape), np.nan, dtype=h.dtype)
            cube[:, :, pos[0], pos[1], pos[2]] = h[:, :, units["column"][rows]]
            dims = ("stimulus", "time", f"channel_block{k}", f"y_block{k}", f"x_block{k}")
            data_vars[f"h_block{k}"] = (dims, cube)
            for a in ("channel", "y", "x"):
                coords[f"{a}_block{k}"] = (f"{a}_block{k}", sel[a])
            for a in ("y", "x"):
                at, deg = units[a][rows], units[f"{a}_deg"][rows]
                coords[f"{a}_deg_block{k}"] = (f"{a}_block{k}", np.array([deg[at == v][0] for v in sel[a]]))
    ds = xr.Dataset(data_vars, coords)
    for name, var in ds.variables.items():
        info = meta["variables"].get(name)
        if info is not None:
            var.attrs = info["attrs"]
    ds.attrs = meta["attrs"]
    return decode_attrs(ds)
