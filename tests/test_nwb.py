import numpy as np
import pytest
import xarray as xr
from cortex_fixtures import make_receptive_fields_dataset, make_record_dataset

pynwb = pytest.importorskip("pynwb")

from neurodcn.io.nwb import DEFAULT_SUBJECT, MODULE_NAME, read_nwb, to_nwb  # noqa: E402
from neurodcn.schema import nodes  # noqa: E402

GAP = 0.5


def _isel(rec, **per_block):
    """rec with block k's group indexed by per_block[f"block{k}"] (a dict dim -> indices)."""
    groups = nodes(rec)
    for name, sel in per_block.items():
        groups[f"/{name}"] = groups[f"/{name}"].isel(sel)
    return xr.DataTree.from_dict(groups)


def _centre(rec):
    return _isel(rec, **{n: {"y": [g.sizes["y"] // 2], "x": [g.sizes["x"] // 2]} for n, g in rec.children.items()})


def _assert_record_equal(back, expected):
    # time_ms comes back from the timestamps (seconds): equal to float rounding, everything else exactly
    np.testing.assert_allclose(back["time_ms"].values, expected["time_ms"].values, rtol=1e-12)
    got, want = nodes(back), nodes(expected)
    assert list(got) == list(want)
    for path in got:
        xr.testing.assert_identical(
            got[path].drop_vars("time_ms", errors="ignore"), want[path].drop_vars("time_ms", errors="ignore")
        )


def test_read_back_all_positions_is_the_record(tmp_path):
    ds = make_record_dataset(n_stimuli=3, n_times=24, blocks=((2, 4, 4), (3, 2, 2)), sigma=(0.5, 1.5))
    path = to_nwb(ds, tmp_path / "rec.nwb", positions="all")
    assert [p.name for p in tmp_path.iterdir()] == ["rec.nwb"]
    _assert_record_equal(read_nwb(path), ds)


def test_default_keeps_centre_units_and_string_ids(tmp_path):
    ds = make_record_dataset(n_stimuli=4, n_times=5, string_ids=True)
    back = read_nwb(to_nwb(ds, tmp_path / "rec.nwb"))
    assert back["block1"].sizes["y"] == 1 and back["block1"]["y"].item() == 3 and back["block2"]["x"].item() == 1
    _assert_record_equal(back, _centre(ds))
    assert back["stimulus_id"].values.tolist() == ["img0", "img1", "img2", "img3"]


def test_channel_subset(tmp_path):
    ds = make_record_dataset()
    back = read_nwb(to_nwb(ds, tmp_path / "rec.nwb", channels={2: [5, 1]}))
    assert back["block2"]["channel"].values.tolist() == [1, 5]
    assert back["block1"]["channel"].values.tolist() == [0, 1, 2, 3]
    _assert_record_equal(back, _isel(_centre(ds), block2={"channel": [1, 5]}))


def test_file_layout_times_and_tables(tmp_path):
    ds = make_record_dataset(n_stimuli=3, n_times=4)  # time_ms = 50 .. 250 ms
    path = to_nwb(ds, tmp_path / "rec.nwb", sigma={1: 1.5, 2: np.arange(8) + 0.5}, gap_s=GAP)
    with pynwb.NWBHDF5IO(path, "r") as io:
        nwb = io.read()
        pres = nwb.intervals["presentations"].to_dataframe()
        np.testing.assert_allclose(pres["start_time"], [0.0, 0.75, 1.5])  # 0.25 s window + 0.5 s gap
        np.testing.assert_allclose(pres["stop_time"], [0.25, 1.0, 1.75])
        assert pres["stimulus_id"].tolist() == ["synthetic/000100", "synthetic/000101", "synthetic/000102"]
        assert "stimulus" not in pres.columns  # the index equals stimulus_id
        np.testing.assert_allclose(pres["contrast"], ds["contrast"].values)
        module = nwb.processing[MODULE_NAME]
        ts = module["h_block2"]
        expected_t = (np.array([0.0, 0.75, 1.5])[:, None] + ds["time_ms"].values[None, :] / 1000).ravel()
        np.testing.assert_allclose(ts.timestamps[:], expected_t)
        assert ts.data.shape == (12, 8) and ts.unit == "1"
        # sample (presentation 2, time 1) of unit column 6: block 2, channel 6, centre (1, 1)
        assert ts.data[2 * 4 + 1, 6] == ds["block2"]["h"].values[2, 1, 6, 1, 1]
        # the units tables (one per block), readable by pynwb, and each series' rows in them
        tables = module["units"].plane_segmentations
        units = {k: tables[f"block{k}"].to_dataframe() for k in (1, 2)}
        assert units[1]["unit_id"].tolist()[:2] == ["block1/ch0/y3/x3", "block1/ch1/y3/x3"]
        assert units[1]["block"].tolist() == [1] * 4 and units[2]["block"].tolist() == [2] * 8
        np.testing.assert_allclose(units[1]["sigma"], [1.5] * 4)
        np.testing.assert_allclose(units[2]["sigma"], np.arange(8) + 0.5)
        np.testing.assert_allclose(units[1]["x_deg"], ds["block1"]["x_deg"].values[3])
        assert [tuple(p) for p in units[2]["pixel_mask"].iloc[6]] == [(1, 1, 1.0)]  # (x, y, weight): map pixel
        assert ts.rois.table is tables["block2"] and list(ts.rois.data[:]) == list(range(8))
        assert nwb.subject.species == DEFAULT_SUBJECT["species"] and nwb.subject.subject_id == "synthetic"


def test_sigma_column_absent_without_sigma(tmp_path):
    with pynwb.NWBHDF5IO(to_nwb(make_record_dataset(), tmp_path / "r.nwb"), "r") as io:
        assert "sigma" not in io.read().processing[MODULE_NAME]["units"]["block1"].colnames


def test_nwbinspector_reports_only_suggestions(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile

    ds = make_record_dataset(n_stimuli=4, n_times=5)
    path = to_nwb(ds, tmp_path / "rec.nwb", subject={"subject_id": "dcn-ode-seed0"})
    messages = list(inspect_nwbfile(nwbfile_path=path))
    assert all(m.importance == Importance.BEST_PRACTICE_SUGGESTION for m in messages), messages
    assert {m.check_function_name for m in messages} == {
        "check_experimenter_exists",
        "check_institution",
        "check_processing_module_name",
    }
    path2 = to_nwb(ds, tmp_path / "rec2.nwb", nwbfile_fields={"experimenter": ["Doe, Jane"], "institution": "Lab"})
    assert [m.check_function_name for m in inspect_nwbfile(nwbfile_path=path2)] == ["check_processing_module_name"]
    with pynwb.NWBHDF5IO(path, "r") as io:
        assert io.read().subject.subject_id == "dcn-ode-seed0"
    # more units than samples (2 x 2 samples, 16 or 64 units per block): each block is split into series of
    # at most 4 units, so time stays the longest axis and nothing is CRITICAL; reading back joins the parts
    few = make_record_dataset(n_stimuli=2, n_times=2, blocks=((16, 2, 2), (6, 1, 1)))
    path3 = to_nwb(
        few,
        tmp_path / "rec3.nwb",
        positions="all",
        nwbfile_fields={"experimenter": ["Doe, Jane"], "institution": "Lab"},
    )
    messages = list(inspect_nwbfile(nwbfile_path=path3))
    assert all(m.importance == Importance.BEST_PRACTICE_SUGGESTION for m in messages), messages
    with pynwb.NWBHDF5IO(path3, "r") as io:
        series = io.read().processing[MODULE_NAME]
        assert [series[f"h_block1_part{j}"].data.shape for j in range(1, 17)] == [(4, 4)] * 16
        assert [series[f"h_block2_part{j}"].data.shape for j in (1, 2)] == [(4, 4), (4, 2)]
        assert list(series["h_block1_part2"].rois.data[:]) == [4, 5, 6, 7]
    _assert_record_equal(read_nwb(path3), few)


def test_pynapple_loads_the_time_series_with_unit_identity(tmp_path):
    nap = pytest.importorskip("pynapple")
    ds = make_record_dataset(n_stimuli=3, n_times=6, sigma=(0.5, 1.5))
    f = nap.load_file(str(to_nwb(ds, tmp_path / "rec.nwb")))
    h = f["h_block1"]
    assert isinstance(h, nap.TsdFrame) and h.shape == (18, 4)
    np.testing.assert_array_equal(
        np.asarray(h.values[:]).reshape(3, 6, 4), _centre(ds)["block1"]["h"].values[..., 0, 0]
    )
    # unit identity travels as the TsdFrame's metadata, one row per column
    meta = f["h_block2"].metadata
    assert meta["channel"].tolist() == list(range(8)) and set(meta["block"]) == {2}
    assert set(meta["y"]) == {1} and set(meta["x"]) == {1} and set(meta["sigma"]) == {1.5}
    np.testing.assert_allclose(meta["x_deg"], ds["block2"]["x_deg"].values[1])
    np.testing.assert_allclose(h.index.values[6:12], 0.75 + ds["time_ms"].values / 1000)
    np.testing.assert_allclose(f["presentations"].start, [0.0, 0.75, 1.5])


def test_bad_inputs(tmp_path):
    ds = make_record_dataset()
    with pytest.raises(ValueError, match="'record' dataset"):
        to_nwb(make_receptive_fields_dataset(), tmp_path / "a.nwb")
    with pytest.raises(ValueError, match="one group per block"):
        to_nwb(ds["block1"].to_dataset().assign_attrs(ds.attrs), tmp_path / "a.nwb")
    with pytest.raises(ValueError, match=r"end in \.nwb"):
        to_nwb(ds, tmp_path / "a.h5")
    with pytest.raises(ValueError, match="gap_s"):
        to_nwb(ds, tmp_path / "a.nwb", gap_s=0)
    with pytest.raises(ValueError, match="positions"):
        to_nwb(ds, tmp_path / "a.nwb", positions="middle")
    with pytest.raises(ValueError, match=r"channels for block 1 must lie in 0\.\.3"):
        to_nwb(ds, tmp_path / "a.nwb", channels=[0, 4])
    with pytest.raises(ValueError, match=r"sigma for block 2 .* shape \(8,\)"):
        to_nwb(ds, tmp_path / "a.nwb", sigma={2: [1.0, 2.0]})
    with pytest.raises(ValueError, match="nwbfile_fields must not set"):
        to_nwb(ds, tmp_path / "a.nwb", nwbfile_fields={"notes": "x"})
    with pytest.raises(ValueError, match="block1 must hold h"):
        to_nwb(_without_h(ds), tmp_path / "a.nwb")
    assert list(tmp_path.iterdir()) == []
    path = to_nwb(ds, tmp_path / "a.nwb")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        to_nwb(ds, path)
    to_nwb(ds.isel(stimulus=[0]), path, overwrite=True)
    assert read_nwb(path).sizes["stimulus"] == 1
    with pytest.raises(ValueError, match="not written by neurodcn"):
        read_nwb(_plain_nwb(tmp_path / "plain.nwb"))


def _without_h(rec):
    groups = nodes(rec)
    groups["/block1"] = groups["/block1"].drop_vars("h")
    return xr.DataTree.from_dict(groups)


def _plain_nwb(path):
    from datetime import datetime, timezone

    nwb = pynwb.NWBFile(session_description="x", identifier="x", session_start_time=datetime.now(timezone.utc))
    with pynwb.NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    return path


def test_failed_write_leaves_existing_file_untouched(tmp_path, monkeypatch):
    ds = make_record_dataset()
    path = to_nwb(ds, tmp_path / "a.nwb")
    before = path.read_bytes()

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        to_nwb(ds, path, overwrite=True)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.nwb"]


def test_lazy_dataset_exports_the_same(tmp_path):
    from neurodcn.io.files import load_dataset, save_dataset

    ds = make_record_dataset(n_stimuli=4, n_times=5)
    lazy = load_dataset(save_dataset(ds, tmp_path / "rec.nc"), lazy=True)
    assert lazy["block1"]["h"].chunks is not None
    _assert_record_equal(
        read_nwb(to_nwb(lazy, tmp_path / "rec.nwb", channels=[1, 3])),
        _isel(_centre(ds), block1={"channel": [1, 3]}, block2={"channel": [1, 3]}),
    )
