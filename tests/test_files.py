import json
import os
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neurodcn
from neurodcn.io.files import JSON_ATTRS_KEY, ZarrStreamWriter, load_dataset, save_dataset
from neurodcn.schema import REQUIRED_GLOBAL_ATTRS, stamp_provenance, validate_dataset

ODD_ATTRS = {
    "a_dict": {"lr": 0.1, "layers": [1, 2], "nested": {"ok": True}},
    "a_list": [1, 2, 3],
    "a_string_list": ["x", "y"],
    "a_bool": True,
    "a_false": False,
    "a_none": None,
    "an_int": 7,
    "a_float": 2.5,
    "a_string": "plain",
    "a_json_looking_string": "[1, 2]",
}


def _recording(n_stim=5, seed=0, start=0):
    rng = np.random.default_rng(seed)
    ds = xr.Dataset(
        {
            "h": (
                ("stimulus", "time", "channel"),
                rng.normal(size=(n_stim, 3, 4)).astype(np.float32),
                {"long_name": "hidden state", "units": "1", "flags": {"block": 1}, "is_mean": False},
            ),
            "nfe": (("stimulus",), rng.integers(10, 50, size=n_stim), {"long_name": "NFE", "units": "1"}),
        },
        coords={
            "stimulus_id": ("stimulus", [f"s{i + start}" for i in range(n_stim)]),
            "contrast": ("stimulus", np.linspace(0.1, 1.0, n_stim), {"units": "1", "long_name": "contrast"}),
            "time": ("time", [0.0, 1.0, 2.0], {"units": "1"}),
            "time_ms": ("time", [50.0, 100.0, 150.0], {"units": "ms"}),
            "channel": ("channel", np.arange(4)),
        },
    )
    return stamp_provenance(
        ds,
        experiment="record",
        model="dcn-ode",
        model_config={"width": 32},
        solver_config={"method": "dopri5", "rtol": 1e-3},
    )


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_round_trip_is_identical_with_odd_attrs(tmp_path, suffix):
    ds = _recording()
    ds.attrs.update(ODD_ATTRS)
    ds["contrast"].attrs["tuple_becomes_list"] = [0, 1]
    path = save_dataset(ds, tmp_path / f"rec{suffix}", validate=True)
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == [f"rec{suffix}"]
    back = load_dataset(path)
    xr.testing.assert_identical(back, ds)
    for key, value in ODD_ATTRS.items():
        assert back.attrs[key] == value and type(back.attrs[key]) is type(value), key
    assert back["h"].attrs["flags"] == {"block": 1} and back["h"].attrs["is_mean"] is False
    # on disk the odd attrs are strings and the marker lists them
    raw = load_dataset(path, decode=False)
    assert raw.attrs["a_none"] == "null" and json.loads(raw.attrs[JSON_ATTRS_KEY]).count("a_dict") == 1
    assert raw.attrs["a_json_looking_string"] == "[1, 2]"


def test_lazy_load_reads_on_demand(tmp_path):
    ds = _recording()
    save_dataset(ds, tmp_path / "rec.zarr")
    lazy = load_dataset(tmp_path / "rec.zarr", lazy=True)
    assert lazy["h"].chunks is not None
    xr.testing.assert_identical(lazy.load(), ds)


def test_overwrite_replaces_and_overwrite_false_refuses(tmp_path):
    for suffix in (".nc", ".zarr"):
        path = tmp_path / f"r{suffix}"
        save_dataset(_recording(seed=1), path)
        save_dataset(_recording(seed=2), path, overwrite=True)
        xr.testing.assert_identical(
            load_dataset(path), _recording(seed=2).assign_attrs(created=load_dataset(path).attrs["created"])
        )
        with pytest.raises(FileExistsError, match="overwrite=False"):
            save_dataset(_recording(), path)  # the default, as to_nwb's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc", "r.zarr"]


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"rec{suffix}"
    old = _recording(seed=3)
    save_dataset(old, path)
    method = "to_netcdf" if suffix == ".nc" else "to_zarr"
    real = getattr(xr.Dataset, method)

    def write_then_fail(self, target, *args, **kwargs):
        real(self, target, *args, **kwargs)  # a partial (here: complete) temporary file exists now
        assert os.path.exists(target)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(xr.Dataset, method, write_then_fail)
    with pytest.raises(OSError, match="simulated"):
        save_dataset(_recording(seed=4), path, overwrite=True)
    with pytest.raises(OSError, match="simulated"):
        save_dataset(_recording(seed=4), tmp_path / f"new{suffix}")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [f"rec{suffix}"]
    xr.testing.assert_identical(load_dataset(path), old)


def test_streamed_zarr_equals_concatenation(tmp_path):
    batches = [_recording(n_stim=n, seed=i, start=10 * i) for i, n in enumerate([4, 4, 3])]
    for b in batches:
        b.attrs = dict(batches[0].attrs)
    path = tmp_path / "stream.zarr"
    with ZarrStreamWriter(path, dim="stimulus") as writer:
        for b in batches:
            writer.append(b)
            assert not path.exists()  # only the temporary store exists until close
        assert writer.size == 11
    expected = xr.concat(
        batches,
        dim="stimulus",
        data_vars="minimal",
        coords="minimal",
        compat="identical",
        join="exact",
        combine_attrs="identical",
    )
    back = load_dataset(path)
    xr.testing.assert_identical(back, expected)
    assert back["h"].encoding["chunks"][0] == 4  # one zarr chunk per batch along the stimulus dim
    assert [p.name for p in tmp_path.iterdir()] == ["stream.zarr"]


def test_stream_close_sets_attrs_and_abort_cleans_up(tmp_path):
    path = tmp_path / "s.zarr"
    save_dataset(_recording(seed=9), path)
    writer = ZarrStreamWriter(path)
    writer.append(_recording(n_stim=2))
    writer.close(attrs={"title": "streamed", "flags": [1, 2]})
    back = load_dataset(path)
    assert back.attrs == {"title": "streamed", "flags": [1, 2]} and back.sizes["stimulus"] == 2
    with pytest.raises(RuntimeError, match="boom"):
        with ZarrStreamWriter(path) as w:
            w.append(_recording(n_stim=3))
            raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]
    assert load_dataset(path).sizes["stimulus"] == 2


def test_stream_rejects_changing_static_variables_and_missing_dim(tmp_path):
    writer = ZarrStreamWriter(tmp_path / "s.zarr")
    writer.append(_recording(n_stim=2))
    with pytest.raises(ValueError, match="identical in every batch"):
        writer.append(_recording(n_stim=2).assign_coords(time_ms=("time", [1.0, 2.0, 3.0])))
    with pytest.raises(ValueError, match="dimension 'stimulus'"):
        writer.append(_recording().isel(stimulus=0))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="nothing was appended"):
        ZarrStreamWriter(tmp_path / "t.zarr").close()


def test_validate_lists_every_problem():
    ds = _recording()
    assert validate_dataset(ds) is ds
    bad = ds.copy()
    bad["h"].attrs.pop("units")
    bad["extra"] = ("stimulus", np.zeros(5))
    del bad.attrs["created"]
    bad.attrs["model_config"] = "{not json"
    with pytest.raises(ValueError) as info:
        validate_dataset(bad)
    msg = str(info.value)
    assert "'h' lacks attrs ['units']" in msg and "'extra' lacks attrs ['long_name', 'units']" in msg
    assert "['created']" in msg and "model_config" in msg
    multi = ds.set_index(stimulus=["stimulus_id", "contrast"])
    with pytest.raises(ValueError, match="MultiIndex"):
        validate_dataset(multi)
    assert isinstance(multi.indexes["stimulus"], pd.MultiIndex)


def test_stamp_provenance():
    @dataclass
    class Solver:
        method: str = "dopri5"
        rtol: float = 1e-3

    ds = stamp_provenance(xr.Dataset(), "contrast_sweep", "dcn-ode", model_config='{"a": 1}', solver_config=Solver())
    assert set(REQUIRED_GLOBAL_ATTRS) <= set(ds.attrs)
    assert ds.attrs["source"] == f"neurodcn {neurodcn.__version__}"
    assert json.loads(ds.attrs["solver_config"]) == {"method": "dopri5", "rtol": 1e-3}
    assert ds.attrs["model_config"] == '{"a": 1}'
    assert datetime.fromisoformat(ds.attrs["created"]).tzinfo is not None
    assert ds.attrs["title"] == "contrast_sweep (dcn-ode)"
    with pytest.raises(ValueError, match="model_config given as a string must be valid JSON"):
        stamp_provenance(xr.Dataset(), "x", "m", model_config="{oops")
    with pytest.raises(ValueError, match="experiment must be a non-empty string"):
        stamp_provenance(xr.Dataset(), "", "m")


def test_bad_paths_and_attrs(tmp_path):
    with pytest.raises(ValueError, match=r"end in one of \('.nc', '.zarr'\)"):
        save_dataset(_recording(), tmp_path / "rec.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(tmp_path / "missing.nc")
    with pytest.raises(TypeError, match="xarray.Dataset"):
        save_dataset({"a": 1}, tmp_path / "rec.nc")
    with pytest.raises(TypeError, match="'obj'.*not JSON-serialisable"):
        save_dataset(xr.Dataset(attrs={"obj": [object()]}), tmp_path / "rec.nc")
    with pytest.raises(ValueError, match="reserved key"):
        save_dataset(xr.Dataset(attrs={JSON_ATTRS_KEY: "[]"}), tmp_path / "rec.nc")
    assert list(tmp_path.iterdir()) == []


def test_package_exports_save_and_load():
    assert neurodcn.save_dataset is save_dataset and neurodcn.load_dataset is load_dataset


# ------------------------------------------------------------- a stream killed in the middle of an append
class Killed(BaseException):
    """The writing process dies here: nothing after it runs, nothing is cleaned up."""


def _die_at(monkeypatch, key, nth=1):
    """Kill the writer at the ``nth`` write of zarr key ``key`` (before it is written): like a killed process,
    no write starts after it (zarr's concurrent writes already started still finish)."""
    from zarr.storage import LocalStore

    real, seen = LocalStore.set, []

    async def dying_set(self, k, value):
        seen.extend([k] if k == key else [])
        if len(seen) >= nth:
            raise Killed(key)
        return await real(self, k, value)

    monkeypatch.setattr(LocalStore, "set", dying_set)


def _tree(start, n=3, scale=1.0):
    """A recording of stimuli start, ..., start + n - 1 (two blocks; block2 has a static variable)."""
    stim = np.arange(start, start + n)
    return xr.DataTree.from_dict({
        "/": xr.Dataset(coords={"stimulus": stim}, attrs={"title": "r"}),
        "/block1": xr.Dataset({"h": (("stimulus", "unit"), np.outer(stim, [1.0, 2.0]))}),
        "/block2": xr.Dataset({"h": ("stimulus", stim * 1.0), "g": ("stimulus", -stim * 1.0), "scale": scale}),
    })


@pytest.mark.parametrize("key, nth, dropped", [
    ("stimulus/.zarray", 1, ""),  # the root's attrs were rewritten, no array extended yet
    ("block1/h/.zarray", 1, r" and the rest \(3 rows of an unfinished batch\) is dropped"),  # root longer than blocks
    ("block2/g/.zarray", 1, r" and the rest \(3 rows"),  # block2's h and stimulus extended, its g not
    (".zattrs", 2, r" and the rest \(3 rows"),  # every array extended, the finished-rows mark not updated
], ids=["before-any-array", "between-groups", "between-variables", "before-the-mark"])
def test_a_stream_killed_in_the_middle_of_an_append_loads_its_finished_rows(tmp_path, monkeypatch, key, nth, dropped):
    w = ZarrStreamWriter(tmp_path / "r.zarr")
    w.append(_tree(0))
    _die_at(monkeypatch, key, nth)
    with pytest.raises(Killed):
        w.append(_tree(3))
    monkeypatch.undo()
    said = rf"incomplete zarr store \(its writer did not finish; its 3 finished stimulus rows are read{dropped}"
    for lazy in (False, True):
        with pytest.warns(UserWarning, match=said):
            xr.testing.assert_equal(load_dataset(w.partial, lazy=lazy), _tree(0))
    with pytest.raises(RuntimeError, match="failed part way.*its 3 finished stimulus rows: call keep"):
        w.append(_tree(6))
    w.keep()  # consolidates the metadata of the longer arrays: still read up to the mark
    with pytest.warns(UserWarning, match=said):
        xr.testing.assert_equal(load_dataset(w.partial), _tree(0))


def test_a_stream_killed_in_its_first_batch_leaves_a_store_the_next_run_replaces(tmp_path, monkeypatch):
    from neurodcn.io.atomic import lock_path

    w = ZarrStreamWriter(tmp_path / "r.zarr")
    _die_at(monkeypatch, "block2/g/.zarray")
    with pytest.raises(Killed):
        w.append(_tree(0))
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="its 0 finished stimulus rows are read"):
        assert load_dataset(w.partial).sizes["stimulus"] == 0
    lock_path(w.path).unlink()  # its process is gone
    with ZarrStreamWriter(w.path, overwrite=True) as again:
        again.append(_tree(0))
    xr.testing.assert_equal(load_dataset(w.path), _tree(0))


def test_a_refused_batch_writes_nothing(tmp_path):
    w = ZarrStreamWriter(tmp_path / "r.zarr")
    w.append(_tree(0))
    with pytest.raises(ValueError, match="identical in every batch"):
        w.append(_tree(3, scale=2.0))  # block2 differs; block1 comes first and must not have been appended
    w.append(_tree(3))
    w.close()
    xr.testing.assert_equal(load_dataset(w.path), _tree(0, n=6))


def test_a_stream_pads_its_ragged_dims(tmp_path):
    def batch(start, width):
        rows = np.arange(start, start + 2)
        return xr.Dataset({"t": (("stimulus", "step"), np.add.outer(rows * 10.0, np.arange(width)))},
                          coords={"stimulus": rows})

    batches = [batch(0, 2), batch(2, 4), batch(4, 1)]  # the store widens, then pads the shorter batch
    with ZarrStreamWriter(tmp_path / "r.zarr", pad=("step",)) as w:
        for b in batches:
            w.append(b)
    want = xr.concat([b.pad(step=(0, 4 - b.sizes["step"])) for b in batches], "stimulus")  # NaN to the longest
    xr.testing.assert_identical(load_dataset(w.path), want)


def test_a_killed_stream_resumes_after_its_finished_rows(tmp_path, monkeypatch):
    from neurodcn.io.atomic import lock_path

    with pytest.raises(FileNotFoundError, match="no partial store.*to resume"):
        ZarrStreamWriter(tmp_path / "r.zarr", resume=True)
    w = ZarrStreamWriter(tmp_path / "r.zarr")
    w.append(_tree(0))
    _die_at(monkeypatch, "block2/g/.zarray")  # a batch torn part way: block2's h and stimulus already longer
    with pytest.raises(Killed):
        w.append(_tree(3))
    monkeypatch.undo()
    lock_path(w.path).unlink()  # its process is gone
    again = ZarrStreamWriter(w.path, overwrite=False, resume=True)
    assert again.size == 3
    xr.testing.assert_equal(again.finished, _tree(0))
    with pytest.raises(ValueError, match="identical in every batch"):
        again.append(_tree(3, scale=2.0))  # the kept rows' static variables hold
    again.append(_tree(3))
    again.close()
    xr.testing.assert_equal(load_dataset(w.path), _tree(0, n=6))
