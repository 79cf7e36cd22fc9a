"""Continuous kernels seen densely (CC paper Sec. 6, Fig. 3), and the N-jet basis a dcn-cc layer samples.

A CC layer (Internal-Net K_theta, 1 -> 1 channel) is trained on one image to imitate a known resizer at one
random scale pair (s_y, s_x) in [0.3, 1.3], as in the paper: (i) bicubic interpolation (Keys, a = -0.5, via
neurodcn.resize without antialiasing, so that its kernel k(dy) k(dx) in input pixels is the same at every scale)
and (ii) resizing by a Gaussian with sigma (0.6, 1.2) px rotated by 45 degrees. Then K_theta and the ground truth
are sampled on a dense grid of sub-pixel offsets (200 x 200; 60 x 60 with --quick) at a few training iterations.
The six N-jet basis functions (order 2, sigma = 1 px) are sampled on the same kind of grid.

The training image is white noise: a natural image's spectrum falls as 1/f, so the kernel's fine structure
barely changes the output and is left almost unconstrained; white noise weighs every part of the kernel alike
(its MSE is the squared kernel error summed over the taps), so the recovered kernel is the resizer's own.

Writes <out>/cc_kernels.nc and <out>/cc_kernels.png. Offsets are input pixel minus sampling point (pixels).

    python analyses/cc_kernels.py [--quick] [--seed 0] [--out results/cc_kernels]
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from matplotlib.figure import Figure

import neurodcn as nd
from neurodcn.analysis.plots import save_figure
from neurodcn.nn.kernels import ContinuousKernel, NJetKernel, basis_indices
from neurodcn.nn.resize import cubic
from neurodcn.progress import trange
from neurodcn.schema import stamp_provenance

__all__ = ["GaussianKernel", "cubic_kernel", "sample_kernel", "masked_kernel", "test_image", "resizer",
           "fit_resizer", "run", "main", "SCALE_RANGE"]

SCALE_RANGE = (0.3, 1.3)
"""Training scales are drawn uniformly from this range, per axis (the paper's [0.3, .., 1.3])."""


class GaussianKernel(ContinuousKernel):
    """A fixed (not learned) 1 -> 1 channel Gaussian kernel K(d) = exp(-d^T C^-1 d / 2) on the open support
    |dy| < S_y / 2, |dx| < S_x / 2 (zero elsewhere), C with standard deviations ``sigma`` = (major, minor) px
    along axes rotated by ``angle`` degrees from the rows axis.

    normalize: "analytic" divides by 2 pi sqrt(det C) (a continuous density); "window" makes the taps of each
    sampling point's window sum to 1 (an interpolating resizer that keeps constants constant).
    """

    def __init__(self, sigma=(1.0, 1.0), angle: float = 0.0, support=4, normalize: str = "analytic"):
        super().__init__(1, 1, support)
        s = tuple(float(v) for v in (sigma if isinstance(sigma, (tuple, list)) else (sigma, sigma)))
        if len(s) != 2 or not all(math.isfinite(v) and v > 0 for v in s):
            raise ValueError(f"sigma must be a number or a pair of numbers > 0 (pixels), got {sigma!r}")
        if not isinstance(angle, (int, float)) or not math.isfinite(angle):
            raise ValueError(f"angle must be a finite number (degrees), got {angle!r}")
        if normalize not in ("analytic", "window"):
            raise ValueError(f"normalize must be 'analytic' or 'window', got {normalize!r}")
        a = math.radians(angle)
        rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
        cov = rot @ torch.diag(torch.tensor(s, dtype=torch.float64) ** 2) @ rot.T
        self.register_buffer("precision", torch.linalg.inv(cov))
        self.norm = 1.0 / (2 * math.pi * s[0] * s[1])
        self.sigma, self.angle, self.normalize = s, float(angle), normalize

    def forward(self, dy, dx):
        dy, dx = torch.broadcast_tensors(dy, dx)
        p = self.precision.to(dy.dtype)
        q = p[0, 0] * dy * dy + 2 * p[0, 1] * dy * dx + p[1, 1] * dx * dx
        inside = (dy.abs() < self.support[0] / 2) & (dx.abs() < self.support[1] / 2)
        return (torch.exp(-q / 2) * inside * self.norm)[..., None, None]

    def window(self, dy, dx):
        w = super().window(dy, dx)
        if self.normalize == "window":
            w = w / w.sum(dim=(-4, -3), keepdim=True)
        return w

    def extra_repr(self) -> str:
        return super().extra_repr() + f", sigma={self.sigma}, angle={self.angle:g}, normalize={self.normalize!r}"


def cubic_kernel(dy: torch.Tensor, dx: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """The 2-D kernel of bicubic interpolation, k(dy) k(dx) (Keys, parameter a); support 4 px per axis."""
    return cubic(dy, a) * cubic(dx, a)


def sample_kernel(kernel, extent, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A 1 -> 1 kernel (ContinuousKernel or function of (dy, dx)) on an n x n grid of offsets spanning
    [-extent/2, extent/2] px per axis: returns (offsets [n] px, values [n, n] with rows dy, columns dx)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    d = torch.linspace(-extent / 2, extent / 2, n, dtype=torch.float64)
    with torch.no_grad():
        if isinstance(kernel, ContinuousKernel):
            param = next(kernel.parameters(), None)
            dtype = param.dtype if param is not None else torch.float64
            values = kernel(d[:, None].to(dtype), d[None, :].to(dtype))[..., 0, 0]
        else:
            values = kernel(d[:, None], d[None, :])
    return d.numpy(), values.double().numpy()


def test_image(size: int, kind: str = "camera", seed: int = 0) -> torch.Tensor:
    """A grey test image in [0, 1], float32 [1, 1, size, size]: "camera" is scikit-image's photograph (public
    domain) shrunk to size x size px (antialiased cubic, neurodcn.resize); "noise" is white noise, uniform in
    [0, 1], from a generator seeded by seed."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8 (pixels), got {size!r}")
    if kind == "noise":
        return torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed))
    if kind != "camera":
        raise ValueError(f"kind must be 'camera' or 'noise', got {kind!r}")
    from skimage import data

    img = torch.from_numpy(data.camera().astype(np.float32) / 255.0)[None, None]
    return nd.resize(img, out_size=size, kernel="cubic").clamp(0, 1)


def resizer(name: str):
    """(resize function f(image [B, 1, H, W], (s_y, s_x)) -> image, ground-truth kernel, support px) for "cubic"
    or "gaussian" (sigma (0.6, 1.2) px at 45 degrees, support 6, analytic normalisation)."""
    if name == "cubic":
        return (lambda x, s: nd.resize(x, scale=s, kernel="cubic", antialias=False, padding="symmetric"),
                cubic_kernel, 4.0)
    if name == "gaussian":
        gauss = GaussianKernel((0.6, 1.2), angle=45.0, support=6, normalize="analytic")
        layer = nd.ContinuousConv2d(1, 1, kernel=gauss, padding="symmetric", bias=False).double()
        return (lambda x, s: layer(x.double(), scale=s).to(x.dtype)), gauss, 6.0
    raise ValueError(f"resizer name must be 'cubic' or 'gaussian', got {name!r}")


def fit_resizer(image: torch.Tensor, target_fn, scale, support: float, steps: int = 1000, lr: float = 1e-2,
                seed: int = 0, snapshot_at=(), variant: str = "grid", progress: bool = False):
    """Train a CC layer (Internal-Net, 1 -> 1, symmetric padding, no bias) so that layer(image, scale) matches
    target_fn(image, scale), by Adam (learning rate lr, cosine decay to lr / 100) on the mean squared error.

    Returns (layer, losses [steps] (MSE before each step), snapshots {iteration: deep copy of the kernel}).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nd.ContinuousConv2d(1, 1, kernel="internal_net", support=support, padding="symmetric", bias=False,
                                   kernel_options={"variant": variant})
    with torch.no_grad():
        target = target_fn(image, scale)
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 100)
    losses, snapshots = np.empty(steps), {}

    for step in trange(steps + 1, disable=not progress, desc="fit CC layer", leave=False):
        if step in snapshot_at:
            snapshots[step] = copy.deepcopy(layer.kernel)
        if step == steps:
            break
        opt.zero_grad()
        loss = torch.mean((layer(image, scale=scale, out_size=target.shape[-2:]) - target) ** 2)
        loss.backward()
        opt.step()
        schedule.step()
        losses[step] = loss.item()
    return layer, losses, snapshots


def _draw_scales(seed: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(seed)
    lo, hi = SCALE_RANGE
    return tuple(float(v) for v in torch.empty(2, dtype=torch.float64).uniform_(lo, hi, generator=g))


def masked_kernel(kernel, extent: float, n: int, support) -> np.ndarray:
    """A kernel sampled on the common grid, NaN outside its own support (where a layer never samples it)."""
    d, values = sample_kernel(kernel, extent, n)
    sy, sx = support
    return np.where((np.abs(d)[:, None] <= sy / 2) & (np.abs(d)[None, :] <= sx / 2), values, np.nan)


def run(out="results/cc_kernels", quick: bool = False, seed: int = 0, steps: int | None = None,
        image_size: int | None = None, n: int | None = None, progress: bool = True) -> xr.Dataset:
    """Fit CC layers to the cubic and Gaussian resizers, sample the kernels densely; write .nc + .png to out.

    steps, image_size (px), n (samples per axis) default to 3000, 64, 200 (quick: 100, 32, 50).
    Returns the dataset (also written to <out>/cc_kernels.nc)."""
    steps = steps or (100 if quick else 3000)
    image_size = image_size or (32 if quick else 64)
    n = n or (50 if quick else 200)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    image = test_image(image_size, "noise", seed)
    targets, extent = ("cubic", "gaussian"), 6.0
    iterations = sorted({0, steps // 10, steps // 3, steps})
    learned = np.empty((2, len(iterations), n, n))
    truth, losses, scales = np.empty((2, n, n)), np.empty((2, steps)), np.empty((2, 2))
    rmse = np.empty((2, len(iterations)))
    for t, name in enumerate(targets):
        fn, true_kernel, support = resizer(name)
        scales[t] = _draw_scales(seed + t)
        _, losses[t], snaps = fit_resizer(image, fn, tuple(scales[t]), support, steps, seed=seed,
                                          snapshot_at=iterations, progress=progress)
        truth[t] = masked_kernel(true_kernel, extent, n, (support, support))
        for i, it in enumerate(iterations):
            learned[t, i] = masked_kernel(snaps[it], extent, n, (support, support))
            rmse[t, i] = np.sqrt(np.nanmean((learned[t, i] - truth[t]) ** 2))
    njet = NJetKernel(1, 1, support=4, order=2, normalize="analytic").double()
    pairs = basis_indices(2)
    basis = np.empty((len(pairs), n, n))
    with torch.no_grad():
        njet.log2_sigma.zero_()  # sigma = 1 px
        for f in range(len(pairs)):
            njet.alpha.zero_()
            njet.alpha[f] = 1.0
            basis[f] = masked_kernel(njet, extent, n, njet.support)
    d = np.linspace(-extent / 2, extent / 2, n)
    off = {"long_name": "offset of the input pixel from the sampling point", "units": "px"}
    ds = xr.Dataset(
        {
            "kernel_learned": (("target", "iteration", "dy", "dx"), learned,
                               {"long_name": "Internal-Net kernel K_theta (NaN outside its support)", "units": "1"}),
            "kernel_truth": (("target", "dy", "dx"), truth,
                             {"long_name": "kernel of the imitated resizer (NaN outside its support)", "units": "1"}),
            "kernel_rmse": (("target", "iteration"), rmse,
                            {"long_name": "RMS difference of learned and true kernel over the support",
                             "units": "1"}),
            "train_mse": (("target", "step"), losses,
                          {"long_name": "training MSE of the CC output vs the resizer (intensities in [0, 1])",
                           "units": "1"}),
            "train_scale_y": (("target",), scales[:, 0], {"long_name": "training scale, rows", "units": "1"}),
            "train_scale_x": (("target",), scales[:, 1], {"long_name": "training scale, columns", "units": "1"}),
            "njet_basis": (("basis", "dy", "dx"), basis,
                           {"long_name": "N-jet basis function (order 2, sigma 1 px, analytic normalisation; "
                                         "NaN outside support 4 px)", "units": "1"}),
        },
        coords={
            "target": ("target", list(targets), {"long_name": "imitated resizer", "units": "1"}),
            "iteration": ("iteration", np.array(iterations), {"long_name": "training iteration", "units": "1"}),
            "step": ("step", np.arange(steps), {"long_name": "training step", "units": "1"}),
            "dy": ("dy", d, dict(off, long_name=off["long_name"] + ", rows")),
            "dx": ("dx", d, dict(off, long_name=off["long_name"] + ", columns")),
            "basis_i": ("basis", [p[0] for p in pairs], {"long_name": "derivative order along rows", "units": "1"}),
            "basis_j": ("basis", [p[1] for p in pairs],
                        {"long_name": "derivative order along columns", "units": "1"}),
        },
    )
    ds = stamp_provenance(ds, "cc_kernels", "ContinuousConv2d(internal_net, grid variant)",
                          model_config={"kernel": "internal_net", "variant": "grid", "hidden": [16, 16],
                                        "padding": "symmetric"},
                          title="Continuous kernels sampled densely (CC paper Fig. 3)")
    ds.attrs.update(quick=int(quick), seed=seed, steps=steps, image="white noise, uniform in [0, 1]",
                    image_size_px=image_size,
                    optimiser="Adam lr 1e-2, cosine decay to 1e-4",
                    cubic="Keys a = -0.5, no antialiasing, symmetric padding",
                    gaussian="sigma (0.6, 1.2) px rotated 45 deg, support 6 px, analytic normalisation")
    nd.save_dataset(ds, out / "cc_kernels.nc", overwrite=True)
    save_figure(plot(ds), out / "cc_kernels.png")
    return ds


def plot(ds: xr.Dataset) -> Figure:
    """Truth and K_theta at the snapshot iterations per target, the training MSE, and the N-jet basis."""
    its = ds["iteration"].values
    cols = max(len(its) + 2, ds.sizes["basis"])
    fig = Figure(figsize=(2.0 * cols, 6.2), layout="constrained")
    axes = fig.subplots(3, cols, squeeze=False)
    ext = [float(ds.dx[0]), float(ds.dx[-1]), float(ds.dy[-1]), float(ds.dy[0])]
    for t, name in enumerate(ds["target"].values):
        panels = [("truth", ds["kernel_truth"].values[t])] + \
            [(f"it {it}", ds["kernel_learned"].values[t, i]) for i, it in enumerate(its)]
        lim = np.nanmax(np.abs(ds["kernel_truth"].values[t]))
        for ax, (title, img) in zip(axes[t], panels, strict=False):
            ax.imshow(img, extent=ext, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"{name}: {title}", fontsize=8)
            ax.set_xlabel("dx (px)", fontsize=7)
            ax.set_ylabel("dy (px)", fontsize=7)
        ax = axes[t][len(panels)]
        ax.semilogy(ds["step"].values, ds["train_mse"].values[t])
        ax.set_xlabel("step", fontsize=7)
        ax.set_ylabel("training MSE (1)", fontsize=7)
        for extra in axes[t][len(panels) + 1:]:
            extra.set_axis_off()
    for f in range(cols):
        ax = axes[2][f]
        if f >= ds.sizes["basis"]:
            ax.set_axis_off()
            continue
        img = ds["njet_basis"].values[f]
        lim = np.nanmax(np.abs(img))
        ax.imshow(img, extent=ext, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"N-jet ({int(ds.basis_i[f])}, {int(ds.basis_j[f])})", fontsize=8)
        ax.set_xlabel("dx (px)", fontsize=7)
        ax.set_ylabel("dy (px)", fontsize=7)
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small image, few steps, coarse sampling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/cc_kernels")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args(argv)
    ds = run(args.out, quick=args.quick, seed=args.seed, steps=args.steps)
    for t in ds["target"].values:
        print(f"{t}: scale {float(ds.train_scale_y.sel(target=t)):.3f} x {float(ds.train_scale_x.sel(target=t)):.3f}, "
              f"final MSE {float(ds.train_mse.sel(target=t)[-1]):.3g}, kernel RMSE "
              f"{float(ds.kernel_rmse.sel(target=t)[0]):.3g} -> {float(ds.kernel_rmse.sel(target=t)[-1]):.3g}")
    print(f"wrote {Path(args.out) / 'cc_kernels.nc'} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
