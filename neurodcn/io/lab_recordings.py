"""A lab's spike recordings as a Brain-Score-style assembly: spike rates per trial, unit and time bin.

Two sources, one result:

* :func:`load_lab_nwb`: any NWB file with a Units table (spike times, s) and a trials or epochs table (or any
  other TimeIntervals table) with a column naming the stimulus of each row;
* :func:`from_pynapple`: a pynapple TsGroup (one Ts of spike times per unit, its metadata kept) and an
  IntervalSet of trials with a stimulus column in its metadata.

Both give a DataArray presentation x neuroid x time_bin, as :func:`neurodcn.io.assembly.to_assembly` does for
a model, so ``vc.rsa`` and ``vc.predictivity`` take it as they take a model's assembly: presentation = one row
of the trials table (repeats of a stimulus are separate presentations with the same ``stimulus_id``), with
every other scalar column of the table as a coordinate (start_time, stop_time in s); neuroid = one unit,
``neuroid_id`` its id, every scalar column of the units table (or TsGroup metadata) as a coordinate;
time_bin = equal bins of ``bin_ms`` tiling ``window_ms`` (ms from each trial's start_time), coords
``time_bin_start`` / ``time_bin_end`` (int ms). A bin counts the spikes with start <= t < end; values are
rates, count / bin width, in spikes/s (units "s-1").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurodcn.io.extras import require
from neurodcn.validate import check_int, check_path, check_str, check_type, show

__all__ = ["STIMULUS_COLUMNS", "load_lab_nwb", "from_pynapple", "spike_rates"]

STIMULUS_COLUMNS = ("stimulus_id", "stimulus", "stimulus_name", "image_id", "image")
"""Columns taken as the stimulus, in this order, when ``stimulus_column`` is not given."""

def _decoded(values) -> np.ndarray:
    """``values`` as an array; an object column (bytes or numpy strings, as h5py and pynapple give them) is
    rebuilt by numpy, so strings become a str array."""
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.array([v.decode() if isinstance(v, bytes) else v for v in arr])
    return arr


def _window(window_ms, trials: pd.DataFrame, source: str) -> tuple[int, int]:
    """(start, end) ms after each trial's start; default 0 to the shortest trial's end (whole ms)."""
    if window_ms is None:
        if "stop_time" not in trials:
            raise ValueError(f"{source} has no stop_time, so window_ms must be given as (start_ms, end_ms)")
        shortest_ms = 1000 * (trials["stop_time"] - trials["start_time"]).min()
        end = int(np.floor(np.round(shortest_ms, 6)))  # to the ns first: 1000 * (1.2 - 1.0) is 199.99...
        if end < 1:
            raise ValueError(f"{source} has a trial shorter than 1 ms; give window_ms as (start_ms, end_ms)")
        return 0, end
    if not isinstance(window_ms, tuple | list) or len(window_ms) != 2:
        raise ValueError(f"window_ms must be None or a pair (start_ms, end_ms) of integers, got {show(window_ms)}")
    start, end = (check_int(f"window_ms[{i}]", v) for i, v in enumerate(window_ms))
    if end <= start:
        raise ValueError(f"window_ms must have end_ms > start_ms, got {show(window_ms)}")
    return start, end


def _edges(window: tuple[int, int], bin_ms) -> np.ndarray:
    """Bin edges [n_bins + 1] in int ms: ``bin_ms`` wide, tiling the window (None: one bin)."""
    start, end = window
    width = end - start if bin_ms is None else check_int("bin_ms", bin_ms, 1)
    if (end - start) % width:
        raise ValueError(
            f"bin_ms must divide the window {window} ms ({end - start} ms) into whole bins, got {bin_ms}"
        )
    return np.arange(start, end + 1, width, dtype=np.int64)


def _stimulus_column(trials: pd.DataFrame, stimulus_column, source: str) -> str:
    if stimulus_column is not None:
        check_str("stimulus_column", stimulus_column)
        if stimulus_column not in trials:
            raise ValueError(
                f"stimulus_column must be a column of {source}, got {stimulus_column!r}; "
                f"its columns are {list(trials.columns)}"
            )
        return stimulus_column
    found = [c for c in STIMULUS_COLUMNS if c in trials]
    if not found:
        raise ValueError(
            f"{source} has no column naming the stimuli (looked for {list(STIMULUS_COLUMNS)}); its columns are "
            f"{list(trials.columns)}: name the one to use with stimulus_column="
        )
    return found[0]


def spike_rates(spike_times, units: pd.DataFrame, trials: pd.DataFrame, stimulus_column=None, window_ms=None,
                bin_ms=None, source: str = "the trials table") -> xr.DataArray:
    """The assembly (presentation x neuroid x time_bin, spikes/s) of spike trains over trials.

    spike_times: one 1-D array of spike times (s) per unit; units: one row per unit, its index the unit ids
    (neuroid_id), its columns unit metadata; trials: one row per presentation with start_time (s), stop_time
    (s, for the default window) and a stimulus column; stimulus_column: that column (default: the first of
    :data:`STIMULUS_COLUMNS` present); window_ms: (start, end) int ms from each start_time (default 0 to the
    shortest trial's end); bin_ms: bin width, int ms dividing the window (default: the window as one bin);
    source: how errors name the trials table.
    """
    check_type("units", units, pd.DataFrame, "a pandas DataFrame with one row per unit")
    check_type("trials", trials, pd.DataFrame, "a pandas DataFrame with one row per trial")
    if len(spike_times) != len(units) or len(units) == 0:
        raise ValueError(f"spike_times must hold one array per unit ({len(units)} units), got {len(spike_times)}")
    if len(trials) == 0 or "start_time" not in trials:
        raise ValueError(f"{source} must hold at least one trial with a start_time, got columns "
                         f"{list(trials.columns)} and {len(trials)} rows")
    stim = _stimulus_column(trials, stimulus_column, source)
    edges = _edges(_window(window_ms, trials, source), bin_ms)
    at = trials["start_time"].to_numpy(np.float64)[:, None] + edges[None, :] / 1000.0  # [trial, edge] s
    counts = np.stack(
        [np.diff(np.searchsorted(np.sort(np.asarray(s, dtype=np.float64)), at, side="left"), axis=1)
         for s in spike_times],
        axis=1,
    )  # [trial, unit, bin]
    width_s = np.diff(edges) / 1000.0
    trial_coords = {
        ("stimulus_id" if name == stim else str(name)): ("presentation", _decoded(values),
                                                         {"units": "s"} if name in ("start_time", "stop_time") else {})
        for name, values in trials.items()
        if name != "stimulus_id" or name == stim
    }
    unit_coords = {str(name): ("neuroid", _decoded(values)) for name, values in units.items() if name != "neuroid_id"}
    return xr.DataArray(
        counts / width_s,
        dims=("presentation", "neuroid", "time_bin"),
        coords={
            **trial_coords,
            "neuroid_id": ("neuroid", units.index.to_numpy()),
            **unit_coords,
            "time_bin_start": ("time_bin", edges[:-1], {"long_name": "bin start after trial start", "units": "ms"}),
            "time_bin_end": ("time_bin", edges[1:], {"long_name": "bin end after trial start", "units": "ms"}),
        },
        name="rate",
        attrs={"long_name": "spike rate (spikes/s): spike count in the bin / bin width", "units": "s-1"},
    )




def _scalar_columns(table) -> pd.DataFrame:
    """The columns of an hdmf DynamicTable with one scalar per row (ragged columns, table references and
    multi-dimensional columns are left out), indexed by the table's ids."""
    from hdmf.common import DynamicTableRegion, VectorIndex

    columns = {}
    for name in table.colnames:
        col = table[name]
        if isinstance(col, VectorIndex | DynamicTableRegion):
            continue
        values = _decoded(col.data[:])
        if values.ndim == 1 and values.dtype.names is None:
            columns[name] = values
    return pd.DataFrame(columns, index=pd.Index(np.asarray(table.id[:]), name="id"))


def _intervals_table(nwb, intervals, source: str):
    tables = list(nwb.intervals)
    if intervals is None:
        found = [n for n in ("trials", "epochs") if n in tables]
        if not found:
            raise ValueError(f"{source} has no trials or epochs table (its intervals tables: {tables}); "
                             f"name one with intervals=")
        intervals = found[0]
    check_str("intervals", intervals)
    if intervals not in tables:
        raise ValueError(f"intervals must name an intervals table of {source}, one of {tables}, got {intervals!r}")
    return intervals, nwb.intervals[intervals]


def load_lab_nwb(path, window_ms=None, bin_ms=None, stimulus_column=None, intervals=None) -> xr.DataArray:
    """Spike rates of every unit of a lab's NWB file, per trial and time bin. Needs ``neurodcn[nwb]``.

    The file needs a Units table with spike_times (s) and an intervals table (trials, epochs, ...) whose rows
    are the presentations, with a column naming each row's stimulus. Units are counted in every trial: their
    ragged columns (obs_intervals, waveforms, electrodes) are left out.

    Args:
        path: the ``.nwb`` file.
        window_ms: (start, end) int ms from each trial's start_time (default: 0 to the shortest trial's end).
        bin_ms: bin width, int ms dividing the window (default: the whole window as one bin).
        stimulus_column: the column naming the stimuli (default: the first of :data:`STIMULUS_COLUMNS`).
        intervals: the intervals table to read (default "trials", else "epochs").

    Returns:
        presentation x neuroid x time_bin rates (spikes/s, float64; see the module docstring), with attrs
        ``source_file``. ``vc.rsa`` and ``vc.predictivity`` take it as brain data.

    Examples:
        >>> import tempfile, pathlib, datetime, pynwb, neurodcn as nd
        >>> nwb = pynwb.NWBFile(session_description="V1", identifier="s1",
        ...                     session_start_time=datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc))
        >>> nwb.add_trial_column(name="stimulus", description="image shown")
        >>> for start, image in [(0.0, "cat"), (1.0, "dog"), (2.0, "cat")]:
        ...     nwb.add_trial(start_time=start, stop_time=start + 0.2, stimulus=image)
        >>> nwb.add_unit(spike_times=[0.01, 0.15, 1.02, 2.11])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "lab.nwb"
        >>> with pynwb.NWBHDF5IO(path, mode="w") as io:
        ...     io.write(nwb)
        >>> da = nd.load_lab_nwb(path, window_ms=(0, 200), bin_ms=100)
        >>> da.sizes, da.stimulus_id.values.tolist()
        (Frozen({'presentation': 3, 'neuroid': 1, 'time_bin': 2}), ['cat', 'dog', 'cat'])
        >>> da.values[:, 0]  # spikes/s: one spike in a 100 ms bin is 10 spikes/s
        array([[10., 10.],
               [10.,  0.],
               [ 0., 10.]])
    """
    pynwb = require("pynwb", "load_lab_nwb")
    p = check_path("path", path, (".nwb",))
    if not p.is_file():
        raise FileNotFoundError(f"path {str(p)!r} is not a file")
    with pynwb.NWBHDF5IO(p, mode="r") as io:
        nwb = io.read()
        if nwb.units is None or "spike_times" not in nwb.units.colnames:
            raise ValueError(f"{str(p)!r} has no Units table with spike_times (its processing modules: "
                             f"{list(nwb.processing)}); load_lab_nwb reads sorted spikes")
        name, table = _intervals_table(nwb, intervals, repr(str(p)))
        trials = _scalar_columns(table)
        units = _scalar_columns(nwb.units)
        index = nwb.units["spike_times"]
        spikes = np.split(np.asarray(index.target.data[:]), np.asarray(index.data[:-1]))
    da = spike_rates(spikes, units, trials.reset_index(names="trial_id"), stimulus_column, window_ms, bin_ms,
                     f"the {name} table of {str(p)!r}")
    da.attrs["source_file"] = str(p)
    return da


def from_pynapple(spikes, trials, window_ms=None, bin_ms=None, stimulus_column=None) -> xr.DataArray:
    """Spike rates of a pynapple TsGroup over the trials of an IntervalSet. Needs ``neurodcn[nwb]``.

    Args:
        spikes: a TsGroup of spike times (s); its keys become ``neuroid_id``, its metadata columns neuroid
            coords (but not pynapple's own mean ``rate``).
        trials: an IntervalSet of trials (s) whose metadata holds the stimulus column; start and end become
            the presentation coords start_time and stop_time.
        window_ms: (start, end) int ms from each trial's start (default: 0 to the shortest trial's end).
        bin_ms: bin width, int ms dividing the window (default: the whole window as one bin).
        stimulus_column: the metadata column naming the stimuli (default: the first of
            :data:`STIMULUS_COLUMNS`).

    Returns:
        presentation x neuroid x time_bin rates (spikes/s, float64; see the module docstring).

    Examples:
        >>> import numpy as np, pynapple as nap, neurodcn as nd
        >>> spikes = nap.TsGroup({3: nap.Ts(t=np.array([0.01, 0.15, 1.02]))}, metadata={"area": ["V1"]})
        >>> trials = nap.IntervalSet(start=[0.0, 1.0], end=[0.2, 1.2], metadata={"stimulus": ["cat", "dog"]})
        >>> da = nd.from_pynapple(spikes, trials, window_ms=(0, 200), bin_ms=100)
        >>> da.neuroid_id.values.tolist(), da.area.values.tolist(), da.values[:, 0]
        ([3], ['V1'], array([[10., 10.],
               [10.,  0.]]))
    """
    nap = require("pynapple", "from_pynapple")
    check_type("spikes", spikes, nap.TsGroup, "a pynapple TsGroup of spike times")
    check_type("trials", trials, nap.IntervalSet, "a pynapple IntervalSet of trials")
    units = spikes.metadata.drop(columns="rate")
    table = pd.DataFrame({"start_time": trials.start, "stop_time": trials.end})
    table = pd.concat([table, trials.metadata.reset_index(drop=True)], axis=1)
    return spike_rates([spikes[k].t for k in spikes.keys()], units, table, stimulus_column, window_ms, bin_ms,
                       "the metadata of trials")
