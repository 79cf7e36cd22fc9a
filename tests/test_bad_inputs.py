"""Bad inputs across the public API: each must raise ValueError or TypeError at the boundary, naming the
argument, showing the value and saying what is allowed; never a RuntimeError from torch, an OSError from h5py,
a hang or a silent wrong result.

Each case is (call, argument name, text of the value, text of what is allowed). The table of what is tried is
in README.md, section "Reliability".
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

import neurodcn as nd
from neurodcn.analysis.biology import prf_size, reference_histogram
from neurodcn.analysis.compare.predictivity import ridge_predictivity
from neurodcn.analysis.compare.rsa import check_bootstrap
from neurodcn.analysis.physiology_fits import bandwidth, peak_location
from neurodcn.analysis.property_score import score_property
from neurodcn.cli import register_command
from neurodcn.cortex.compare import block_features
from neurodcn.cortex.completion import mask_slices
from neurodcn.cortex.faithfulness import solver_agreement
from neurodcn.cortex.rf_size import theoretical_rf
from neurodcn.data.augment import crop_flip, random_crop_flip
from neurodcn.data.bundled import bundled_dir
from neurodcn.data.cifar10 import CIFAR10, batches, epoch_generator, num_batches, per_class_subset, train_val_split
from neurodcn.data.recordings import load_cowley2023_v4
from neurodcn.demo import run_demo
from neurodcn.io.atomic import check_destination
from neurodcn.io.files import ZarrStreamWriter
from neurodcn.nn.ccnet import sample_scales
from neurodcn.nn.dynamics import ODEFunc
from neurodcn.nn.reconstruction import build_reconstruction
from neurodcn.nn.regularisation import regularised
from neurodcn.paper import fig3_sigma, fig4_pattern_completion, fig5_contrast, solver_faithfulness, table1_parameters
from neurodcn.paper.inputs import load_cortex
from neurodcn.paper.results import Outputs
from neurodcn.schema import stamp_provenance, stimulus_coords, validate_dataset
from neurodcn.train.checkpoint import load_training_state, save_training_state
from neurodcn.train.trainer import TrainConfig, evaluate, train
from neurodcn.validate import ArgumentTypeError

EULER = {"method": "euler", "step_size": 1.0}


@functools.cache
def _model():
    torch.manual_seed(0)
    return nd.build_model("odenet", width=4, solver=EULER)


@functools.cache
def _resnet():
    torch.manual_seed(0)
    return nd.build_model("resnet-blocks", width=4)


@functools.cache
def _vc():
    return nd.VirtualCortex(_model(), progress=False, batch_size=4)


def _images(n=2, c=3, h=32, w=32, dtype=torch.float32):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(0)).to(dtype)


def _ds():
    return xr.Dataset({"h": ("stimulus", np.arange(3.0), {"long_name": "h", "units": "1"})})


def _cifar():
    return CIFAR10(torch.zeros(20, 3, 32, 32), torch.arange(20) % 10, tuple("abcdefghij"), "synthetic")


def _record_ds():
    from cortex_fixtures import make_record_dataset

    return make_record_dataset(n_stimuli=2, n_times=3, blocks=((2, 2, 2),))


NAN, INF = float("nan"), float("inf")


def _eval(text):
    return eval(text, {"nan": NAN, "inf": INF})

CASES = []


def case(id_, call, name, value, allowed):
    CASES.append(pytest.param(call, name, value, allowed, id=id_))


# ------------------------------------------------------------------------------------------ SolverConfig
for field, bad, allowed in [
    ("method", "'rk45'", "one of"), ("rtol", "0", "> 0"), ("rtol", "-0.001", "> 0"), ("rtol", "nan", "finite"),
    ("atol", "inf", "finite"), ("atol", "'1e-3'", "number"), ("T", "0", "> 0"), ("T", "True", "number"),
    ("adjoint", "'no'", "True or False"), ("adjoint", "1", "True or False"), ("seminorm", "None", "True or False"),
    ("max_num_steps", "0", "an integer >= 1"), ("max_num_steps", "2.5", "an integer >= 1"),
]:
    case(f"SolverConfig-{field}={bad}", lambda f=field, b=bad: nd.SolverConfig(**{f: _eval(b)}), field, bad, allowed)
case("SolverConfig-step_size-adaptive", lambda: nd.SolverConfig(step_size=0.1), "step_size", "0.1", "fixed-grid")
case("SolverConfig-step_size-missing", lambda: nd.SolverConfig(method="euler"), "step_size", "euler", "required")
case("SolverConfig-step_size-negative", lambda: nd.SolverConfig(method="rk4", step_size=-1.0), "step_size", "-1.0",
     "> 0")
case("SolverConfig-from_dict-unknown", lambda: nd.SolverConfig.from_dict({"mthod": "euler"}), "mthod", "mthod",
     "known")
case("SolverConfig-coerce-str", lambda: nd.SolverConfig.coerce("dopri5"), "solver", "str", "SolverConfig")

# ------------------------------------------------------------------------------------------ TrainConfig
for field, bad, allowed in [
    ("epochs", "0", ">= 1"), ("epochs", "2.0", "integer"), ("batch_size", "0", ">= 1"), ("lr", "-0.1", "> 0"),
    ("momentum", "-0.5", ">= 0"), ("weight_decay", "nan", "finite"), ("gamma", "0", "> 0"),
    ("eval_batch_size", "True", "integer"), ("augment", "'yes'", "True or False"), ("crop_padding", "-1", ">= 0"),
    ("seed", "-1", ">= 0"), ("clip_sigma", "0", "True or False"), ("grad_clip", "0", "> 0"),
    ("checkpoint_every", "0", ">= 1"),
]:
    case(f"TrainConfig-{field}={bad}", lambda f=field, b=bad: TrainConfig(**{f: _eval(b)}), field, bad, allowed)
case("TrainConfig-milestones", lambda: TrainConfig(epochs=10, milestones=(5, 3)), "milestones", "(5, 3)",
     "increasing")

# ------------------------------------------------------------------------------------------ build_model
case("build_model-name", lambda: nd.build_model("resnet-9000"), "name", "resnet-9000", "one of ['dcn-ode'")
case("build_model-name-type", lambda: nd.build_model(3), "name", "3", "one of")
case("build_model-width-0", lambda: nd.build_model("odenet", width=0), "width", "0", ">= 1")
case("build_model-width-float", lambda: nd.build_model("odenet", width=4.5), "width", "4.5", "integer")
case("build_model-num_classes", lambda: nd.build_model("odenet", num_classes=0), "num_classes", "0", ">= 1")
case("build_model-in_channels", lambda: nd.build_model("odenet", in_channels=True), "in_channels", "True",
     "integer >= 1")
case("build_model-unknown-option", lambda: nd.build_model("odenet", widht=4), "widht", "widht", "options")
case("build_model-solver-type", lambda: nd.build_model("odenet", solver="euler"), "solver", "str", "SolverConfig")
case("build_model-act", lambda: nd.build_model("odenet", act="tanhh"), "act", "tanhh", "one of")
case("build_model-gn_groups", lambda: nd.build_model("odenet", gn_groups="max"), "gn_groups", "max", "one of")
case("build_model-time_mode", lambda: nd.build_model("dcn-ode", time_mode="linear"), "time_mode", "linear",
     "one of")
case("build_model-cache_kernels", lambda: nd.build_model("dcn-ode", cache_kernels="no"), "cache_kernels", "'no'",
     "True or False")
case("build_model-order", lambda: nd.build_model("dcn-ode", order=-1), "order", "-1", "integer")
case("build_model-sigma_range", lambda: nd.build_model("dcn-ode", sigma_range=("a", 1.0)), "sigma_range", "'a'",
     "finite number")
case("register_model-builder", lambda: nd.register_model("mine", 3), "builder", "int", "callable")
case("register_model-name", lambda: nd.register_model("", lambda: None), "name", "''", "non-empty")
case("register_model-replace", lambda: nd.register_model("mine", lambda: None, replace="yes"), "replace", "'yes'",
     "True or False")

# ------------------------------------------------------------------------------------------ model inputs
case("model-ndim", lambda: _model()(torch.rand(3, 32, 32)), "x", "(3, 32, 32)", "[N, 3, H, W]")
case("model-channels", lambda: _model()(torch.rand(1, 1, 32, 32)), "x", "(1, 1, 32, 32)", "3 channels")
case("model-dtype-int", lambda: _model()(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)), "x", "uint8",
     "floating")
case("model-dtype-double", lambda: _model()(torch.zeros(1, 3, 32, 32, dtype=torch.float64)), "x", "float64",
     "float32")
case("model-too-small", lambda: _model()(torch.rand(1, 3, 4, 4)), "x", "(1, 3, 4, 4)", "at least")
case("model-numpy", lambda: _model()(np.zeros((1, 3, 32, 32), np.float32)), "x", "ndarray", "torch.Tensor")
case("resnet-too-small", lambda: _resnet()(torch.rand(1, 3, 2, 2)), "x", "(1, 3, 2, 2)", "at least")
case("resnet-channels", lambda: _resnet()(torch.rand(1, 4, 32, 32)), "x", "(1, 4, 32, 32)", "3 channels")

# ------------------------------------------------------------------------------------------ SRFConv2d
for kw, name, value, allowed in [
    ({"in_channels": 0}, "in_channels", "0", ">= 1"),
    ({"out_channels": 2.0}, "out_channels", "2.0", "integer >= 1"),
    ({"order": -1}, "order", "-1", "integer"),
    ({"order": "2"}, "order", "'2'", "integer"),
    ({"sigma_mode": "each"}, "sigma_mode", "each", "one of"),
    ({"time_param": "tau"}, "time_param", "tau", "one of"),
    ({"stride": 0}, "stride", "0", ">= 1"),
    ({"padding": "full"}, "padding", "full", "same"),
    ({"padding": -1}, "padding", "-1", "same"),
    ({"sigma_range": (2.0, 1.0)}, "sigma_range", "(2.0, 1.0)", "0 <"),
    ({"sigma_range": (0.0, 1.0)}, "sigma_range", "(0.0, 1.0)", "0 <"),
    ({"kernel_size": 4, "sigma_mode": "per_pair"}, "kernel_size", "4", "odd"),
    ({"path": "fft"}, "path", "fft", "one of"),
]:
    case(f"SRFConv2d-{name}={value}", lambda kw=kw: nd.SRFConv2d(**{"in_channels": 2, "out_channels": 2, **kw}),
         name, value, allowed)


@functools.cache
def _srf():
    return nd.SRFConv2d(2, 3)


case("SRFConv2d-forward-ndim", lambda: _srf()(torch.rand(2, 8, 8)), "x", "(2, 8, 8)", "[N, 2, H, W]")
case("SRFConv2d-forward-channels", lambda: _srf()(torch.rand(1, 3, 8, 8)), "x", "(1, 3, 8, 8)", "2 channels")
case("SRFConv2d-forward-dtype", lambda: _srf()(torch.zeros(1, 2, 8, 8, dtype=torch.int64)), "x", "int64",
     "floating")
case("SRFConv2d-forward-list", lambda: _srf()([[1.0]]), "x", "list", "torch.Tensor")

# ------------------------------------------------------------------------------------------ ContinuousConv2d
for kw, name, value, allowed in [
    ({"in_channels": -1}, "in_channels", "-1", "an integer >= 1"),
    ({"kernel": "gabor"}, "kernel", "gabor", "one of"),
    ({"support": 0}, "support", "0", "> 0"),
    ({"support": NAN}, "support", "nan", "finite"),
    ({"padding": "reflect101"}, "padding", "reflect101", "one of"),
    ({"path": "fft"}, "path", "fft", "one of"),
    ({"chunk_size": 0}, "chunk_size", "0", "an integer >= 1"),
    ({"max_period": 0}, "max_period", "0", "an integer >= 1"),
    ({"bias": "yes"}, "bias", "'yes'", "True or False"),
]:
    case(f"ContinuousConv2d-{name}={value}",
         lambda kw=kw: nd.ContinuousConv2d(**{"in_channels": 2, "out_channels": 2, **kw}), name, value, allowed)


@functools.cache
def _cc():
    return nd.ContinuousConv2d(2, 2, kernel="njet", support=2)


case("ContinuousConv2d-scale-0", lambda: _cc()(torch.rand(1, 2, 8, 8), scale=0.0), "scale", "0.0", "> 0")
case("ContinuousConv2d-scale-huge", lambda: _cc()(torch.rand(1, 2, 8, 8), scale=1e5), "scale", "100000.0",
     "output")
case("ContinuousConv2d-scale-inf", lambda: _cc()(torch.rand(1, 2, 8, 8), scale=INF), "scale", "inf", "finite")
case("ContinuousConv2d-out_size-0", lambda: _cc()(torch.rand(1, 2, 8, 8), out_size=0), "out_size", "0",
     "an integer >= 1")
case("ContinuousConv2d-out_size-huge", lambda: _cc()(torch.rand(1, 2, 8, 8), out_size=10**6), "out_size",
     "1000000", "output")
case("ContinuousConv2d-channels", lambda: _cc()(torch.rand(1, 3, 8, 8)), "x", "3 channels", "in_channels is 2")
case("ContinuousConv2d-ndim", lambda: _cc()(torch.rand(8, 8)), "x", "(8, 8)", "[B, C, H, W]")

# ------------------------------------------------------------------------------------------ resize
X = torch.rand(1, 1, 8, 8)
for kw, name, value, allowed in [
    ({"scale": 0.0}, "scale", "0.0", "> 0"),
    ({"scale": -2.0}, "scale", "-2.0", "> 0"),
    ({"scale": NAN}, "scale", "nan", "finite"),
    ({"scale": 1e5}, "scale", "100000.0", "output"),
    ({"scale": 1e300}, "scale", "1e+300", "output"),
    ({"scale": "2"}, "scale", "'2'", "number"),
    ({"out_size": (0, 4)}, "out_size", "0", "an integer >= 1"),
    ({"out_size": 10**7}, "out_size", "10000000", "output"),
    ({"out_size": 2.5}, "out_size", "2.5", "integer"),
    ({"scale": 2.0, "kernel": "bicubic"}, "kernel", "bicubic", "one of"),
    ({"scale": 2.0, "antialias": "yes"}, "antialias", "'yes'", "True or False"),
    ({"scale": 2.0, "padding": "wrap"}, "padding", "wrap", "one of"),
    ({"scale": 2.0, "path": "fft"}, "path", "fft", "one of"),
    ({"scale": 2.0, "cubic_a": NAN}, "cubic_a", "nan", "finite"),
]:
    case(f"resize-{name}={value}", lambda kw=kw: nd.resize(X, **kw), name, value, allowed)
case("resize-scale-output-size", lambda: nd.resize(X, scale=1e5), "scale", "on 8 px gives 800000 px",
     "at most 16384 px per axis")
case("resize-x-ndim", lambda: nd.resize(torch.rand(8), scale=2.0), "x", "(8,)", "at least 2 dimensions")
case("resize-x-int", lambda: nd.resize(torch.zeros(1, 1, 8, 8, dtype=torch.int32), scale=2.0), "x", "int32",
     "floating")
case("resize-x-numpy", lambda: nd.resize(np.zeros((1, 1, 8, 8)), scale=2.0), "x", "ndarray", "tensor")

# ------------------------------------------------------------------------------------------ VirtualCortex
for kw, name, value, allowed in [
    ({"visual_degrees": 0.0}, "visual_degrees", "0.0", "> 0"),
    ({"visual_degrees": NAN}, "visual_degrees", "nan", "finite"),
    ({"ms_per_unit_time": -1.0}, "ms_per_unit_time", "-1.0", "> 0"),
    ({"onset_ms": INF}, "onset_ms", "inf", "finite"),
    ({"batch_size": 0}, "batch_size", "0", ">= 1"),
    ({"batch_size": 2.0}, "batch_size", "2.0", "integer"),
    ({"progress": "no"}, "progress", "'no'", "True or False"),
    ({"image_size": 4}, "image_size", "4", "at least"),
    ({"image_size": 0}, "image_size", "0", ">= 1"),
    ({"image_size": (32, 9)}, "image_size", "(32, 9)", "at least 10 x 10"),
    ({"image_size": (32, 32, 3)}, "image_size", "(32, 32, 3)", "pair"),
    ({"image_size": "32"}, "image_size", "'32'", "integer"),
]:
    case(f"VirtualCortex-{name}={value}", lambda kw=kw: nd.VirtualCortex(_model(), **kw), name, value, allowed)
case("VirtualCortex-model", lambda: nd.VirtualCortex(torch.nn.Linear(2, 2)), "layers", "Linear", "named_modules")
case("VirtualCortex-model-type", lambda: nd.VirtualCortex("odenet"), "model", "str", "nn.Module")
case("VirtualCortex-pretrained", lambda: nd.VirtualCortex.pretrained("alexnet"), "name", "alexnet", "one of")

T = np.linspace(0.0, 2.0, 3)
for kw, name, value, allowed in [
    ({"images": torch.rand(2, 3, 0, 16)}, "images", "[2, 3, 0, 16]", "[N >= 1, 3, H, W]"),  # other H x W: resized
    ({"images": torch.rand(2, 1, 32, 32)}, "images", "[2, 1, 32, 32]", "[N >= 1, 3, H, W]"),
    ({"images": torch.rand(3, 32, 32)}, "images", "[3, 32, 32]", "[N >= 1, 3, H, W]"),
    ({"images": _images() * 2}, "images", "max", "[0, 1]"),
    ({"images": _images() - 0.5}, "images", "min", "[0, 1]"),
    ({"images": torch.full((1, 3, 32, 32), NAN)}, "images", "nan", "finite"),
    ({"images": _images().to(torch.int64)}, "images", "int64", "float"),
    ({"images": torch.rand(0, 3, 32, 32)}, "images", "[0, 3, 32, 32]", "N >= 1"),
    ({"times": [0.0, 3.0]}, "times", "3.0", "[0, 2"),
    ({"times": [1.0, 0.5]}, "times", "[1.0, 0.5]", "increasing"),
    ({"times": []}, "times", "[]", "non-empty"),
    ({"times": [NAN]}, "times", "nan", "strictly increasing"),
    ({"times": [-0.1]}, "times", "-0.1", "[0, 2"),
    ({"out": "rec.nc"}, "path", "rec.nc", ".zarr"),
    ({"out": 5}, "path", "5", "os.PathLike"),
    ({"stimulus_table": [1, 2]}, "stimulus_table", "list", "DataFrame"),
    ({"stimulus_table": pd.DataFrame({"stimulus_id": [0]})}, "stimulus_table", "length 1", "one row per image"),
]:
    case(f"record-{name}-{value}", lambda kw=kw: _vc().record(**{"images": _images(), "times": T, **kw}), name,
         value, allowed)

for kw, name, value, allowed in [
    ({"labels": [0]}, "labels", "1", "2"),
    ({"labels": [0, 10]}, "labels", "max 10", "[0, 10)"),
    ({"labels": [0.5, 1]}, "labels", "float64", "integers"),
    ({"contrasts": [0.0]}, "contrasts", "0.0", "> 0"),
    ({"contrasts": []}, "contrasts", "[]", "non-empty"),
    ({"contrasts": [0.5, 0.5]}, "contrasts", "0.5", "distinct"),
    ({"contrasts": [NAN]}, "contrasts", "nan", "finite"),
    ({"regime": "log"}, "regime", "log", "one of"),
    ({"per_image": 1}, "per_image", "1", "True or False"),
    ({"max_num_steps": 0}, "max_num_steps", "0", ">= 1"),
    ({"max_num_steps": 1.5}, "max_num_steps", "1.5", "integer"),
    ({"time_budget_s": -1.0}, "time_budget_s", "-1.0", "> 0"),
    ({"time_budget_s": "1"}, "time_budget_s", "'1'", "finite number"),
    ({"solve_budget_s": NAN}, "solve_budget_s", "nan", "finite"),
    ({"solve_budget_s": 0}, "solve_budget_s", "0", "> 0"),
]:
    case(f"contrast_sweep-{name}-{value}",
         lambda kw=kw: _vc().contrast_sweep(**{"images": _images(), "labels": [0, 1], "contrasts": [1.0], **kw}),
         name, value, allowed)
case("contrast_sweep-regime-resnet",
     lambda: nd.VirtualCortex(_resnet(), progress=False).contrast_sweep(_images(), [0, 1], [1.0], "scale_all"),
     "regime", "scale_all", "naive")

for kw, name, value, allowed in [
    ({"mask_sizes": [-1]}, "mask_sizes", "-1", "[0, 32]"),
    ({"mask_sizes": [40]}, "mask_sizes", "40", "[0, 32]"),
    ({"mask_sizes": [2.5]}, "mask_sizes", "2.5", "integers"),
    ({"mask_sizes": []}, "mask_sizes", "[]", "[0, 32]"),
    ({"mask_sizes": [4, 4]}, "mask_sizes", "[4, 4]", "distinct"),
    ({"max_num_steps": -3}, "max_num_steps", "-3", ">= 1"),
    ({"time_budget_s": NAN}, "time_budget_s", "nan", "finite"),
    ({"labels": [0, 1, 2]}, "labels", "3", "2"),
    ({"times": [5.0]}, "times", "5.0", "[0, 2"),
]:
    case(f"pattern_completion-{name}-{value}",
         lambda kw=kw: _vc().pattern_completion(**{"images": _images(), "labels": [0, 1], "mask_sizes": [4], **kw}),
         name, value, allowed)
case("physiology-blocks", lambda: _vc().physiology(blocks=[7]), "blocks", "7", "block numbers among")
case("physiology-min_response", lambda: _vc().physiology(min_response=-1.0), "min_response", "-1.0", ">= 0")

# ------------------------------------------------------------------------------------------ files
case("save_dataset-suffix", lambda: nd.save_dataset(_ds(), "out.h5"), "path", "out.h5", ".nc")
case("save_dataset-path-type", lambda: nd.save_dataset(_ds(), 3), "path", "3", "os.PathLike")
case("save_dataset-ds", lambda: nd.save_dataset({"h": 1}, "out.nc"), "ds", "dict", "xarray.Dataset")
case("save_dataset-overwrite", lambda: nd.save_dataset(_ds(), "out.nc", overwrite="no"), "overwrite", "'no'",
     "True or False")
case("save_dataset-validate", lambda: nd.save_dataset(_ds(), "out.nc", validate=1), "validate", "1",
     "True or False")
case("load_dataset-suffix", lambda: nd.load_dataset("data.csv"), "path", "data.csv", ".nc")
case("load_dataset-lazy", lambda: nd.load_dataset("data.nc", lazy="yes"), "lazy", "'yes'", "True or False")
case("load_dataset-decode", lambda: nd.load_dataset("data.nc", decode=None), "decode", "None", "True or False")
case("validate_dataset-type", lambda: validate_dataset([1]), "ds", "list", "xarray.Dataset")
case("stamp_provenance-experiment", lambda: stamp_provenance(_ds(), "", "m"), "experiment", "''", "non-empty")
case("stamp_provenance-model_config", lambda: stamp_provenance(_ds(), "e", "m", model_config=3), "model_config",
     "int", "dict")
case("stamp_provenance-model_config-json", lambda: stamp_provenance(_ds(), "e", "m", model_config="{bad"),
     "model_config", "{bad", "valid JSON")
case("stamp_provenance-title", lambda: stamp_provenance(_ds(), "e", "m", title=3), "title", "3", "a string")
case("stamp_provenance-ds", lambda: stamp_provenance([1], "e", "m"), "ds", "list", "xarray.Dataset")
case("stimulus_coords-n", lambda: stimulus_coords(-1), "n", "-1", "an integer >= 0")
case("ZarrStreamWriter-suffix", lambda: ZarrStreamWriter("s.nc"), "path", "s.nc", ".zarr")
case("ZarrStreamWriter-dim", lambda: ZarrStreamWriter("s.zarr", dim=""), "dim", "''", "non-empty")
case("ZarrStreamWriter-overwrite", lambda: ZarrStreamWriter("s.zarr", overwrite="False"), "overwrite", "'False'",
     "True or False")
case("to_nwb-suffix", lambda: nd.to_nwb(_record_ds(), "x.h5"), "path", "x.h5", ".nwb")
case("to_nwb-gap_s", lambda: nd.to_nwb(_record_ds(), "x.nwb", gap_s=0), "gap_s", "0", "> 0")
case("to_nwb-overwrite", lambda: nd.to_nwb(_record_ds(), "x.nwb", overwrite="no"), "overwrite", "'no'",
     "True or False")
case("to_nwb-positions", lambda: nd.to_nwb(_record_ds(), "x.nwb", positions="edge"), "positions", "edge",
     "one of")
case("to_assembly-region_map", lambda: nd.to_assembly(_record_ds(), region_map=3), "region_map", "int", "dict")
case("to_assembly-positions", lambda: nd.to_assembly(_record_ds(), {"block1": "V1"}, positions="edge"),
     "positions", "edge", "one of")
case("to_assembly-region_map-keys", lambda: nd.to_assembly(_record_ds(), {1: "V1"}), "region_map", "[1]",
     "exactly the blocks")
case("to_assembly-rec", lambda: nd.to_assembly(_ds(), {1: "V1"}), "rec", "record", "'record' dataset")

# ------------------------------------------------------------------------------------------ checkpoints
case("save_checkpoint-model", lambda: nd.save_checkpoint({"w": 1}, "m.pt"), "model", "dict", "nn.Module")
case("save_checkpoint-path", lambda: nd.save_checkpoint(_model(), None), "path", "None", "os.PathLike")
case("save_checkpoint-card", lambda: nd.save_checkpoint(_model(), "m.pt", card=[1]), "card", "list", "dict")
case("save_checkpoint-card-nan", lambda: nd.save_checkpoint(_model(), "m.pt", card={"loss": NAN}), "card",
     "not JSON compliant", "finite numbers")
case("load_checkpoint-builder", lambda: nd.load_checkpoint("m.pt", builder=3), "builder", "int", "callable")
case("load_checkpoint-path", lambda: nd.load_checkpoint(3.5), "path", "3.5", "os.PathLike")
case("save_training_state-epoch", lambda: save_training_state("s.pt", model=_model(), epoch=-1), "epoch", "-1",
     ">= 0")
case("save_training_state-optimizer", lambda: save_training_state("s.pt", model=_model(), epoch=0, optimizer=3),
     "optimizer", "int", "state_dict")
case("load_training_state-restore_rng",
     lambda: load_training_state("s.pt", model=_model(), restore_rng="no"), "restore_rng", "'no'", "True or False")

# ------------------------------------------------------------------------------------------ data
case("load_cifar10-split", lambda: nd.load_cifar10("/nonexistent", split="val"), "split", "val", "one of")
case("load_cifar10-verify_md5", lambda: nd.load_cifar10("/nonexistent", verify_md5="yes"), "verify_md5", "'yes'",
     "True or False")
case("load_cifar10-root", lambda: nd.load_cifar10(3), "root", "3", "os.PathLike")
case("per_class_subset-n", lambda: per_class_subset(_cifar(), 0, seed=0), "n", "0", ">= 1")
case("per_class_subset-n-big", lambda: per_class_subset(_cifar(), 5, seed=0), "n", "5", "has only")
case("per_class_subset-seed", lambda: per_class_subset(_cifar(), 1, seed=-3), "seed", "-3", ">= 0")
case("per_class_subset-data", lambda: per_class_subset([1], 1, seed=0), "data", "list", "CIFAR10")
case("train_val_split-fraction", lambda: train_val_split(_cifar(), val_fraction=1.0), "val_fraction", "1.0",
     "(0, 1)")
case("train_val_split-both", lambda: train_val_split(_cifar(), val_fraction=0.5, val_per_class=1),
     "val_per_class", "1", "exactly one")
case("train_val_split-per_class", lambda: train_val_split(_cifar(), val_per_class=0), "val_per_class", "0",
     ">= 1")
case("epoch_generator-epoch", lambda: epoch_generator(0, -1), "epoch", "-1", ">= 0")
case("epoch_generator-stream", lambda: epoch_generator(0, 0, stream=""), "stream", "''", "non-empty")
case("num_batches-batch_size", lambda: num_batches(10, 0), "batch_size", "0", ">= 1")
case("num_batches-drop_last", lambda: num_batches(10, 3, drop_last="yes"), "drop_last", "'yes'", "True or False")
case("batches-start_batch", lambda: list(batches(torch.zeros(10), batch_size=3, seed=0, start_batch=9)),
     "start_batch", "9", "[0, 4]")
case("batches-start_batch-type", lambda: list(batches(torch.zeros(10), batch_size=3, seed=0, start_batch="1")),
     "start_batch", "'1'", "integer")
case("batches-shuffle", lambda: list(batches(torch.zeros(10), batch_size=3, seed=0, shuffle="no")), "shuffle",
     "'no'", "True or False")
case("random_crop_flip-padding", lambda: random_crop_flip(torch.zeros(1, 3, 8, 8), padding=-1), "padding", "-1",
     ">= 0")
case("random_crop_flip-flip", lambda: random_crop_flip(torch.zeros(1, 3, 8, 8), flip="no"), "flip", "'no'",
     "True or False")
case("random_crop_flip-images", lambda: random_crop_flip(torch.zeros(3, 8, 8)), "images", "[3, 8, 8]",
     "[B, C, H, W]")
case("crop_flip-offsets", lambda: crop_flip(torch.zeros(2, 1, 4, 4), torch.tensor([0, 9]), torch.tensor([0, 0]),
                                            torch.tensor([False, False]), padding=1), "offsets_y", "9", "[0, 2]")

# ------------------------------------------------------------------------------------------ training
SMALL = TrainConfig(batch_size=4)
case("train-resume", lambda: train(_model(), _cifar(), _cifar(), "run", SMALL, resume="yes"), "resume", "'yes'",
     "True or False")
case("train-progress", lambda: train(_model(), _cifar(), _cifar(), "run", SMALL, progress=1), "progress", "1",
     "True or False")
case("train-card", lambda: train(_model(), _cifar(), _cifar(), "run", SMALL, card=[1]), "card", "list", "dict")
case("evaluate-progress", lambda: evaluate(_model(), _cifar(), progress="no"), "progress", "'no'", "True or False")
case("evaluate-batch_size", lambda: evaluate(_model(), _cifar(), batch_size=0), "batch_size", "0", ">= 1")
case("evaluate-data", lambda: evaluate(_model(), [1]), "data", "list", "CIFAR10")
case("TrainConfig-optimizer", lambda: TrainConfig(optimizer="rmsprop"), "optimizer", "rmsprop", "one of")
case("TrainConfig-field_gain", lambda: TrainConfig(field_gain=0), "field_gain", "0", "> 0")
case("TrainConfig-milestones-bool", lambda: TrainConfig(milestones=(True, 5)), "milestones", "(True, 5)",
     "increasing positive epochs")
case("TrainConfig.scaled-epochs", lambda: TrainConfig.scaled(0), "epochs", "0", ">= 1")

# ------------------------------------------------------------------------------------------ CC-Net, ConvNet, dcn-cc
for kw, name, value, allowed in [
    ({"scale_augmentation": "yes"}, "scale_augmentation", "'yes'", "True or False"),
    ({"seed": 2**31}, "seed", "2147483648", "[0, 2147483647]"),
    ({"fc": (0,)}, "fc", "(0,)", "integer widths >= 1"),
    ({"target_scale": 0}, "target_scale", "0", "> 0"),
    ({"scale_std": -1.0}, "scale_std", "-1.0", ">= 0"),
    ({"max_denominator": 0}, "max_denominator", "0", ">= 1"),
    ({"input_size": 2.5}, "input_size", "2.5", "integer >= 1"),
]:
    case(f"ccnet-{name}={value}", lambda kw=kw: nd.build_model("ccnet", **kw), name, value, allowed)
case("convnet-seed", lambda: nd.build_model("convnet", seed=-1), "seed", "-1", ">= 0")
case("sample_scales-layers", lambda: sample_scales(layers=1), "layers", "1", ">= 2")
case("sample_scales-target", lambda: sample_scales(target=INF), "target", "inf", "finite")
case("dcn-cc-cc_support", lambda: nd.build_model("dcn-cc", cc_support=NAN), "cc_support", "nan", "finite")
case("dcn-cc-cc_padding", lambda: nd.build_model("dcn-cc", cc_padding="wrap"), "cc_padding", "wrap", "one of")
case("dcn-cc-scales", lambda: nd.build_model("dcn-cc", scales=[]), "scales", "[]", "non-empty")

# ------------------------------------------------------------------------------------------ nn helpers
case("features-upto", lambda: _model().features(_images(), upto=5), "upto", "5", "[0, 2]")
case("ODEBlock-func", lambda: nd.ODEBlock(3), "func", "int", "nn.Module")
case("ODEBlock-cache_kernels", lambda: nd.ODEBlock(torch.nn.Identity(), cache_kernels=1), "cache_kernels", "1",
     "True or False")
case("ODEBlock-T", lambda: nd.ODEBlock(torch.nn.Identity(), solver=EULER)(torch.zeros(1, 1, 2, 2), T=0), "T", "0",
     "> 0")
case("ODEFunc-conv", lambda: ODEFunc(4, conv="fft"), "conv", "fft", "one of")
case("SolverConfig-from_dict-type", lambda: nd.SolverConfig.from_dict([1]), "solver config", "list", "dict")
case("regularised-kinetic", lambda: regularised(_model(), kinetic="yes").__enter__(), "kinetic", "'yes'",
     "True or False")
case("regularised-generator", lambda: regularised(_model(), generator=3).__enter__(), "generator", "int",
     "torch.Generator")
case("build_reconstruction-freeze_encoder",
     lambda: build_reconstruction("dcn-ode", freeze_encoder="no", width=4), "freeze_encoder", "'no'",
     "True or False")
case("build_reconstruction-encoder", lambda: build_reconstruction("resnet"), "encoder", "resnet", "one of")

# ------------------------------------------------------------------------------------------ analyses
case("bandwidth-level", lambda: bandwidth([1.0, 2.0], [1.0, 0.0], level=1.5), "level", "1.5", "(0, 1)")
case("peak_location-log", lambda: peak_location([1.0, 2.0], [1.0, 0.0], log="yes"), "log", "'yes'",
     "True or False")
case("peak_location-x", lambda: peak_location([2.0, 1.0], [1.0, 0.0]), "peak_location: x", "[2.0, 1.0]",
     "strictly increasing")
case("bandwidth-response", lambda: bandwidth([1.0, 2.0], [1.0]), "the response", "shape (1,)", "2 finite values")
case("check_bootstrap-ci", lambda: check_bootstrap(10, 1.5), "ci", "1.5", "(0, 1)")
case("check_bootstrap-n_boot", lambda: check_bootstrap(-1, 0.9), "n_boot", "-1", ">= 0")
case("ridge_predictivity-n_splits", lambda: ridge_predictivity(np.zeros((4, 2)), np.zeros((4, 1)), n_splits=9),
     "n_splits", "9", "[2, 4]")
case("ridge_predictivity-pca", lambda: ridge_predictivity(np.zeros((4, 2)), np.zeros((4, 1)), n_splits=2, pca=0),
     "pca", "0", ">= 1")
for kw, name, value, allowed in [
    ({"response": "squared"}, "response", "squared", "one of"),
    ({"center": (0.0, "a")}, "center", "(0.0, 'a')", "pair (x, y) of numbers"),
    ({"orientations": [0.0, 180.0]}, "orientations", "180.0", "[0, 180)"),
    ({"phases": []}, "phases", "[]", "non-empty"),
    ({"aperture_diameters": [2.0]}, "aperture_diameters", "[2.0]", "at least 2 finite numbers"),
    ({"contrasts": ["low"]}, "contrasts", "['low']", "finite numbers"),
    ({"times": [0.0, 1.0], "fit_time": 1.5}, "fit_time", "1.5", "one of [0.0, 1.0]"),
    ({"min_response": NAN}, "min_response", "nan", "finite"),
    ({"blocks": [True]}, "blocks", "[True]", "block numbers among"),
]:
    case(f"physiology-{name}={value}", lambda kw=kw: _vc().physiology(**kw), name, value, allowed)
case("block_features-pool", lambda: block_features(_vc(), _images(), pool=0), "pool", "0", ">= 1")
case("mask_slices-n", lambda: mask_slices(8, 8, -1), "n", "-1", ">= 0")
case("theoretical_rf-visual_degrees", lambda: theoretical_rf(_model(), visual_degrees=0), "visual_degrees", "0",
     "> 0")
case("solver_agreement-reference",
     lambda: solver_agreement(_model(), _images(), torch.zeros(2, dtype=torch.long), reference="rk45"),
     "reference", "rk45", "one of")
case("solver_agreement-progress",
     lambda: solver_agreement(_model(), _images(), torch.zeros(2, dtype=torch.long), progress="no"),
     "progress", "'no'", "True or False")

# ------------------------------------------------------------------------------------------ paper, demo, command line
case("fig4-settings-quick", lambda: fig4_pattern_completion.settings(quick="yes"), "quick", "'yes'",
     "True or False")
case("fig4-run-num_times", lambda: fig4_pattern_completion.run(num_times=1), "num_times", "1", ">= 2")
case("fig5-settings-quick", lambda: fig5_contrast.settings(quick=1), "quick", "1", "True or False")
case("fig3-run-quick", lambda: fig3_sigma.run(quick="no"), "quick", "'no'", "True or False")
case("table1-run-quick", lambda: table1_parameters.run(quick=None), "quick", "None", "True or False")
case("solver_faithfulness-num_images", lambda: solver_faithfulness.run(data="cifar", num_images=0), "num_images",
     "0", ">= 1")
case("solver_faithfulness-converged_images", lambda: solver_faithfulness.run(data="cifar", converged_images=-1),
     "converged_images", "-1", ">= 0")
case("load_cortex-checkpoint", lambda: load_cortex(3), "checkpoint", "int", "os.PathLike")
case("Outputs-out", lambda: Outputs(3, "x"), "out", "3", "os.PathLike")
case("run_demo-progress", lambda: run_demo(progress="no"), "progress", "'no'", "True or False")
case("register_command-add_arguments", lambda: register_command("x", "h", 3, lambda a: 0), "add_arguments", "int",
     "callable")
case("register_command-replace", lambda: register_command("x", "h", print, print, replace="yes"), "replace",
     "'yes'", "True or False")
case("check_destination-overwrite", lambda: check_destination("x.nc", overwrite="no"), "overwrite", "'no'",
     "True or False")
case("load_stimuli-num_images", lambda: nd.load_stimuli("cifar10-demo", num_images=0), "num_images", "0", ">= 1")

# ------------------------------------------------------------------------------------------ data, biology, NWB fields
case("load_cowley2023_v4-session", lambda: load_cowley2023_v4("s9"), "session", "s9", "one of")
case("bundled_dir-kind", lambda: bundled_dir("weights"), "kind", "weights", "one of")
case("prf_size-source", lambda: prf_size(1.0, source="dumoulin"), "source", "dumoulin", "one of")
case("reference_histogram-property_name", lambda: reference_histogram("orientation"), "property_name",
     "orientation", "one of")
case("score_property-ci", lambda: score_property([1.0, 2.0], "peak_spatial_frequency", ci=1.5), "ci", "1.5",
     "in (0, 1)")
case("to_nwb-session_description", lambda: nd.to_nwb(_record_ds(), "x.nwb", session_description=""),
     "session_description", "''", "non-empty string")
case("to_nwb-nwbfile_fields", lambda: nd.to_nwb(_record_ds(), "x.nwb", nwbfile_fields=[1]), "nwbfile_fields", "list",
     "None or a dict")
case("ODEBlock-trajectory-times",
     lambda: nd.ODEBlock(torch.nn.Identity(), solver=EULER).trajectory(torch.zeros(1, 1, 2, 2), [1.0, 0.5]), "times",
     "[1.0, 0.5]", "strictly increasing 1-D sequence of finite numbers >= 0")
case("load_stimuli-source", lambda: nd.load_stimuli(3), "source", "3", "os.PathLike")
case("save_training_state-model", lambda: save_training_state("s.pt", model={"w": 1}, epoch=0), "model", "dict",
     "nn.Module")


def _assert_clear(err: BaseException, name: str, value: str, allowed: str) -> None:
    text = str(err)
    assert isinstance(err, ValueError | TypeError), f"{type(err).__name__}: {text}"
    assert name in text, f"argument {name!r} not named in: {text}"
    assert value in text, f"value {value!r} not shown in: {text}"
    assert allowed in text, f"what is allowed ({allowed!r}) not said in: {text}"


@pytest.mark.parametrize("call, name, value, allowed", CASES)
def test_bad_input_gets_a_clear_error(call, name, value, allowed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths of the cases land here, if anything were written
    with pytest.raises(Exception) as info:
        call()
    _assert_clear(info.value, name, value, allowed)
    assert list(tmp_path.iterdir()) == [], "a rejected call left files behind"


def test_there_are_at_least_150_distinct_cases():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 150, len(ids)


def test_the_readme_table_counts_these_cases():
    text = (Path(__file__).parents[1] / "README.md").read_text()
    section = text[text.index("## Reliability"):text.index("## Tests")]
    rows = re.findall(r"^\| [^|]+ \| (\d+) \|", section, flags=re.M)
    total = int(re.search(r"tries (\d+) bad inputs", section).group(1))
    assert total == sum(map(int, rows)) == len(CASES), (total, sum(map(int, rows)), len(CASES))

def test_wrong_kinds_are_both_type_and_value_errors():
    with pytest.raises(ArgumentTypeError) as info:
        nd.save_dataset(_ds(), "x.nc", overwrite="no")
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
