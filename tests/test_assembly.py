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


def _with_time_ms(ds, time_ms):
    """``ds`` with its samples at ``time_ms`` (ms): the time coord rescaled to onset 50 ms, 25 ms per unit."""
    time_ms = np.asarray(time_ms, dtype=np.float64)
    ds = ds.copy()
    ds.dataset = ds.dataset.assign_coords(
        time_ms=("time", time_ms, ds["time_ms"].attrs), time=("time", (time_ms - 50.0) / 25.0, ds["time"].attrs)
    )
    ds.attrs.update(onset_ms=50.0, ms_per_unit_time=25.0, t_end=float(ds["time"].values[-1]))
    return ds


def test_default_time_bins_hold_their_own_sample():
    # the case: 9 samples from 50 to 100 ms, one every 6.25 ms; bin edges halfway between samples
    # (half a step beyond the first and last), floored to whole ms:
    # 46.875 53.125 59.375 65.625 71.875 78.125 84.375 90.625 96.875 103.125 -> 46 53 59 ... 96 103
    ds = _with_time_ms(make_record_dataset(n_times=9), np.linspace(50.0, 100.0, 9))
    asm = to_assembly(ds, REGIONS)
    edges = [46, 53, 59, 65, 71, 78, 84, 90, 96, 103]
    assert asm["time_bin_start"].values.tolist() == edges[:-1]
    assert asm["time_bin_end"].values.tolist() == edges[1:]


@pytest.mark.parametrize(
    "time_ms",
    [
        np.linspace(50, 250, 4),
        np.linspace(50, 100, 9),
        np.linspace(40, 58.75, 7),
        [50.0, 53.0, 60.0, 80.0, 84.5],
        np.linspace(50.5, 120.5, 11),
    ],
)
def test_every_sample_lies_in_its_own_default_bin(time_ms):
    ds = _with_time_ms(make_record_dataset(n_times=len(time_ms)), time_ms)
    asm = to_assembly(ds, REGIONS)
    start, end = asm["time_bin_start"].values, asm["time_bin_end"].values
    assert start.dtype.kind == "i" and len(start) == len(time_ms)
    np.testing.assert_array_equal(start[1:], end[:-1])  # contiguous, in time order
    assert np.all((start <= time_ms) & (time_ms < end))  # sample i in bin i (today: 5 of 9 outside)
    np.testing.assert_array_equal(asm.values, to_assembly(ds, REGIONS, time_bins=np.stack([start, end], 1)).values)


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
    fine = _with_time_ms(ds, np.linspace(50.0, 52.0, 4))  # 4 samples in [50, 52] ms
    with pytest.raises(ValueError, match="do not fit one whole-ms bin per sample"):
        to_assembly(fine, REGIONS)
    with pytest.raises(ValueError, match="one group per block"):
        to_assembly(ds["block1"].to_dataset().assign_attrs(ds.attrs), REGIONS)
    with pytest.raises(ValueError, match="keys"):
        to_assembly(ds, REGIONS, channels={3: [0]})
