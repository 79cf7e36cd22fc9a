"""A CC layer trained at one scale resizes at others (CC paper Sec. 6, "Verifying scale generalization", Fig. 7).

One CC layer (Internal-Net K_theta, grid variant, 1 -> 1 channel) is trained to imitate bicubic resizing
(neurodcn.resize, Keys a = -0.5, no antialiasing: its kernel k(dy) k(dx) in input pixels is the same at every
scale, so one learned kernel can serve them all) of one image at (a) one random scale pair (s_y, s_x) in
[0.3, 1.3] and (b) s = 1/2 on both axes, where every grid point lies half-way between pixels (Eq. 2) and the
kernel is only ever seen at the offsets +-0.5, +-1.5. Each trained layer is then applied at 100 other random
scale pairs and compared with bicubic resizing at those scales (MSE, intensities in [0, 1]). The learned kernels
are sampled densely beside the true one. The image is the grey `camera` photograph (--image noise: white noise).

Writes <out>/cc_scale_generalisation.nc and .png.

    python analyses/cc_scale_generalisation.py [--quick] [--seed 0] [--out results/cc_scale_generalisation]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from matplotlib.figure import Figure

import neurodcn as nd
from neurodcn.analysis.plots import save_figure
from neurodcn.progress import tqdm
from neurodcn.schema import stamp_provenance

try:
    from analyses.cc_kernels import SCALE_RANGE, cubic_kernel, fit_resizer, masked_kernel, resizer, test_image
except ImportError:  # run as a script: analyses/ itself is on sys.path
    from cc_kernels import SCALE_RANGE, cubic_kernel, fit_resizer, masked_kernel, resizer, test_image

__all__ = ["random_scales", "test_mse", "run", "main"]


def random_scales(n: int, seed: int, low: float = SCALE_RANGE[0], high: float = SCALE_RANGE[1]) -> np.ndarray:
    """n scale pairs (s_y, s_x), uniform in [low, high) per axis, from a generator seeded by seed: [n, 2]."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    g = torch.Generator().manual_seed(seed)
    return torch.empty(n, 2, dtype=torch.float64).uniform_(low, high, generator=g).numpy()


def test_mse(layer, image: torch.Tensor, target_fn, scales: np.ndarray, progress: bool = False) -> np.ndarray:
    """MSE between layer(image, s) and target_fn(image, s) for each scale pair s in scales [n, 2]: [n]."""
    out = np.empty(len(scales))
    with torch.no_grad():
        for i, s in enumerate(tqdm(scales, disable=not progress, desc="test scales", leave=False)):
            s = (float(s[0]), float(s[1]))
            target = target_fn(image, s)
            out[i] = float(torch.mean((layer(image, scale=s, out_size=target.shape[-2:]) - target) ** 2))
    return out


def run(out="results/cc_scale_generalisation", quick: bool = False, seed: int = 0, steps: int | None = None,
        image_size: int | None = None, n_test: int | None = None, image: str = "camera",
        progress: bool = True) -> xr.Dataset:
    """Train at a random scale and at 1/2, test at n_test random scales; write .nc + .png to out.

    steps, image_size (px), n_test default to 3000, 64, 100 (quick: 100, 32, 20); image: "camera" (the paper's
    setting: one natural image) or "noise" (white noise, which constrains every part of the kernel alike)."""
    steps = steps or (100 if quick else 3000)
    image_size = image_size or (32 if quick else 64)
    n_test = n_test or (20 if quick else 100)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    picture = test_image(image_size, image, seed)
    target_fn, _, support = resizer("cubic")
    trainings = ("random", "half")
    train_scales = np.stack([random_scales(1, seed)[0], np.array([0.5, 0.5])])
    tests = random_scales(n_test, seed + 1)
    n_k = 50 if quick else 100
    mse, untrained, final = np.empty((2, n_test)), np.empty((2, n_test)), np.empty(2)
    curves, kernels = np.empty((2, steps)), np.empty((2, n_k, n_k))
    for t in range(2):
        s = (float(train_scales[t, 0]), float(train_scales[t, 1]))
        layer, curves[t], snaps = fit_resizer(picture, target_fn, s, support, steps, seed=seed, snapshot_at=(0,),
                                              progress=progress)
        final[t] = test_mse(layer, picture, target_fn, train_scales[t:t + 1])[0]
        mse[t] = test_mse(layer, picture, target_fn, tests, progress)
        start = nd.ContinuousConv2d(1, 1, kernel=snaps[0], padding="symmetric", bias=False)
        untrained[t] = test_mse(start, picture, target_fn, tests)
        kernels[t] = masked_kernel(layer.kernel, support, n_k, (support, support))
    d = np.linspace(-support / 2, support / 2, n_k)
    one = {"units": "1"}
    ds = xr.Dataset(
        {
            "test_mse": (("training", "test"), mse,
                         dict(one, long_name="MSE of the trained CC layer vs bicubic resizing at the test scale")),
            "untrained_test_mse": (("training", "test"), untrained,
                                   dict(one, long_name="MSE of the same layer before training, at the test scale")),
            "train_mse": (("training",), final, dict(one, long_name="MSE at the training scale after training")),
            "untrained_train_mse": (("training",), curves[:, 0],
                                    dict(one, long_name="MSE at the training scale before training")),
            "median_test_mse": (("training",), np.median(mse, axis=1),
                                dict(one, long_name="median over test scales of test_mse")),
            "train_curve": (("training", "step"), curves, dict(one, long_name="training MSE before each step")),
            "train_scale_y": (("training",), train_scales[:, 0], dict(one, long_name="training scale, rows")),
            "train_scale_x": (("training",), train_scales[:, 1], dict(one, long_name="training scale, columns")),
            "kernel_learned": (("training", "dy", "dx"), kernels, dict(one, long_name="learned kernel K_theta")),
            "kernel_truth": (("dy", "dx"), cubic_kernel(torch.from_numpy(d)[:, None], torch.from_numpy(d)).numpy(),
                             dict(one, long_name="bicubic kernel k(dy) k(dx), Keys a = -0.5")),
        },
        coords={
            "training": ("training", list(trainings),
                         dict(one, long_name="training scale: one random pair, or 1/2 on both axes")),
            "test": ("test", np.arange(n_test), dict(one, long_name="test scale index")),
            "test_scale_y": ("test", tests[:, 0], dict(one, long_name="test scale, rows")),
            "test_scale_x": ("test", tests[:, 1], dict(one, long_name="test scale, columns")),
            "step": ("step", np.arange(steps), dict(one, long_name="training step")),
            "dy": ("dy", d, {"long_name": "offset of the input pixel from the sampling point, rows", "units": "px"}),
            "dx": ("dx", d, {"long_name": "offset of the input pixel from the sampling point, columns",
                             "units": "px"}),
        },
    )
    ds = stamp_provenance(ds, "cc_scale_generalisation", "ContinuousConv2d(internal_net, grid variant)",
                          model_config={"kernel": "internal_net", "variant": "grid", "hidden": [16, 16],
                                        "support": support, "padding": "symmetric"},
                          title="Scale generalisation of a CC layer (CC paper Fig. 7)")
    described = "skimage camera (grey)" if image == "camera" else "white noise, uniform in [0, 1]"
    ds.attrs.update(quick=int(quick), seed=seed, steps=steps, image=described,
                    image_size_px=image_size, optimiser="Adam lr 1e-2, cosine decay to 1e-4",
                    resizer="neurodcn.resize kernel='cubic' (a = -0.5), antialias=False, padding='symmetric'",
                    scale_range=list(SCALE_RANGE))
    nd.save_dataset(ds, out / "cc_scale_generalisation.nc", overwrite=True)
    save_figure(plot(ds), out / "cc_scale_generalisation.png")
    return ds


def plot(ds: xr.Dataset) -> Figure:
    """Test MSE per test scale (with the training MSE as a line) for both trainings, and the kernels."""
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 4)
    colours = ("C0", "C3")
    for t in range(ds.sizes["training"]):
        sy, sx = float(ds.train_scale_y[t]), float(ds.train_scale_x[t])
        axes[0].semilogy(ds["test"], ds["test_mse"].values[t], "o", ms=3, color=colours[t],
                         label=f"trained at {sy:.3f} x {sx:.3f}")
        axes[0].axhline(float(ds.train_mse[t]), color=colours[t], lw=1, ls="--")
    axes[0].set_xlabel("test scale (index)")
    axes[0].set_ylabel("MSE (1)")
    axes[0].set_title("test MSE (dots), train MSE (dashed)", fontsize=9)
    axes[0].legend(fontsize=7)
    ext = [float(ds.dx[0]), float(ds.dx[-1]), float(ds.dy[-1]), float(ds.dy[0])]
    panels = [("bicubic kernel (truth)", ds["kernel_truth"].values)] + \
        [(f"learned, trained at {n}", ds["kernel_learned"].values[t]) for t, n in enumerate(ds["training"].values)]
    lim = float(np.nanmax(np.abs(ds["kernel_truth"].values)))
    for ax, (title, img) in zip(axes[1:], panels, strict=True):
        ax.imshow(img, extent=ext, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("dx (px)")
        ax.set_ylabel("dy (px)")
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small image, few steps, 20 test scales")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/cc_scale_generalisation")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--image", choices=("camera", "noise"), default="camera")
    args = parser.parse_args(argv)
    ds = run(args.out, quick=args.quick, seed=args.seed, steps=args.steps, image=args.image)
    for t, name in enumerate(ds["training"].values):
        print(f"trained at {name} ({float(ds.train_scale_y[t]):.3f} x {float(ds.train_scale_x[t]):.3f}): "
              f"train MSE {float(ds.untrained_train_mse[t]):.3g} -> {float(ds.train_mse[t]):.3g}; test MSE median "
              f"{float(ds.median_test_mse[t]):.3g} (range {float(ds.test_mse[t].min()):.3g} .. "
              f"{float(ds.test_mse[t].max()):.3g}) over {ds.sizes['test']} scales")
    print(f"wrote {Path(args.out) / 'cc_scale_generalisation.nc'} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
