"""A lab's recordings in: NWB files written with pynwb as labs write them (Units with spike times, a trials table
naming the stimuli) and pynapple's TsGroup + IntervalSet become spike-rate assemblies that vc.rsa and
vc.predictivity take. Counts are checked against hand counts and against pynapple's own NWB reader."""

from datetime import datetime, timezone

import numpy as np
import pytest
import torch

import neurodcn as nd
from neurodcn.cortex.compare import block_features

pynwb = pytest.importorskip("pynwb")
nap = pytest.importorskip("pynapple")

# Two stimuli shown twice each, 0.2 s trials 1 s apart, in the order a, b, b, a.
TRIALS = [(0.0, 0.2, "a"), (1.0, 1.2, "b"), (2.0, 2.2, "b"), (3.0, 3.2, "a")]
SPIKES = {
    # unit 7: 0.05 lies on the edge between bins [0, 50) and [50, 100) ms and counts in the later one;
    # 1.1 lies on the window's end (100 ms) and counts nowhere; 2.95 lies before trial 3 starts
    7: [0.01, 0.02, 0.05, 0.07, 1.03, 1.1, 2.06, 2.95, 3.0, 3.04, 3.049],
    9: [0.099, 1.0, 1.01, 1.02, 1.06, 2.5, 3.051],
}
# spike counts [trial, unit, bin] for window (0, 100) ms in 50 ms bins, counted by hand from SPIKES
HAND_COUNTS = np.array(
    [
        [[2, 2], [0, 1]],  # trial 0 (a): unit 7 at 10, 20 | 50, 70 ms; unit 9 at 99 ms
        [[1, 0], [3, 1]],  # trial 1 (b): unit 7 at 30 ms (1.1 s is the end); unit 9 at 0, 10, 20 | 60 ms
        [[0, 1], [0, 0]],  # trial 2 (b): unit 7 at 60 ms
        [[3, 0], [0, 1]],  # trial 3 (a): unit 7 at 0, 40, 49 ms; unit 9 at 51 ms
    ]
)


def _lab_nwb(path, trials=TRIALS, spikes=SPIKES, stimulus_column="stimulus", values=None):
    """An NWB file as a lab writes it: electrodes, sorted units with metadata, a trials table; returns path."""
    nwb = pynwb.NWBFile(
        session_description="V1 recording, static images",
        identifier="lab-session-1",
        session_start_time=datetime(2024, 5, 1, 9, tzinfo=timezone.utc),
    )
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank0", description="shank", location="V1", device=device)
    for _ in spikes:
        nwb.add_electrode(group=group, location="V1")
    if stimulus_column:
        nwb.add_trial_column(name=stimulus_column, description="image shown")
    nwb.add_trial_column(name="contrast", description="image contrast")
    for start, stop, stim in trials:
        named = {stimulus_column: stim} if stimulus_column else {}
        nwb.add_trial(start_time=start, stop_time=stop, contrast=0.5, **named)
    nwb.add_unit_column(name="quality", description="sorting quality")
    nwb.add_unit_column(name="depth_um", description="depth below the pia (um)")
    for i, (unit, times) in enumerate(spikes.items()):
        nwb.add_unit(id=unit, spike_times=times, electrodes=[i], quality=["good", "mua"][i % 2], depth_um=100.0 * i,
                     obs_intervals=[[0.0, 10.0]])
    with pynwb.NWBHDF5IO(path, mode="w") as io:
        io.write(nwb)
    return path


def test_counts_and_rates_match_a_hand_count(tmp_path):
    da = nd.load_lab_nwb(_lab_nwb(tmp_path / "lab.nwb"), window_ms=(0, 100), bin_ms=50)
    assert da.dims == ("presentation", "neuroid", "time_bin")
    np.testing.assert_array_equal(da.values, HAND_COUNTS / 0.05)
    assert da.attrs["units"] == "s-1" and "spikes/s" in da.attrs["long_name"]
    assert da["stimulus_id"].values.tolist() == ["a", "b", "b", "a"]
    np.testing.assert_array_equal(da["start_time"], [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(da["contrast"], 0.5)
    assert da["neuroid_id"].values.tolist() == [7, 9]
    assert da["quality"].values.tolist() == ["good", "mua"] and da["depth_um"].values.tolist() == [0.0, 100.0]
    assert "electrodes" not in da.coords and "obs_intervals" not in da.coords
    assert da["time_bin_start"].values.tolist() == [0, 50] and da["time_bin_end"].values.tolist() == [50, 100]
    assert da["time_bin_start"].attrs["units"] == "ms"


def test_default_window_is_the_shortest_trial_in_one_bin(tmp_path):
    da = nd.load_lab_nwb(_lab_nwb(tmp_path / "lab.nwb"))
    assert da.sizes["time_bin"] == 1 and (da["time_bin_start"].item(), da["time_bin_end"].item()) == (0, 200)
    # trial 0: unit 7 fires 4 times and unit 9 once within [0, 200) ms
    np.testing.assert_allclose(da.values[0, :, 0], [4 / 0.2, 1 / 0.2])
    cf_units = pytest.importorskip("cf_units")
    assert cf_units.Unit(da.attrs["units"]).convert(1.0, "Hz") == pytest.approx(1.0)


def test_window_may_start_before_the_trial(tmp_path):
    da = nd.load_lab_nwb(_lab_nwb(tmp_path / "lab.nwb"), window_ms=(-100, 0), bin_ms=100)
    # only unit 7's spike at 2.95 s lies in the 100 ms before a trial start (trial 3 at 3.0 s)
    np.testing.assert_array_equal(da.values[..., 0], [[0, 0], [0, 0], [0, 0], [10, 0]])


def test_pynapple_reader_and_from_pynapple_agree_with_the_hand_count(tmp_path):
    path = _lab_nwb(tmp_path / "lab.nwb")
    f = nap.load_file(str(path))
    da = nd.from_pynapple(f["units"], f["trials"], window_ms=(0, 100), bin_ms=50)
    np.testing.assert_array_equal(da.values, HAND_COUNTS / 0.05)
    assert da["stimulus_id"].values.tolist() == ["a", "b", "b", "a"]
    assert da["neuroid_id"].values.tolist() == [7, 9] and da["quality"].values.tolist() == ["good", "mua"]
    assert "rate" not in da.coords  # pynapple's own mean rate is not unit metadata

    # built by hand, as an analysis in pynapple holds them
    spikes = nap.TsGroup({k: nap.Ts(t=np.array(v)) for k, v in SPIKES.items()}, metadata={"area": ["V1", "V4"]})
    trials = nap.IntervalSet(start=[t[0] for t in TRIALS], end=[t[1] for t in TRIALS],
                             metadata={"image": [t[2] for t in TRIALS]})
    mine = nd.from_pynapple(spikes, trials, window_ms=(0, 100), bin_ms=50)
    np.testing.assert_array_equal(mine.values, HAND_COUNTS / 0.05)
    assert mine["area"].values.tolist() == ["V1", "V4"] and mine["stimulus_id"].values.tolist() == ["a", "b", "b", "a"]


def test_a_file_without_a_stimulus_column_gets_a_clear_error(tmp_path):
    path = _lab_nwb(tmp_path / "foreign.nwb", stimulus_column=None)
    with pytest.raises(ValueError, match=r"trials table of .*foreign.nwb.* no column naming the stimuli") as err:
        nd.load_lab_nwb(path)
    assert "['trial_id', 'start_time', 'stop_time', 'contrast']" in str(err.value)
    da = nd.load_lab_nwb(path, stimulus_column="contrast")  # the user names the column
    assert da["stimulus_id"].values.tolist() == [0.5] * 4
    with pytest.raises(ValueError, match="stimulus_column must be a column of"):
        nd.load_lab_nwb(path, stimulus_column="image")
    with pytest.raises(ValueError, match=r"intervals must name an intervals table .*\['trials'\]"):
        nd.load_lab_nwb(path, intervals="epochs")


def test_bad_windows_and_bins(tmp_path):
    path = _lab_nwb(tmp_path / "lab.nwb")
    with pytest.raises(ValueError, match=r"bin_ms must divide the window \(0, 100\) ms"):
        nd.load_lab_nwb(path, window_ms=(0, 100), bin_ms=30)
    with pytest.raises(ValueError, match="window_ms must have end_ms > start_ms"):
        nd.load_lab_nwb(path, window_ms=(100, 0))
    with pytest.raises(ValueError, match=r"window_ms\[1\] must be an integer"):
        nd.load_lab_nwb(path, window_ms=(0, 99.5))
    with pytest.raises(ValueError, match="bin_ms must be an integer >= 1"):
        nd.load_lab_nwb(path, window_ms=(0, 100), bin_ms=0)
    with pytest.raises(TypeError, match="spikes must be a pynapple TsGroup"):
        nd.from_pynapple({0: [0.1]}, nap.IntervalSet(0, 1))


def test_a_neurodcn_file_is_refused_by_load_lab_nwb_and_a_lab_file_by_read_nwb(tmp_path):
    from neurodcn.io.nwb import read_nwb
    from tests.cortex_fixtures import make_record_dataset

    ours = nd.to_nwb(make_record_dataset(), tmp_path / "model.nwb")
    with pytest.raises(ValueError, match="has no Units table with spike_times"):
        nd.load_lab_nwb(ours)
    with pytest.raises(ValueError, match="neurodcn.load_lab_nwb"):
        read_nwb(_lab_nwb(tmp_path / "lab.nwb"))


# --- into the model comparison ---------------------------------------------------------------------------------

TIMES = [0.0, 1.0, 2.0]


@pytest.fixture(scope="module")
def vc():
    return nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0), image_size=16, batch_size=8, progress=False)


@pytest.fixture(scope="module")
def planted(vc, tmp_path_factory):
    """30 images shown twice each (shuffled), 4 units whose rate in 100 ms bin b (b = 0, 1, 2) is a channel of
    block 1 (averaged over the map) at model time b: (stimuli, lab NWB path, rates [stimulus, unit, bin] in
    spikes/s)."""
    x = torch.rand(30, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    feats, _ = block_features(vc, x, TIMES, pool=1)  # [time, stimulus, channel]: block means
    f = feats["block1"][:, :, :4]
    z = (f - f.mean(axis=1, keepdims=True)) / f.std(axis=1, keepdims=True)
    rates = np.round(100 + 40 * z).clip(0).transpose(1, 2, 0)  # spikes/s -> whole spike counts per 100 ms * 10
    order = np.random.default_rng(0).permutation(np.repeat(np.arange(30), 2))
    trials, spikes = [], {u: [] for u in range(4)}
    for i, s in enumerate(order):
        start = 0.5 * i
        trials.append((start, start + 0.3, f"img{s:02d}"))
        for u in range(4):
            for b in range(3):
                n = int(rates[s, u, b] / 10)  # spikes in this 100 ms bin, evenly spread inside it
                spikes[u] += (start + 0.1 * b + (np.arange(n) + 0.5) * 0.1 / max(n, 1)).tolist()
    path = _lab_nwb(tmp_path_factory.mktemp("lab") / "planted.nwb", trials, spikes)
    return x, path, np.floor(rates / 10) * 10


def test_lab_rates_go_into_predictivity_with_the_time_mapping(vc, planted):
    x, path, rates = planted
    da = nd.load_lab_nwb(path, window_ms=(0, 300), bin_ms=100)
    ids = np.array([f"img{i:02d}" for i in range(30)])
    mean = da.groupby("stimulus_id").mean("presentation").sel(stimulus_id=ids)
    np.testing.assert_allclose(mean.values, rates)  # the planted rates, read back

    ds = vc.predictivity(x, {"V1": da}, times=TIMES, stimulus_id=ids, pool=1, n_splits=3, n_boot=10)
    assert ds["median_r"].dims == ("block", "time", "region", "time_bin")
    assert ds["neuroid_id"].values.tolist() == [0, 1, 2, 3]
    assert ds["time_bin_start"].values.tolist() == [0, 100, 200]
    assert ds["time_bin_end"].values.tolist() == [100, 200, 300]
    # block 1's features (at every model time: this small model's block means barely change) predict its own
    # planted channels; with the images shuffled against the recordings they do not
    assert np.all(ds["median_r"].sel(block="block1", region="V1").values > 0.9)
    assert {"onset_ms_fit", "ms_per_unit_time_fit"} <= set(ds.data_vars)  # the time-bin alignment ran
    shuffled = vc.predictivity(x, {"V1": da}, times=TIMES, stimulus_id=np.roll(ids, 7), pool=1, n_splits=3,
                               n_boot=10)
    assert np.all(shuffled["median_r"].sel(block="block1", region="V1").values < 0.5)
    # repeats are identical copies of the planted rates, so the split-half ceiling is 1 for responsive units
    np.testing.assert_allclose(ds["ceiling"].values, 1.0)


def test_a_lab_nwb_path_goes_into_rsa_and_predictivity_as_it_is(vc, planted):
    x, path, _ = planted
    ids = np.array([f"img{i:02d}" for i in range(30)])
    ds = vc.predictivity(x, {"V1": path}, times=TIMES, stimulus_id=ids, pool=1, n_splits=3, n_boot=10)
    assert ds["region"].values.tolist() == ["V1"] and ds.sizes["time_bin"] == 1  # default: one bin, 0-300 ms
    rsa = vc.rsa(x, path, times=TIMES, stimulus_id=ids, pool=1, n_boot=10)
    assert rsa["region"].values.tolist() == ["brain"]
    sim = nd.load_lab_nwb(path, window_ms=(0, 300), bin_ms=100)
    by_bin = vc.rsa(x, {"V1": sim}, times=TIMES, stimulus_id=ids, pool=1, n_boot=10, method="spearman")
    assert by_bin["similarity"].dims == ("block", "time", "region", "time_bin")
    assert np.all(np.isfinite(by_bin["similarity"].values))
