"""VirtualCortex on any nn.Module: a CNN and an ODE model written here (their own torchdiffeq call), the bundled
discrete models, and the pixel and untrained baselines each go through record -> rsa -> predictivity (the
user's models also physiology); recorded states checked against forward hooks written here."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
from scipy.spatial.distance import pdist
from torch import nn
from torchdiffeq import odeint

import neurodcn as nd
from neurodcn.schema import validate_dataset

pytest.importorskip("rsatoolbox")
pytest.importorskip("sklearn")

N, SIZE = 10, 16


class TinyCNN(nn.Module):
    """A user's CNN: 16 px -> conv (same) 16 -> pool 8 -> conv (3, stride 2, valid) 3 -> fc."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        self.fc = nn.Linear(16 * 3 * 3, 10)

    def forward(self, x):
        h = self.pool(F.relu(self.conv1(x)))
        return self.fc(F.relu(self.conv2(h)).flatten(1))


class Field(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, t, h):
        return torch.tanh(self.conv(h)) - h


class MyODEBlock(nn.Module):
    """A user's continuous block: her own field and her own torchdiffeq call (rk4 on a 0.25 grid, T = 1)."""

    T, step = 1.0, 0.25

    def __init__(self, c):
        super().__init__()
        self.f = Field(c)

    def trajectory(self, h0, times):
        self.step_times = torch.arange(0.0, self.T + self.step / 2, self.step)  # rk4's own grid states
        return odeint(self.f, h0, times, method="rk4", options={"step_size": self.step})

    def forward(self, h0):
        return self.trajectory(h0, torch.tensor([0.0, self.T]))[-1]


class MyODENet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block1 = MyODEBlock(4)
        self.down = nn.Conv2d(4, 8, 4, stride=2, padding=1)
        self.block2 = MyODEBlock(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        h = self.block2(self.down(self.block1(self.stem(x))))
        return self.head(h.mean((2, 3)))


def _stimuli(n=N, size=SIZE, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _hooked(model, names, x):
    """Outputs of the named modules in the model's own forward, by forward hooks written here."""
    got, modules = {}, dict(model.named_modules())
    handles = [modules[n].register_forward_hook(lambda m, a, out, n=n: got.__setitem__(n, out)) for n in names]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return got


def _compare(vc, x, times=None):
    """rsa against a brain whose RDM is block 1's own at the last time (similarity 1 there), and predictivity
    of a region that is block 1's centre units; returns (rsa, predictivity)."""
    rec = vc.record(x, times)
    h = rec["block1"]["h"].isel(time=-1)
    brain_rdm = pdist(h.values.reshape(len(x), -1).astype(np.float64), "correlation")
    rsa = vc.rsa(x, {"V1": brain_rdm}, times=times, pool=None, n_boot=5, method="spearman")
    assert rsa["similarity"].sel(block="block1", region="V1").values[-1] == pytest.approx(1.0, abs=1e-6)
    units = h.isel(y=h.sizes["y"] // 2, x=h.sizes["x"] // 2).values
    rng = np.random.default_rng(0)
    da = xr.DataArray(units + 0.01 * rng.normal(size=units.shape), dims=("presentation", "neuroid"),
                      coords={"stimulus_id": ("presentation", np.arange(len(x)))})
    pred = vc.predictivity(x, {"V1": da}, times=times, pool=None, n_splits=2, n_boot=5)
    assert pred["median_r"].dims[:2] == ("block", "time") and np.isfinite(pred["median_r"].values).all()
    validate_dataset(rsa)
    validate_dataset(pred)
    return rec, rsa, pred


SMALL_PHYSIOLOGY = dict(orientations=[0.0, 45.0, 90.0, 135.0], spatial_frequencies=[0.5, 1.0], phases=[0.0, 90.0],
                        aperture_diameters=[2.0, 4.0], size_contrasts=[1.0], contrasts=[0.0, 0.5, 1.0])


def test_a_users_cnn_records_its_named_layers_on_one_time_point():
    model, x = TinyCNN().eval(), _stimuli()
    vc = nd.VirtualCortex(model, layers=["conv1", "conv2", "fc"], image_size=SIZE, visual_degrees=4.0,
                          progress=False)
    rec, rsa, pred = _compare(vc, x)
    validate_dataset(rec)
    hooked = _hooked(model, ["conv1", "conv2", "fc"], x)
    for k, name in enumerate(["conv1", "conv2", "fc"], start=1):
        group = rec[f"block{k}"]
        assert group.attrs["layer"] == name and group.attrs["time_axis"] == "discrete"
        want = hooked[name].numpy()
        np.testing.assert_array_equal(group["h"].isel(time=0).values, want.reshape(want.shape[0], -1, *(
            want.shape[2:] if want.ndim == 4 else (1, 1))))
        assert "solver_state" not in group  # no solver in a feed-forward layer
    # one time point, model time 0 = onset_ms
    np.testing.assert_array_equal(rec["time"].values, [0.0])
    np.testing.assert_array_equal(rec["time_ms"].values, [vc.onset_ms])
    assert rsa.sizes["time"] == 1 and pred.sizes["time"] == 1
    # map geometry by hand (0.25 deg/px, image centre at pixel 7.5): conv1 ("same") puts map pixel j at input
    # pixel j; MaxPool(2) at 2j + 0.5; conv2 (3, stride 2, valid) on the pooled map at 2 (2j + 1) + 0.5 = 4j + 2.5
    deg = 4.0 / SIZE
    np.testing.assert_allclose(rec["block1"]["x_deg"].values, (np.arange(16) - 7.5) * deg)
    np.testing.assert_allclose(rec["block2"]["x_deg"].values, (4 * np.arange(3) + 2.5 - 7.5) * deg)
    np.testing.assert_allclose(rec["block2"]["y_deg"].values, (7.5 - (4 * np.arange(3) + 2.5)) * deg)
    assert [rec[f"block{k}"].attrs["map_geometry"] for k in (1, 2, 3)] == ["walked", "walked", "centred"]
    np.testing.assert_array_equal(rec["block3"]["x_deg"].values, [0.0])  # a vector: 1 x 1 map at the centre
    curves, fits = vc.physiology(**SMALL_PHYSIOLOGY)
    assert curves.sizes["unit"] == 8 + 16 + 10 and curves.sizes["time"] == 1
    assert np.isnan(fits["latency_ms"].values).all()  # one time point: no time course, no latency
    with pytest.raises(ValueError, match="no convolution layers|SRF"):
        vc.receptive_fields()


def test_a_users_ode_model_marks_its_solver_states():
    model, x = MyODENet().eval(), _stimuli()
    vc = nd.VirtualCortex(model, layers=["block1", "block2"], image_size=SIZE, progress=False)
    times = [0.0, 0.25, 0.6, 1.0]
    rec, rsa, pred = _compare(vc, x, times)
    hooked = _hooked(model, ["stem", "down", "block1", "block2"], x)
    for k, (block, before) in enumerate([("block1", "stem"), ("block2", "down")], start=1):
        h = rec[f"block{k}"]["h"]
        assert rec[f"block{k}"].attrs["time_axis"] == "continuous"
        np.testing.assert_allclose(h.sel(time=0.0).values, hooked[before].numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(h.sel(time=1.0).values, hooked[block].numpy(), rtol=1e-5, atol=1e-6)
        # 0, 0.25 and 1 are rk4 grid states, 0.6 lies between 0.5 and 0.75: interpolated
        np.testing.assert_array_equal(rec[f"block{k}"]["solver_state"].values, np.tile([1, 1, 0, 1], (N, 1)))
        np.testing.assert_array_equal(rec[f"block{k}"]["solver_step_time"].values[0], np.arange(0, 1.01, 0.25))
    np.testing.assert_allclose(rec["time_ms"].values, vc.onset_ms + vc.ms_per_unit_time * np.array(times))
    assert rec.attrs["t_end"] == 1.0 and rsa.sizes["time"] == 4 and pred.sizes["time"] == 4
    curves, fits = vc.physiology(times=[0.0, 0.5, 1.0], **SMALL_PHYSIOLOGY)
    assert curves.sizes["unit"] == 4 + 8 and list(curves["time"].values) == [0.0, 0.5, 1.0]
    assert fits.sizes["unit"] == 12


class UnrolledRNN(nn.Module):
    """A recurrent block unrolled over 4 steps, the step index as model time: every step is a state."""

    T, interpolant = 4.0, "none (integer steps only)"

    def __init__(self, c):
        super().__init__()
        self.cell = nn.Conv2d(c, c, 3, padding=1)

    def trajectory(self, h0, times):
        if not torch.equal(times, times.round()):
            raise ValueError(f"times must be whole steps, got {times.tolist()}")
        states = [h0]
        for _ in range(int(self.T)):
            states.append(torch.relu(self.cell(states[-1])) + h0)
        self.step_times = torch.arange(self.T + 1)
        return torch.stack(states)[times.long()]

    def forward(self, h0):
        return self.trajectory(h0, torch.tensor([0.0, self.T]))[-1]


def test_a_recurrent_network_unrolled_over_steps_records_each_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), UnrolledRNN(4)).eval()
    vc = nd.VirtualCortex(model, image_size=SIZE, ms_per_unit_time=10.0, progress=False)
    x = _stimuli(n=3)
    rec = vc.record(x, times=[0.0, 1.0, 2.0, 4.0])
    with torch.no_grad():  # the unroll by hand
        h0 = model[0](x)
        h = [h0]
        for _ in range(4):
            h.append(torch.relu(model[1].cell(h[-1])) + h0)
    for t in (0, 1, 2, 4):
        np.testing.assert_allclose(rec["block1"]["h"].sel(time=float(t)).values, h[t].numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(rec["block1"]["solver_state"].values, 1)  # every step is a state
    np.testing.assert_array_equal(rec.time_ms.values, [50.0, 60.0, 70.0, 90.0])
    assert rec["block1"]["solver_state"].attrs["interpolant"] == "none (integer steps only)"


class SRFNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.block = nn.Sequential(nd.SRFConv2d(3, 4, order=2), nn.ReLU(), nd.SRFConv2d(4, 4, order=2, stride=2))
        self.top = nd.SRFConv2d(4, 8, order=2)

    def forward(self, x):
        return self.top(self.block(x))


def test_receptive_fields_of_a_users_srf_layers():
    vc = nd.VirtualCortex(SRFNet(), layers=["block", "top"], image_size=SIZE, visual_degrees=4.0, progress=False)
    ds = vc.receptive_fields()
    layers = [vc.model.block[0], vc.model.block[2], vc.model.top]
    assert list(ds["layer_name"].values) == ["block.0", "block.2", "top"]
    assert list(ds["block"].values) == [1, 1, 2] and list(ds["conv"].values) == [1, 2, 1]
    np.testing.assert_array_equal(ds["map_stride_px"].values, [1.0, 1.0, 2.0])  # top filters the stride-2 map
    np.testing.assert_allclose(ds["sigma_px"].values, [m.sigma_summary() for m in layers])
    np.testing.assert_allclose(ds["sigma_deg"].values, ds["sigma_px"].values * [1, 1, 2] * 4.0 / SIZE)


def test_default_layers_are_the_continuous_blocks_else_the_convolutions():
    assert [layer.name for layer in nd.VirtualCortex(MyODENet(), image_size=SIZE).readout.layers] == ["block1",
                                                                                                     "block2"]
    assert [layer.name for layer in nd.VirtualCortex(TinyCNN(), image_size=SIZE).readout.layers] == ["conv1", "conv2"]


def test_layers_are_checked():
    model = MyODENet()
    with pytest.raises(ValueError, match=r"layers \['nope'\] are not modules of MyODENet"):
        nd.VirtualCortex(model, layers=["nope"], image_size=SIZE)
    with pytest.raises(ValueError, match="all continuous blocks or all discrete layers"):
        nd.VirtualCortex(model, layers=["stem", "block1"], image_size=SIZE)
    with pytest.raises(ValueError, match="non-empty list of distinct module names"):
        nd.VirtualCortex(model, layers="stem", image_size=SIZE)
    cnn = TinyCNN()
    cnn.forward = lambda x: cnn.pool(cnn.pool(cnn.conv1(x)))  # one module at two places has no one output
    with pytest.raises(ValueError, match="'pool' ran more than once"):
        nd.VirtualCortex(cnn, layers=["pool"], image_size=SIZE)
    lstm = nn.Sequential(nn.Flatten(2), nn.LSTM(SIZE * SIZE, 4))  # returns a tuple (output, (h, c))
    with pytest.raises(ValueError, match=r"layer '1' must return one tensor \[N, C, H, W\] or \[N, F\]"):
        nd.VirtualCortex(lstm, layers=["1"], image_size=SIZE)
    vc = nd.VirtualCortex(TinyCNN(), layers=["conv1"], image_size=SIZE, progress=False)
    with pytest.raises(ValueError, match="contrast_sweep needs a staged classifier"):
        vc.contrast_sweep(_stimuli(2), [0, 1], [1.0])
    with pytest.raises(ValueError, match="pattern_completion needs a staged classifier"):
        vc.pattern_completion(_stimuli(2), [0, 1], [0])
    with pytest.raises(ValueError, match=r"times must be None or \[0.0\] for discrete layers"):
        vc.record(_stimuli(2), times=[0.0, 1.0])
    with pytest.raises(ValueError, match="name must be one of"):
        nd.VirtualCortex.untrained("no-such-model")


@pytest.mark.parametrize("name", ["resnet-blocks", "convnet", "ccnet"])
def test_bundled_discrete_models_record_and_compare(name):
    vc = nd.VirtualCortex.pretrained(name, progress=False)
    x = _stimuli(size=32)
    rec, rsa, pred = _compare(vc, x)
    assert rec["time"].values.tolist() == [0.0]
    layers = [rec[b].attrs["layer"] for b in rec.children]
    want = {"resnet-blocks": ["blocks.0", "blocks.1", "blocks.2"], "convnet": [f"convs.{2 * i}" for i in range(8)],
            "ccnet": [f"layers.{i}" for i in range(8)]}[name]
    assert layers == want
    hooked = _hooked(vc.model, want[-1:], x)
    np.testing.assert_allclose(rec[f"block{len(want)}"]["h"].isel(time=0).values, hooked[want[-1]].numpy(),
                               rtol=1e-5, atol=1e-6)


def test_pixel_baseline_records_the_image_itself():
    vc = nd.VirtualCortex.pixels(image_size=SIZE, progress=False)
    x = _stimuli()
    rec, rsa, _ = _compare(vc, x)
    np.testing.assert_array_equal(rec["block1"]["h"].isel(time=0).values, x.numpy())
    assert rec.attrs["model"] == "pixels" and rec["block1"].attrs["map_geometry"] == "walked"
    np.testing.assert_allclose(rec["block1"]["x_deg"].values, (np.arange(SIZE) - 7.5) * 8.0 / SIZE)
    with pytest.raises(ValueError, match="time_bins must be given for a recording with one time point"):
        nd.to_assembly(rec, {"block1": "V1"})
    assembly = nd.to_assembly(rec, {"block1": "V1"}, time_bins=[(50, 51)])
    assert assembly.sizes["time_bin"] == 1 and assembly.sizes["presentation"] == N


def test_untrained_dcn_ode_is_the_zoo_build_with_its_seed():
    vc = nd.VirtualCortex.untrained("dcn-ode", image_size=SIZE, progress=False)
    trained = nd.VirtualCortex.pretrained("dcn-ode", progress=False)
    fresh = nd.build_model(**dict(trained.model.config, seed=0))
    for (k, a), b in zip(vc.model.state_dict().items(), fresh.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)
    differs = [not torch.equal(a, b) for a, b in zip(vc.model.parameters(), trained.model.parameters(), strict=True)]
    assert any(differs)
    assert "untrained" in vc.name
    times = [0.0, 1.0, 2.0]
    rec, rsa, pred = _compare(vc, _stimuli(n=8), times)
    assert rsa.sizes["time"] == 3 and rec["block1"]["solver_state"].dims == ("stimulus", "time")
