"""NWB export of a recording (pynwb), and reading it back.

Layout of the file written by :func:`to_nwb`:

* ``general/subject``: the model as the subject (see :data:`DEFAULT_SUBJECT`): species is the NCBI taxon
  "synthetic construct" (NCBITaxon_32630, the form nwbinspector accepts), sex "O" (other), age "P0D/" (an ISO
  8601 range "at least 0 days": a model has no age), subject_id the model name.
* ``intervals/presentations`` (TimeIntervals): one row per stimulus, start_time = stimulus onset,
  stop_time = onset + the last recorded time_ms; columns stimulus_id and every other stimulus coordinate
  (contrast, ...). Presentations are laid one after another: presentation i starts at
  i * (time_ms[-1] / 1000 + gap_s) seconds, so consecutive ones are separated by ``gap_s`` of nothing.
* ``processing/virtual_cortex``, written with NWB's optical-physiology types (the ones whose units are rows of
  a table that pynwb reads and pynapple turns into TsdFrame metadata):

  - ``units`` (ImageSegmentation) with one PlaneSegmentation ``block{k}`` per ODE block (on an ImagingPlane
    ``block{k}`` standing for the block's feature map; device "virtual_cortex"; no light, so the wavelengths
    are NaN): one row per unit with unit_id, block, channel, y, x (map indices), y_deg, x_deg (degree),
    sigma (px, when known) and pixel_mask [(x, y, 1)], the unit's map pixel;
  - per block a RoiResponseSeries ``h_block{k}`` [time x units] (unit "1", float32 as recorded, gzip)
    whose ``rois`` are its rows of ``units/block{k}``, sampled at presentation start + time_ms / 1000 s
    (all series share the timestamps of the first). A block with more units than samples is split into
    ``h_block{k}_part1``, ``_part2``, ... of at most as many units as samples, so time stays the longest
    axis of every series (NWB's layout; nwbinspector's check_data_orientation);
  - a TimeSeries ``model_time`` (unit "1": the model time t of each sample).
* ``notes``: a JSON object {"neurodcn_record": {group path: {"attrs": ..., "variables": ...}}} with the attrs
  and dtypes of the recording's groups and variables, so :func:`read_nwb` rebuilds them.

Units: every (block, channel, y, x) of a record can be a unit, which is many; the default keeps every channel
at the centre map position of each block (``positions="centre"``, as the physiology experiments do);
``positions="all"`` keeps the whole map; ``channels`` selects channels (see
:func:`neurodcn.io.assembly.select_units`).

nwbinspector (0.7) finds nothing above BEST_PRACTICE_SUGGESTION in these files (it suggests a schema name
for the processing module and, unless given through ``nwbfile_fields``, an experimenter and an institution).
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from neurodcn.io.assembly import record_blocks, select_units, unit_responses
from neurodcn.io.atomic import atomic_path, check_destination
from neurodcn.io.extras import require
from neurodcn.io.files import decode_attrs, encode_attrs
from neurodcn.io.limits import check_hdf5
from neurodcn.schema import BLOCK_DIMS, STIMULUS, TIME, block_name, json_default, nodes
from neurodcn.validate import check_bool, check_increasing, check_path, check_real, check_str, check_type

__all__ = ["to_nwb", "read_nwb", "ForeignNWBError", "DEFAULT_SUBJECT", "MODULE_NAME"]

MODULE_NAME = "virtual_cortex"
DEFAULT_SUBJECT = {
    "species": "http://purl.obolibrary.org/obo/NCBITaxon_32630",  # NCBI Taxonomy: "synthetic construct"
    "sex": "O",
    "age": "P0D/",
}
_NOTES_KEY = "neurodcn_record"


class ForeignNWBError(ValueError):
    """A readable NWB file that :func:`to_nwb` did not write (e.g. a lab's recording: see load_lab_nwb)."""


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


def _sigma_column(rec, units, sigma):
    """Per-unit sigma (px) from ``sigma`` (dict block -> scalar or per-channel array) or the block groups'
    ``sigma`` coordinate (recorded by VirtualCortex.record); None when no block has one."""
    if sigma is not None and not isinstance(sigma, dict):
        raise TypeError(
            f"sigma must be None or a dict block number -> sigma (px), got {type(sigma).__name__}"
        )
    values = np.full(len(units), np.nan)
    for k in units["block"].unique():
        rows = (units["block"] == k).to_numpy()
        group = rec[block_name(k)]
        given = (sigma or {}).get(k, group.coords.get("sigma"))
        if given is None:
            continue
        arr = np.asarray(given, dtype=np.float64)
        n_ch = group.sizes["channel"]
        if arr.ndim == 0:
            values[rows] = arr
        elif arr.shape == (n_ch,):
            values[rows] = arr[units.loc[rows, "_c"].to_numpy()]
        else:
            raise ValueError(f"sigma for block {k} must be a scalar or have shape ({n_ch},), got {arr.shape}")
    return None if np.all(np.isnan(values)) else values


def _timestamps(time_ms: np.ndarray, n_stimuli: int, gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(presentation onsets [n_stimuli] s, sample times [n_stimuli * n_times] s)."""
    check_increasing("time_ms", time_ms, 0)
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


def _notes(rec) -> str:
    groups = nodes(encode_attrs(rec))
    info = {
        path: {
            "attrs": dict(node.attrs),
            "variables": {n: {"attrs": dict(v.attrs), "dtype": str(v.dtype)} for n, v in node.variables.items()},
        }
        for path, node in groups.items()
    }
    return json.dumps({_NOTES_KEY: info}, default=json_default)


_RESERVED_FIELDS = (
    "session_description",
    "session_start_time",
    "notes",
    "subject",
    "intervals",
    "processing",
)


def _file_fields(ds, session_description, nwbfile_fields) -> dict:
    if nwbfile_fields is not None:
        check_type("nwbfile_fields", nwbfile_fields, dict, "None or a dict")
    reserved = sorted(set(nwbfile_fields or {}) & set(_RESERVED_FIELDS))
    if reserved:
        raise ValueError(
            f"nwbfile_fields must not set {reserved}: to_nwb sets them (allowed: any other NWBFile field)"
        )
    if session_description is not None:
        check_str("session_description", session_description)
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


def _parts(n_units: int, n_samples: int) -> list[tuple[int, int]]:
    """Column ranges [a, b) of one block's series: at most n_samples units each, so time stays the longest
    axis of every series (NWB's layout; nwbinspector's check_data_orientation)."""
    return [(a, min(a + n_samples, n_units)) for a in range(0, n_units, n_samples)]


def _plane(nwb, device, rec, k: int):
    from pynwb.ophys import OpticalChannel

    group = rec[block_name(k)]
    c, h, w = (group.sizes[a] for a in BLOCK_DIMS)
    channel = OpticalChannel(
        name="hidden_state", description="in silico: the model's hidden state, no light", emission_lambda=math.nan
    )
    return nwb.create_imaging_plane(
        name=block_name(k),
        optical_channel=channel,
        description=(
            f"feature map of ODE block {k} of the model: {c} channels on {h} x {w} map pixels "
            f"({group.attrs.get('map_stride_px', 'unknown')} input px per map px); a unit is one (channel, y, x)"
        ),
        device=device,
        excitation_lambda=math.nan,
        indicator="none (in silico: the hidden state h(t) of an ODE block)",
        location=f"virtual cortex, block {k}",
    )


_UNIT_COLUMNS = {
    "unit_id": "unit identifier block{k}/ch{c}/y{y}/x{x}",
    "block": "ODE block number (1-based)",
    "channel": "channel index in the block",
    "y": "feature-map row index",
    "x": "feature-map column index",
    "y_deg": "map pixel centre elevation from the image centre, up positive (degree)",
    "x_deg": "map pixel centre azimuth from the image centre, right positive (degree)",
    "sigma": "receptive-field scale sigma of the block's last SRF layer (px; NaN: unknown)",
}


def _build(rec, subject, session_description, positions, channels, sigma, gap_s, nwbfile_fields):
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBFile, TimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.ophys import ImageSegmentation, RoiResponseSeries

    blocks = record_blocks(rec)
    units = select_units(rec, positions, channels)
    sig = _sigma_column(rec, units, sigma)
    if sig is not None:
        units = units.assign(sigma=sig)
    time_ms = np.asarray(rec["time_ms"].values, dtype=np.float64)
    n_stim = rec.sizes[STIMULUS]
    starts, stamps = _timestamps(time_ms, n_stim, gap_s)
    nwb = NWBFile(subject=_subject(subject, rec), **_file_fields(rec, session_description, nwbfile_fields))
    presentations = TimeIntervals(
        name="presentations",
        description=(
            f"one row per stimulus presentation, onset at start_time; {gap_s} s gaps between presentations"
        ),
    )
    stim = {n: c for n, c in rec.coords.items() if c.dims == (STIMULUS,) and n != STIMULUS}  # index = stimulus_id
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
    device = nwb.create_device(name="virtual_cortex", description="a trained neurodcn model, recorded in silico")
    segmentation = ImageSegmentation(name="units")
    module.add(segmentation)
    first = None
    for k in blocks:
        rows = units[units["block"] == k]
        table = segmentation.create_plane_segmentation(
            name=block_name(k),
            description=f"units of block {k}: one row per (channel, y, x); pixel_mask is the unit's map pixel",
            imaging_plane=_plane(nwb, device, rec, k),
        )
        names = [n for n in _UNIT_COLUMNS if n in rows.columns]
        for name in names:
            table.add_column(name=name, description=_UNIT_COLUMNS[name])
        for row in rows[[*names, "_x", "_y"]].to_dict("records"):
            table.add_roi(pixel_mask=[(row.pop("_x"), row.pop("_y"), 1.0)], **row)
        data = unit_responses(rec, units, k).reshape(len(stamps), -1)
        parts = _parts(data.shape[1], len(stamps))
        for j, (a, b) in enumerate(parts, start=1):
            name = f"h_block{k}" if len(parts) == 1 else f"h_block{k}_part{j}"
            ts = RoiResponseSeries(
                name=name,
                data=H5DataIO(np.ascontiguousarray(data[:, a:b]), compression="gzip"),
                rois=table.create_roi_table_region(
                    region=list(range(a, b)), description=f"the units of block {k}, rows {a} to {b - 1}"
                ),
                unit="1",
                timestamps=first if first is not None else stamps,
                description=(
                    f"hidden state h(t) of ODE block {k}, [time x units]; column j is row {a} + j of "
                    f"units/block{k}"
                ),
            )
            first = ts if first is None else first
            module.add(ts)
    model_time = np.tile(np.asarray(rec["time"].values, dtype=np.float64), n_stim)
    module.add(
        TimeSeries(
            name="model_time",
            data=model_time,
            unit="1",
            timestamps=first,
            description="model (ODE) time t of each sample; time_ms = onset_ms + ms_per_unit_time * t",
        )
    )
    return nwb


def to_nwb(
    rec: xr.DataTree,
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
    """Write a recording (``VirtualCortex.record``) to an NWB file, atomically. Needs ``neurodcn[nwb]``.

    The model is the subject, each stimulus a presentation (``intervals/presentations``), and each block's
    units rows of a table with their h(t) as a RoiResponseSeries; the module docstring gives the layout.
    nwbinspector and DANDI validate the files, and pynapple reads them.

    Args:
        rec: a recording (DataTree) from ``VirtualCortex.record``.
        path: the ``.nwb`` file to write.
        subject: None (``DEFAULT_SUBJECT``, subject_id = model name), a dict overriding those fields, or a
            pynwb Subject.
        session_description: the NWB session description (default: "virtual-cortex recording of model ...").
        positions: which map positions become units: "centre" (default) or "all".
        channels: which channels become units (default all).
        sigma: optional dict block number -> sigma in px (scalar or one per channel) for the units table (a
            ``sigma`` coordinate of the block's group is used otherwise).
        gap_s: seconds between presentations (> 0).
        nwbfile_fields: further NWBFile fields (identifier, experimenter, institution, lab,
            related_publications, ...); by default identifier is a random UUID, session_start_time the
            dataset's ``created`` time.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Examples:
        >>> import tempfile, pathlib, neurodcn as nd
        >>> from neurodcn.io import read_nwb
        >>> model = nd.build_model("dcn-ode", width=4, seed=0, solver={"method": "rk4", "step_size": 0.5})
        >>> vc = nd.VirtualCortex(model, progress=False)
        >>> rec = vc.record(nd.load_stimuli("cifar10-demo", num_images=2).images, times=[0, 1, 2])
        >>> path = nd.to_nwb(rec, pathlib.Path(tempfile.mkdtemp()) / "h.nwb")
        >>> dict(read_nwb(path)["block1"].h.sizes)  # 4 channels at the centre position
        {'stimulus': 2, 'time': 3, 'channel': 4, 'y': 1, 'x': 1}
    """
    require("pynwb", "to_nwb")
    from pynwb import NWBHDF5IO

    p = check_path("path", path, (".nwb",))
    gap_s = check_real("gap_s", gap_s, lo=0.0, lo_open=True)
    check_destination(p, check_bool("overwrite", overwrite))
    nwb = _build(rec, subject, session_description, positions, channels, sigma, float(gap_s), nwbfile_fields)
    with atomic_path(p) as tmp, NWBHDF5IO(tmp, mode="w") as io:
        io.write(nwb)
    return p


def _column(table, name) -> np.ndarray:
    values = np.asarray(table[name].data[:])
    if values.dtype == object:
        values = np.array([v.decode() if isinstance(v, bytes) else v for v in values])
    return values


def read_nwb(path) -> xr.DataTree:
    """Rebuild the recording (a DataTree, see neurodcn.schema) from a file written by :func:`to_nwb`.

    Holds the exported units only: per block, h over the channels and map positions selected at export (their
    original indices as coords), the stimulus coords, time (model time) and time_ms (from the timestamps,
    exact to float rounding), y_deg/x_deg, and the attrs stored in ``notes``.
    """
    require("pynwb", "read_nwb")
    from pynwb import NWBHDF5IO

    p = check_path("path", path, (".nwb",))
    if not p.is_file():
        raise FileNotFoundError(f"path {str(p)!r} is not a file")
    check_hdf5(p)  # nothing outside the file is read: external links and storage are refused
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
            raise ForeignNWBError(
                f"{str(p)!r} was not written by neurodcn.io.nwb.to_nwb (no record notes); read a lab's "
                f"recording (Units with spike times and a trials table) with neurodcn.load_lab_nwb"
            ) from exc
        module = nwb.processing[MODULE_NAME]
        pres = nwb.intervals["presentations"]
        n_stim = len(pres)
        starts = _column(pres, "start_time")
        stamps = np.asarray(module["model_time"].timestamps[:])
        n_t = stamps.size // n_stim
        stim = {n: _column(pres, n) for n in pres.colnames if n not in ("start_time", "stop_time")}
        root = xr.Dataset(
            coords={
                STIMULUS: (STIMULUS, stim["stimulus_id"]),
                **{n: (STIMULUS, v) for n, v in stim.items()},
                "time": (TIME, np.asarray(module["model_time"].data[:n_t])),
                "time_ms": (TIME, (stamps[:n_t] - starts[0]) * 1000.0),
            }
        )
        groups = {"/": root}
        for name, table in module["units"].plane_segmentations.items():
            units = {n: _column(table, n) for n in table.colnames if n not in ("pixel_mask", "unit_id")}
            parts = [s for s in module.data_interfaces if s.startswith(f"h_{name}_part")]
            series = sorted(parts, key=lambda s: int(s.rsplit("part", 1)[1])) or [f"h_{name}"]
            h = np.concatenate([np.asarray(module[s].data[:]) for s in series], axis=1).reshape(n_stim, n_t, -1)
            sel = {a: np.unique(units[a]) for a in BLOCK_DIMS}
            pos = [np.searchsorted(sel[a], units[a]) for a in BLOCK_DIMS]
            cube = np.full((n_stim, n_t, *(v.size for v in sel.values())), np.nan, dtype=h.dtype)
            cube[:, :, pos[0], pos[1], pos[2]] = h
            coords = {a: (a, sel[a]) for a in BLOCK_DIMS}
            for a in ("y", "x"):
                coords[f"{a}_deg"] = (a, np.array([units[f"{a}_deg"][units[a] == v][0] for v in sel[a]]))
            if "sigma" in units:  # one value per block, or per channel
                per_channel = np.array([units["sigma"][units["channel"] == c][0] for c in sel["channel"]])
                one = np.unique(per_channel).size == 1
                coords["sigma"] = ((), per_channel[0]) if one else ("channel", per_channel)
            groups[f"/{name}"] = xr.Dataset({"h": ((STIMULUS, TIME, *BLOCK_DIMS), cube)}, coords=coords)
    for path, info in meta.items():
        node = groups.get(path)
        if node is None:
            continue
        for name, var in node.variables.items():
            if name in info["variables"]:
                var.attrs = info["variables"][name]["attrs"]
        node.attrs = info["attrs"]
    return decode_attrs(xr.DataTree.from_dict(groups))
