import numpy as np
import pandas as pd
import pytest
import xarray as xr
from cortex_fixtures import make_contrast_sweep_dataset, make_record_dataset

from neurodcn.io.assembly import select_units, to_assembly

REGIONS = {"block1": "V1", "block2": "V2"}


def test_dims_coords_and_shape():
    ds = make_record_dataset(n_stimuli=3, n_times=4, blocks=((4, 6, 6), (8, 3, 3)))
    asm = to_assembly(ds, REGIONS)
    assert asm.dims == ("presentation", "neuroid", "time_bin")
    assert asm.shape == (3, 4 * 36 + 8 * 9, 4) and asm.dtype == np.float32
    assert set(asm.coords) == {
        "stimulus_id", "contrast", "neuroid_id", "layer", "region", "block", "channel", "channel_y",
        "channel_x", "y_deg", "x_deg", "time_bin_start", "time_bin_end",
    }  # fmt: skip
    assert asm.indexes == {} or not any(isinstance(i, pd.MultiIndex) for i in asm.indexes.values())
    assert asm["time_bin_start"].dtype.kind == "i" and asm["time_bin_start"].attrs["units"] == "ms"
    assert asm["stimulus_id"].values.tolist() == ["synthetic/000100", "synthetic/000101", "synthetic/000102"]
    assert (asm["region"].values == "V1").sum() == 144 and (asm["layer"].values == "block2").sum() == 72
    assert len(set(asm["neuroid_id"].values.tolist())) == asm.sizes["neuroid"]


def test_values_of_hand_picked_neuroids():
    ds = make_record_dataset(n_stimuli=3, n_times=4)
    asm = to_assembly(ds, REGIONS)
    ids = asm["neuroid_id"].values.tolist()
    for block, c, y, x in [(1, 0, 0, 0), (1, 3, 5, 2), (2, 5, 1, 2), (2, 7, 2, 2)]:
        n = ids.index(f"block{block}/ch{c}/y{y}/x{x}")
        assert asm["channel"][n] == c and asm["channel_y"][n] == y and asm["channel_x"][n] == x
        assert asm["region"][n] == REGIONS[f"block{block}"]
        assert asm["x_deg"][n] == ds[f"block{block}"]["x_deg"].values[x]
        np.testing.assert_array_equal(asm.values[:, n, :], ds[f"block{block}"]["h"].values[:, :, c, y, x])


def test_default_time_bins_follow_time_ms():
    ds = make_record_dataset(n_times=4)  # time_ms = 50, 116.67, 183.33, 250 over [0, T = 2]: [50, 250] ms
    asm = to_assembly(ds, REGIONS)
    assert asm["time_bin_start"].values.tolist() == [50, 100, 150, 200]
    assert asm["time_bin_end"].values.tolist() == [100, 150, 200, 250]


@pytest.mark.parametrize(
    ("n_times", "ms_per_unit_time", "onset_ms", "t_end"),
    [(5, 25.0, 50.0, 2.0), (4, 100.0, 50.0, 2.0), (7, 12.5, 40.0, 1.5), (3, 33.3, 0.0, 2.0), (11, 7.0, 50.5, 2.0)],
)
def test_default_time_bins_have_equal_whole_ms_widths_inside_the_recording(n_times, ms_per_unit_time, onset_ms, t_end):
    ds = make_record_dataset(n_times=n_times)
    ds.attrs.update(ms_per_unit_time=ms_per_unit_time, onset_ms=onset_ms, t_end=t_end)
    asm = to_assembly(ds, REGIONS)
    start, end = asm["time_bin_start"].values, asm["time_bin_end"].values
    widths = end - start
    assert start.dtype.kind == "i" and len(start) == n_times
    assert np.unique(widths).size == 1 and widths[0] >= 1  # one whole-ms width (today: 12 and 13 ms mixed)
    np.testing.assert_array_equal(start[1:], end[:-1])  # contiguous, in time order
    assert start[0] >= onset_ms and end[-1] <= onset_ms + t_end * ms_per_unit_time  # never past T
    # the widest such bins: one more ms per bin would run past T
    assert end[-1] + n_times > onset_ms + t_end * ms_per_unit_time


def test_explicit_time_bins_average_the_samples_inside():
    ds = make_record_dataset(n_times=4)
    asm = to_assembly(ds, REGIONS, time_bins=[(50, 150), (150, 300)])
    assert asm["time_bin_start"].values.tolist() == [50, 150] and asm["time_bin_end"].values.tolist() == [
        150,
        300,
    ]
    h = ds["block2"]["h"].values[:, :, 4, 0, 1]
    n = asm["neuroid_id"].values.tolist().index("block2/ch4/y0/x1")
    np.testing.assert_allclose(asm.values[:, n, 0], h[:, :2].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(asm.values[:, n, 1], h[:, 2:].mean(axis=1), rtol=1e-6)


def test_unit_selection():
    ds = make_record_dataset()
    asm = to_assembly(ds, REGIONS, positions="centre", channels={1: [2]})
    assert asm["neuroid_id"].values.tolist() == ["block1/ch2/y3/x3"] + [f"block2/ch{c}/y1/x1" for c in range(8)]
    units = select_units(ds, "all", channels=[0])
    assert units["column"].tolist() == list(range(36)) + list(range(9))


def test_netcdf_round_trip(tmp_path):
    ds = make_record_dataset(string_ids=True)
    asm = to_assembly(ds, REGIONS, time_bins=[(50, 100), (100, 300)])
    path = tmp_path / "asm.nc"
    asm.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataarray(path, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), asm)


def test_bad_inputs():
    ds = make_record_dataset()
    with pytest.raises(ValueError, match=r"missing \['block2'\]"):
        to_assembly(ds, {"block1": "V1"})
    with pytest.raises(ValueError, match=r"unknown \['block3'\]"):
        to_assembly(ds, {**REGIONS, "block3": "V4"})
    with pytest.raises(TypeError, match="region_map must be a dict"):
        to_assembly(ds, ["V1", "V2"])
    with pytest.raises(ValueError, match="non-empty strings"):
        to_assembly(ds, {"block1": "V1", "block2": 2})
    with pytest.raises(ValueError, match="'record' dataset"):
        to_assembly(make_contrast_sweep_dataset(), REGIONS)
    with pytest.raises(ValueError, match=r"\[\[300, 400\]\] hold no recorded time point"):
        to_assembly(ds, REGIONS, time_bins=[(50, 300), (300, 400)])
    with pytest.raises(ValueError, match="end_ms > start_ms"):
        to_assembly(ds, REGIONS, time_bins=[(100, 50)])
    with pytest.raises(ValueError, match="integer pairs"):
        to_assembly(ds, REGIONS, time_bins=[(50.5, 100.0)])
    one = to_assembly(ds.isel(time=[0]), REGIONS)  # one sample: one bin spanning the recording
    assert (one["time_bin_start"].item(), one["time_bin_end"].item()) == (50, 250)
    fine = ds.copy()
    fine.attrs["ms_per_unit_time"] = 1.0  # 4 samples in [50, 52] ms
    with pytest.raises(ValueError, match="do not fit whole-ms bins"):
        to_assembly(fine, REGIONS)
    with pytest.raises(ValueError, match="one group per block"):
        to_assembly(ds["block1"].to_dataset().assign_attrs(ds.attrs), REGIONS)
    with pytest.raises(ValueError, match="keys"):
        to_assembly(ds, REGIONS, channels={3: [0]})
