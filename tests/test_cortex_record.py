"""VirtualCortex and record(): h(t) against the model's own forward, geometry, time, zarr streaming, stimulus ids,
combining recordings, and the per-block layout."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

import neurodcn as nd
from neurodcn.cortex.sweep import Sweep
from neurodcn.data import bundled
from neurodcn.nn.per_image_solve import solve_per_image
from neurodcn.schema import validate_dataset


@pytest.fixture(scope="module")
def model():
    return nd.build_model("dcn-ode", width=4, seed=0)


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def test_record_matches_block_outputs_and_inputs(model, images):
    vc = nd.VirtualCortex(model, image_size=16, batch_size=8, progress=False)
    ds = vc.record(images, times=[0.0, 0.7, 2.0])
    validate_dataset(ds)
    assert ds.attrs["neurodcn_experiment"] == "record"
    with torch.no_grad():
        for k in range(3):
            with Sweep(model) as sweep:  # the model's own forward, with the cortex's per-image solves
                out = sweep.run(lambda: (model.features(images, upto=k),), len(images)).result[0]  # noqa: B023
                before = None if k == 0 else sweep.run(lambda: (model.features(images, upto=k - 1),),  # noqa: B023
                                                       len(images)).result[0]
            inp = model.stem(images) if k == 0 else model.transitions[k - 1](before)
            group = ds[f"block{k + 1}"]
            h = group["h"]
            assert h.dims == ("stimulus", "time", "channel", "y", "x")
            assert h.dtype == np.float32
            np.testing.assert_allclose(h.sel(time=2.0).values, out.numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(h.sel(time=0.0).values, inp.numpy(), rtol=1e-6, atol=1e-7)
            assert group.attrs["map_stride_px"] == 2.0**k and group.attrs["block_index"] == k + 1
            # the sigma of the block's last SRF layer (conv2 of its vector field)
            assert group["sigma"].item() == model.blocks[k].func.conv2.sigma_summary()


def test_time_ms_and_degree_coordinates(model, images):
    vc = nd.VirtualCortex(
        model, image_size=16, visual_degrees=4.0, ms_per_unit_time=10.0, onset_ms=30.0, progress=False
    )
    ds = vc.record(images[:1], times=[0.5, 1.0])
    np.testing.assert_array_equal(ds.time_ms.values, [35.0, 40.0])
    assert ds.time_ms.attrs["units"] == "ms" and ds.time.attrs["units"] == "1"
    # Conv arithmetic by hand (16 px image, 0.25 deg/px, centre at pixel 7.5): the 3x3 valid stem puts map
    # pixel j at input pixel j + 1; Conv(4, stride 2, pad 1) puts j at 2j + 0.5 of its input map.
    centres = {1: np.arange(14) + 1.0, 2: 2 * np.arange(7) + 0.5 + 1.0, 3: 4 * np.arange(3) + 1.0 + 1.5}
    for k, u in centres.items():
        np.testing.assert_allclose(ds[f"block{k}"]["x_deg"].values, (u - 7.5) * 0.25)
        np.testing.assert_allclose(ds[f"block{k}"]["y_deg"].values, (7.5 - u) * 0.25)
        assert ds[f"block{k}"]["x_deg"].attrs["units"] == "degree"


def test_full_model_geometry_has_no_offset():
    m = nd.build_model("dcn-full", width=4, seed=0)
    vc = nd.VirtualCortex(m, image_size=16, progress=False)
    # "same"-padded SRF stem and stride-2 SRF downsampling: map pixel j sits at input pixel stride * j
    assert [(g.height, g.stride, g.offset_x) for g in vc.geometry] == [(16, 1, 0.0), (8, 2, 0.0), (4, 4, 0.0)]


def test_streamed_zarr_equals_in_memory(model, images, tmp_path):
    vc = nd.VirtualCortex(model, image_size=16, batch_size=2, progress=False)
    table = pd.DataFrame({"stimulus_id": ["a", "b", "c"], "contrast": [0.1, 0.5, 1.0]})
    table.attrs["units"] = {"contrast": "1"}
    mem = vc.record(images, times=[0.0, 1.0, 2.0], stimulus_table=table)
    disk = vc.record(images, times=[0.0, 1.0, 2.0], out=tmp_path / "rec.zarr", stimulus_table=table)
    assert disk["block1"]["h"].chunks is not None  # lazily opened
    assert list(disk.stimulus_id.values) == ["a", "b", "c"] and list(disk.stimulus.values) == ["a", "b", "c"]
    np.testing.assert_array_equal(disk.contrast.values, [0.1, 0.5, 1.0])
    for k in (1, 2, 3):
        xr.testing.assert_identical(disk[f"block{k}"].to_dataset().load(), mem[f"block{k}"].to_dataset())
    assert disk.attrs["neurodcn_experiment"] == "record" and disk.attrs["onset_ms"] == 50.0
    assert not [p for p in tmp_path.iterdir() if p.name != "rec.zarr"]  # no temporary store left


def test_input_validation(model, images):
    vc = nd.VirtualCortex(model, image_size=16, progress=False)
    with pytest.raises(ValueError, match="images must have shape"):
        vc.record(images[:, :1], times=[1.0])
    with pytest.raises(ValueError, match="images must have shape"):
        vc.record(torch.rand(3, 16, 16), times=[1.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vc.record(images * 2, times=[1.0])
    with pytest.raises(ValueError, match="floating point"):
        vc.record((images * 255).to(torch.uint8), times=[1.0])
    for bad in ([2.5], [1.0, 0.5], [-0.1], []):
        with pytest.raises(ValueError, match="times must be"):
            vc.record(images, times=bad)
    with pytest.raises(ValueError, match="visual_degrees"):
        nd.VirtualCortex(model, visual_degrees=0)
    with pytest.raises(ValueError, match="batch_size"):
        nd.VirtualCortex(model, batch_size=0)
    with pytest.raises(ValueError, match="layers must name the modules of Linear"):
        nd.VirtualCortex(torch.nn.Linear(2, 2))
    resnet = nd.VirtualCortex(nd.build_model("resnet-blocks", width=4, seed=0), image_size=16, progress=False)
    with pytest.raises(ValueError, match=r"times must be None or \[0.0\] for discrete layers"):
        resnet.record(images, times=[1.0])


def test_repr_shows_the_model(model):
    vc = nd.VirtualCortex(model, image_size=16, progress=False)
    n_params = f"{sum(p.numel() for p in model.parameters()):,}"
    for text in (repr(vc), vc._repr_html_()):
        assert "dcn-ode" in text and n_params in text and "14 x 14" in text and "50-100 ms" in text
    assert vc._repr_html_().startswith("<div>")


def test_checkpoint_and_pretrained(model, images, tmp_path, monkeypatch):
    nd.save_checkpoint(model, tmp_path / "tiny.pt")
    monkeypatch.setattr(bundled, "bundled_dir", lambda kind: tmp_path)
    vc = nd.VirtualCortex.pretrained("tiny", image_size=16, progress=False)
    assert vc.card["model"]["name"] == "dcn-ode" and not vc.model.training
    direct = nd.VirtualCortex(model, image_size=16, progress=False)
    np.testing.assert_array_equal(
        vc.record(images, [1.0])["block2"]["h"].values, direct.record(images, [1.0])["block2"]["h"].values
    )
    with pytest.raises(ValueError, match=r"one of \['tiny'\]"):
        nd.VirtualCortex.pretrained("dcn-ode")


def test_stimulus_ids_are_unique_strings_of_their_set(model, images):
    vc = nd.VirtualCortex(model, image_size=16, progress=False)
    a = vc.record(images, times=[1.0])
    # default set name: a content hash of the images (hashlib on the float32 bytes, computed here independently)
    digest = hashlib.sha256(np.ascontiguousarray(images.numpy(), dtype=np.float32).tobytes()).hexdigest()[:16]
    assert a.stimulus_id.values.tolist() == [f"images-{digest}/{i:06d}" for i in range(3)]
    assert a.indexes["stimulus"].tolist() == a.stimulus_id.values.tolist()
    b = vc.record(images.flip(-1), times=[1.0])
    assert not set(a.stimulus_id.values.tolist()) & set(b.stimulus_id.values.tolist())  # other images, other ids
    named = vc.record(images, times=[1.0], stimulus_set="demo")
    assert named.stimulus_id.values.tolist() == ["demo/000000", "demo/000001", "demo/000002"]
    with pytest.raises(ValueError, match="unique"):
        vc.record(images, times=[1.0], stimulus_table=pd.DataFrame({"stimulus_id": ["a", "a", "b"]}))


def test_recordings_of_different_stimuli_combine_by_coords(model, images, tmp_path):
    vc = nd.VirtualCortex(model, image_size=16, progress=False)
    first, second = vc.record(images[:2], times=[0.0, 2.0]), vc.record(images[2:], times=[0.0, 2.0])
    files = [nd.save_dataset(r, tmp_path / f"rec{i}.nc") for i, r in enumerate((first, second))]
    for k in (1, 2, 3):
        parts = [r[f"block{k}"].to_dataset()[["h"]] for r in (first, second)]
        expected = xr.concat(parts, dim="stimulus").sortby("stimulus")
        # solver_step_time is ragged across recordings (each its own number of solver steps): left out
        opened = dict(group=f"block{k}", combine="by_coords", engine="h5netcdf", drop_variables="solver_step_time")
        with xr.open_mfdataset(files, **opened) as merged:
            assert merged.sizes["stimulus"] == 3 and merged.indexes["stimulus"].is_monotonic_increasing
            np.testing.assert_array_equal(merged.stimulus.values, expected.stimulus.values)
            np.testing.assert_array_equal(merged.h.values, expected.h.values)
    with xr.open_mfdataset(files, combine="by_coords", engine="h5netcdf") as root:
        ids = first.stimulus_id.values.tolist() + second.stimulus_id.values.tolist()
        assert root.stimulus_id.values.tolist() == sorted(ids) and len(set(ids)) == 3


def test_one_block_to_dataframe_spans_only_that_block(model, images):
    vc = nd.VirtualCortex(model, image_size=16, progress=False)
    rec = vc.record(images, times=[0.0, 1.0])
    frame = rec["block3"].to_dataset()[["h"]].to_dataframe()
    # stimulus x time x channel x y x x of block 3 alone (3 x 2 x 16 x 3 x 3), never the other blocks' dims
    assert len(frame) == 3 * 2 * 16 * 3 * 3
    assert list(frame.index.names) == ["stimulus", "time", "channel", "y", "x"]
    np.testing.assert_array_equal(frame["h"].to_numpy(), rec["block3"]["h"].values.ravel())
    assert all(rec[f"block{k}"].sizes["channel"] == 4 * 2 ** (k - 1) for k in (1, 2, 3))


def test_default_nwb_export_has_no_critical_finding(model, images, tmp_path):
    pytest.importorskip("pynwb")
    from nwbinspector import Importance, inspect_nwbfile

    vc = nd.VirtualCortex(model, image_size=16, progress=False)
    rec = vc.record(images[:2], times=[0.0, 1.0])  # 4 samples, 16 units in block 3
    messages = list(inspect_nwbfile(nwbfile_path=nd.to_nwb(rec, tmp_path / "rec.nwb")))
    assert not [m for m in messages if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]


def test_fixed_grid_times_are_flagged_and_between_them_h_is_linear(images):
    m = nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="rk4", step_size=0.5, adjoint=False))
    vc = nd.VirtualCortex(m, image_size=16, batch_size=2, progress=False)
    ds = vc.record(images, times=[0.0, 0.25, 0.5, 1.0, 1.3, 2.0])
    for k in (1, 2, 3):
        flags = ds[f"block{k}"]["solver_state"]
        assert flags.dims == ("stimulus", "time") and flags.attrs["interpolant"] == "linear"
        np.testing.assert_array_equal(flags.values, np.tile([1, 0, 1, 1, 0, 1], (3, 1)))
        np.testing.assert_allclose(ds[f"block{k}"]["solver_step_time"].values, np.tile([0, 0.5, 1, 1.5, 2], (3, 1)))
        h = ds[f"block{k}"]["h"]  # the flagged interpolant is what the values are: the mean of the two states
        np.testing.assert_allclose(h.sel(time=0.25), 0.5 * (h.sel(time=0.0) + h.sel(time=0.5)), atol=1e-6)


def test_adaptive_steps_are_reported_and_a_step_time_reads_as_a_state(model, images):
    vc = nd.VirtualCortex(model, image_size=16, batch_size=8, progress=False)
    ds = vc.record(images, times=[0.0, 1.0, 2.0])
    assert ds["block1"].solver_state.attrs["interpolant"] == "dense output"
    steps = ds["block1"].solver_step_time.values[0]
    steps = steps[~np.isnan(steps)]
    with torch.no_grad():  # image 0 solved alone: the same steps as inside the batch
        alone = solve_per_image(model.blocks[0].func, model.stem(images[:1]), [0.0, 2.0])
    assert len(steps) == int(alone.accepted[0]) + 1 and steps[0] == 0.0
    np.testing.assert_allclose(steps, alone.step_times[0], rtol=1e-4)  # float32 noise of batched convolutions
    np.testing.assert_array_equal(ds["block1"].solver_state.values[:, 0], 1)  # h(0) is the initial state
    inner = float(steps[1])  # requesting one of image 0's own step times: a state of image 0 only
    again = vc.record(images, times=[inner, 2.0])
    assert len(set(ds["block1"].solver_step_time.values[:, 1].tolist())) == len(images)  # every image its own
    np.testing.assert_array_equal(again["block1"].solver_state.values[:, 0], [1] + [0] * (len(images) - 1))
    np.testing.assert_array_equal(again["block1"].solver_step_time.values, ds["block1"].solver_step_time.values)


def test_a_recording_names_the_data_its_checkpoint_was_trained_on():
    vc = nd.VirtualCortex.pretrained("resnet-blocks-subset", progress=False)
    tree = vc.record(torch.rand(2, 3, 32, 32), times=[0.0])
    card = json.loads((bundled.bundled_dir("checkpoints") / "resnet-blocks-subset.card.json").read_text())
    assert tree.attrs["training_data"] == card["dataset"] and "subset" in card["dataset"]


def _interrupt_after_first_batch(monkeypatch):
    """record's sweep stops with Ctrl-C once its first batch is kept."""
    from neurodcn.cortex import record as record_module

    real = record_module.sweep_readout

    def sweep_readout(vc, x, times, desc, on_batch, **bounds):
        def first_then_ctrl_c(sl, done):
            on_batch(sl, done)
            raise KeyboardInterrupt

        return real(vc, x, times, desc, first_then_ctrl_c, **bounds)

    monkeypatch.setattr(record_module, "sweep_readout", sweep_readout)


def test_an_interrupted_streamed_record_resumes_to_the_uninterrupted_recording(model, tmp_path, monkeypatch):
    vc = nd.VirtualCortex(model, image_size=16, batch_size=2, progress=False)
    images, times = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(2)), [0.0, 0.7, 2.0]
    clean = vc.record(images, times, out=tmp_path / "clean.zarr")
    with monkeypatch.context() as m:
        _interrupt_after_first_batch(m)
        with pytest.raises(KeyboardInterrupt):
            vc.record(images, times, out=tmp_path / "rec.zarr")
    assert (tmp_path / "rec.partial.zarr").is_dir()
    resumed = vc.record(images, times, out=tmp_path / "rec.zarr", resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.zarr", "rec.zarr"]
    assert resumed.attrs["model"] == clean.attrs["model"] and "neurodcn_finished" not in resumed.attrs
    xr.testing.assert_identical(resumed.to_dataset().load().drop_attrs(deep=False),
                                clean.to_dataset().load().drop_attrs(deep=False))  # solver_failure; not `created`
    for k in (1, 2, 3):  # h, solver_state and solver_step_time (NaN-padded to the longest of all batches)
        xr.testing.assert_identical(resumed[f"block{k}"].to_dataset().load(), clean[f"block{k}"].to_dataset().load())


def test_resume_refuses_another_request_and_keeps_the_partial_store(model, images, tmp_path, monkeypatch):
    vc = nd.VirtualCortex(model, image_size=16, batch_size=2, progress=False)
    out, times = tmp_path / "rec.zarr", [0.0, 1.0]
    with pytest.raises(FileNotFoundError, match="no partial store"):
        vc.record(images, times, out=out, resume=True)
    with pytest.raises(ValueError, match="needs out and cannot be combined with overwrite=True"):
        vc.record(images, times, out=out, resume=True, overwrite=True)
    with pytest.raises(ValueError, match="needs out"):
        vc.record(images, times, resume=True)
    with monkeypatch.context() as m:
        _interrupt_after_first_batch(m)
        with pytest.raises(KeyboardInterrupt):
            vc.record(images, times, out=out)
    other = nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0, solver={"rtol": 1e-4}), image_size=16,
                             batch_size=2, progress=False)
    for cortex, imgs, t, what in ((vc, images, [0.0, 2.0], "its times differ"),
                                  (vc, images.flip(0), times, "its stimulus ids differ"),
                                  (other, images, times, r"provenance attrs \(model_config, solver_config\) differ")):
        with pytest.raises(ValueError, match=f"cannot resume the interrupted recording in .*rec.partial.zarr.*{what}"):
            cortex.record(imgs, t, out=out, resume=True)
    resumed = vc.record(images, times, out=out, resume=True)  # still there, and the lock was released
    xr.testing.assert_identical(resumed["block2"].to_dataset().load(), vc.record(images, times)["block2"].to_dataset())
